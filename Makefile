# Two commands do the whole set-up on a fresh machine:
#   make demo   create .venv, install seqsim, run a launch that builds a backlog under
#               two step-delay designs and compare them (out/demo/: results, PNG
#               charts, report.html of each run and of the comparison; under a minute)
#   make test   create .venv, install with dev extras, ruff + the full test suite
# Versions are pinned by constraints.txt so every machine gets the tested set.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile \
          -c constraints.txt
# Bytecode for every installed module and seqsim's own, on both cores. Where
# PYTHONDONTWRITEBYTECODE is set (many CI images and containers, and the machines
# this project is built on) Python never writes it on import, and every process
# (each CLI call, test worker, shard or sweep worker) compiled some 1,100 modules
# from source: `import seqsim` took 3.0-3.3 s instead of 0.9-1.1 s. pip's own
# compile does one file at a time.
BYTECODE := $(BIN)/python -m compileall -q -j 0 $(VENV)/lib seqsim > /dev/null

.PHONY: demo test test-deep test-kill fuzz lint bench lab clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e .
	$(BYTECODE)
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e '.[dev,dask]'
	$(BYTECODE)
	touch $@ $(VENV)/.installed

# The launch of data/demo/launch.toml with days 1,3,6,9 and with days 1,2,3,4.
demo: $(VENV)/.installed
	@echo "== 1/3 A launch: 20,000 leads at once on 20 devices that may send 16,000 a day;"
	@echo "==     steps on days 1, 3, 6, 9 (data/demo/launch.toml)"
	$(BIN)/seqsim run data/demo/launch.toml --out out/demo/days_1_3_6_9 --report
	@echo "== 2/3 The same launch with the steps a day apart (days 1, 2, 3, 4)"
	$(BIN)/seqsim run data/demo/launch.toml --set 'sequences.LAUNCH.days=[1,2,3,4]' \
		--out out/demo/days_1_2_3_4 --report
	@echo "== 3/3 The two designs side by side (differences to the first)"
	$(BIN)/seqsim compare out/demo/days_1_3_6_9 out/demo/days_1_2_3_4 --out out/demo/compare
	@echo "== Open out/demo/compare/report.html: backlog, sends, lateness and completion of both"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check seqsim tests $(wildcard benchmarks)

test: lint
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# The engine property tests with a bigger hypothesis budget (tens of minutes).
test-deep: $(VENV)/.installed-dev
	SEQSIM_HYPOTHESIS_EXAMPLES=300 $(BIN)/python -m pytest -q -n auto --dist loadfile \
		--hypothesis-show-statistics tests/test_engine_batch.py tests/test_engine_row_stateful.py \
		tests/test_faults_kernel.py tests/test_shards.py

# Saves stopped by SIGKILL/SIGINT at every step and after 200 delays each (minutes),
# and 4,000 hypothesis examples of odd --out paths.
test-kill: $(VENV)/.installed-dev
	SEQSIM_KILL_INSTANTS=200 SEQSIM_FUZZ_EXAMPLES=4000 $(BIN)/python -m pytest -q -s \
		tests/test_result_kill.py tests/test_result_paths.py

# Every input surface (scenario tables and TOML, --set, CSV traces, baseline
# files) fuzzed with 4,000 hypothesis examples each (a long run: use nice).
fuzz: $(VENV)/.installed-dev
	SEQSIM_FUZZ_EXAMPLES=4000 $(BIN)/python -m pytest -q tests/test_fuzz_inputs.py

# Speed and memory against a SimPy model and the row engine (benchmarks/README.md).
bench: $(VENV)/.installed-dev
	$(PIP) -e '.[dev,dask,bench]'
	$(BYTECODE)
	$(BIN)/python benchmarks/bench.py --linearity

# Shipped scenarios against data/baselines/ (also run by `make test`, in
# tests/test_shipped_baselines.py). After a deliberate change, re-record with
# `make baselines` and review the diff of data/baselines/.
.PHONY: check baselines
check: $(VENV)/.installed
	$(BIN)/seqsim check data/scenarios
	$(BIN)/seqsim check data/scenarios/policies
	$(BIN)/seqsim check data/scenarios/faults

baselines: $(VENV)/.installed
	$(BIN)/seqsim check data/scenarios --update
	$(BIN)/seqsim check data/scenarios/policies --update
	$(BIN)/seqsim check data/scenarios/faults --update

lab: $(VENV)/.installed-dev
	$(PIP) -e '.[dev,dask,lab]'
	$(BYTECODE)
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .hypothesis
