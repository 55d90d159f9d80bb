"""Staff commands: regenerate the template and the example, build the bundles, regrade an export,
benchmark, run the mutant catalogue, and the warm grader (``warm``) that batch and mutants fork once
per submission.  Never shipped to students (the mutant catalogue holds
fragments of the reference solution)."""
