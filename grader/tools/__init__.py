"""Staff commands: regenerate the template and the example, build the bundles, regrade an export,
benchmark, run the mutant catalogue.  Never shipped to students (the mutant catalogue holds
fragments of the reference solution)."""
