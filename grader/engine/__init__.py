"""One submission in, one results.json out (grader side: runs as the grader, never student code).

``grade`` drives a run: ``staging`` copies the submission's files (regular
files only, links never followed, via ``files``) into a fresh package with the
template's provided modules, taking Q3-Q5 code from a notebook where needed
(``notebook``); ``rubric`` says which checks make which Gradescope test;
``plugin`` runs ``grader/checks/`` under pytest against the fixture cases
(``cases``) with the sandboxed worker; ``results`` turns the outcomes into
scores, results.json and the terminal table.  ``precheck`` adapts a run to a
student's own machine.  Nothing here imports student code or torch.
"""
