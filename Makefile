# Every target creates the virtual environment and installs the package first (once).
# On a CPU machine torch 2.13 comes as the CPU build and no CUDA wheel is installed; on a GPU
# machine the same pins give torch 2.13's CUDA build.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run lint test test-fast bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[test,postgres,nir]"
	touch $@

# The main job on the embedded default: a digits study, its Pareto front and plot.
run: $(VENV)/.installed
	$(BIN)/mdsnn-search run search_spaces/digits.yaml
	$(BIN)/mdsnn-search pareto search_spaces/digits.yaml

# Formatting, lint and types (pyproject.toml's [tool.ruff] and [tool.mypy]).
lint: $(VENV)/.installed
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

# Lint, then the whole test suite, including the few tests that start a real Ray or a real
# PostgreSQL (its server comes from Debian's postgresql package; .ci/run installs it). Four
# workers on two cores: most of a study test's time is waiting (subprocesses, heartbeats, Ray
# start-up); the Ray and PostgreSQL tests run one after another on one worker. The slowest ten
# are printed at the end.
PYTEST_WORKERS ?= 4
test: lint
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup --durations=10

# Everything but the Ray and PostgreSQL end-to-end tests.
test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) -m "not ray and not postgres"

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_step.py
	$(BIN)/python benchmarks/bench_cost.py

clean:
	rm -rf $(VENV) studies/*.db studies/ray studies/teachers
