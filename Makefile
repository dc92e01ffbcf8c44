# Two commands for a newcomer: `make demo` and `make test`. Everything else is here for engineers.
# All state (venv, Airflow home, sandboxes, staging) stays inside the checkout and is git-ignored.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint format airflow bench bench-slow chaos clean

install: $(STAMP)

# Reinstalls only when a requirements file or pyproject.toml changed (a no-op otherwise).
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check uv
	@$(VENV)/bin/uv pip install --quiet --python $(PY) -r requirements.txt -r requirements-dev.txt -e .
	@touch $(STAMP)
	@echo "installed into $(VENV)"

demo: install
	@$(PY) -m include.demo run

# Two pytest-xdist workers by default (CI has two cores); each module stays on one worker so a
# module's one expensive DAG story runs once. `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= 2
test: install
	@$(PY) -m pytest -m "not slow and not chaos" $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadscope) $(PYTEST_ARGS)

lint: install
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

format: install
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .

# The UI on http://localhost:$(PORT) (`make airflow PORT=8090` picks another port). Needs nothing
# activated; Ctrl-C or SIGTERM stops the sandboxes and every Airflow process it started.
PORT ?= 8080
airflow: install
	@$(PY) -m include.demo airflow --port $(PORT)

# `make bench` measures every flow at 10,000 and 100,000 invoices (hours: run it on a quiet machine);
# `make bench SCALE=2000` is a quick look. Results go to BENCHMARKS.md and benchmarks.json (bench/).
# BENCH_ARGS passes more options, e.g. BENCH_ARGS="--runs 5 --qbo-latency-ms 150 --baseline-records 200".
SCALE ?= 10000 100000
bench: install
	@for scale in $(SCALE); do $(PY) -m bench --scale $$scale $(BENCH_ARGS) || exit 1; done

# The slow tests: budgets of single steps at large scales (seeding 100,000 invoices, GE on 10,000 rows).
bench-slow: install
	@$(PY) -m pytest -m slow -q -s $(PYTEST_ARGS)

# The reliability suite over real DAG runs: faults at 5/10/20% of calls, SIGKILLs in the load and before
# the ledger write, a scan for seeded secrets, then the corpus/security suites in full (pytest, chaos-marked
# tests included); writes RELIABILITY.md and reliability.json (bench/chaos).
# Flows run side by side (2 jobs); CHAOS_ARGS passes more, e.g. CHAOS_ARGS="--kills 5 --rates 0.2".
chaos: install
	@$(PY) -m bench.chaos --jobs 2 $(CHAOS_ARGS)

clean:
	rm -rf .airflow .run .bench .chaos
