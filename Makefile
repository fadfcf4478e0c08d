# Every target creates .venv when missing and installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_DEV := $(VENV)/.installed-dev
STAMP_BENCH := $(VENV)/.installed-bench
# make test: pytest-xdist workers (one per core of the 2-core CI machine); a test file's tests stay on one
# worker, so a module's shared sandbox or run is made once, in the order tests/conftest.py gives (long files first)
TEST_WORKERS ?= 2
# the tests start the CLI in a subprocess again and again: let each find the package compiled, even where the
# environment sets PYTHONDONTWRITEBYTECODE (pytest's rewritten test modules are cached the same way)
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest

.PHONY: demo test lint bench bench-quick chaos clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

$(STAMP_BENCH): pyproject.toml $(STAMP_DEV)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	touch $@

demo: $(STAMP_DEV)
	$(BIN)/migrator demo

test: $(STAMP_DEV)
	$(PYTEST) -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests

lint: $(STAMP_DEV)
	$(BIN)/ruff check migrator tests benchmarks
	$(BIN)/ruff format --check migrator tests benchmarks
	$(BIN)/mypy --strict migrator

chaos: $(STAMP_DEV)
	MIGRATOR_CHAOS_FULL=1 $(PYTEST) -q tests/chaos

# the benchmarks measure the tool as installed: its modules compiled once, not again at every process start
bench: $(STAMP_BENCH)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m benchmarks.run

bench-quick: $(STAMP_BENCH)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m benchmarks.run --quick

clean:
	rm -rf $(VENV) .migrator .pytest_cache .mypy_cache .ruff_cache
