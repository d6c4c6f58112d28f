# Everything runs from a project-local virtualenv, created on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_DB ?= demo.db

.PHONY: demo test lint typecheck pytest bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(BIN)/cmrewards demo --db $(DEMO_DB)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/ruff format --check src tests examples benchmarks

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

# The storage tests run on memory, SQLite and a throwaway PostgreSQL cluster.
pytest: $(VENV)/.installed-test
	scripts/with-postgres $(BIN)/pytest -q

test: lint typecheck pytest

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@ $(VENV)/.installed-test $(VENV)/.installed

# BENCH_SCALE=0.1 make bench: every size a tenth, for a quick look (benchmarks/run.py).
bench: $(VENV)/.installed-bench
	@command -v hledger >/dev/null || { s=; [ "$$(id -u)" = 0 ] || s="sudo -n"; \
	  $$s env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hledger >/dev/null 2>&1; } \
	  || echo "make bench: could not install hledger with apt-get; its figure is skipped"
	CMREWARDS_PG_DURABLE=1 scripts/with-postgres $(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/simulate.py

# Longer runs of the crash and bad-input suites than `make test` can afford.
soak: $(VENV)/.installed-test
	CMREWARDS_SOAK_ROUNDS=200 scripts/with-postgres $(BIN)/pytest -q tests/store/test_crash_safety.py tests/store/test_postgres_crash_safety.py
	CMREWARDS_FUZZ_EXAMPLES=3000 $(BIN)/pytest -q tests/cli/test_bad_input.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis $(DEMO_DB)* statement-*.html
