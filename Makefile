# One command each on a fresh machine: every target sets up .venv/ first if needed.
PY         := .venv/bin/python
SUBMISSION ?= examples/buggy_submission
RUBRIC     ?= cs182_hw2
RESULTS    ?= results.json
JOBS       ?= 2

.PHONY: env grade test bench template fixtures autograder precheck mutants clean

env: .venv/.requirements.sha256

.venv/.requirements.sha256: requirements.txt requirements-dev.txt requirements-tensorflow.txt setup.sh
	./setup.sh

grade: env
	$(PY) -m grader grade "$(SUBMISSION)" --rubric $(RUBRIC) --results "$(RESULTS)"

# worksteal: a few tests take 20-45 s (a whole grade in a 0.5-CPU container); an idle process takes queued tests
# from the busy one instead of the run ending on one long queue
test: env
	$(PY) -m pytest tests -n $(JOBS) --dist worksteal -q -rP

bench: env
	$(PY) -m grader.tools.bench

template: env
	$(PY) -m grader template

fixtures: env
	$(PY) -m grader fixtures

autograder: env
	$(PY) -m grader bundle gradescope

precheck: env
	$(PY) -m grader bundle precheck

mutants: env
	$(PY) -m grader mutants

clean:
	rm -rf dist build .pytest_cache results.json
