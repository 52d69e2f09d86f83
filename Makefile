# Two commands do the whole set-up on a fresh machine:
#   make demo   create .venv, install seqsim, run the baseline scenario
#   make test   create .venv, install with dev extras, ruff + the full test suite
# Versions are pinned by constraints.txt so every machine gets the tested set.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo test lint bench lab clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/seqsim run data/scenarios/baseline.toml --out out/demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check seqsim tests $(wildcard benchmarks)

test: lint
	$(BIN)/python -m pytest -q

lab: $(VENV)/.installed-dev
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .hypothesis
