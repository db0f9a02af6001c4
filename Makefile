# Two commands: `make dev` runs the whole product offline, `make test` runs every test.
# Everything is installed into .venv from pinned files, from nothing but python3.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: dev test unit integration e2e lint fmt bench bench-files cfn-lint clean

$(STAMP): requirements/dev.txt layers/core/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements/dev.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

dev: $(STAMP)
	$(BIN)/python -m local

test: $(STAMP) cfn-lint
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

cfn-lint: $(STAMP)
	$(BIN)/cfn-lint template.yaml

lint: $(STAMP) cfn-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench.makespan $(BENCH_ARGS)

bench-files: $(STAMP)
	PYTHONPATH=layers/core:. $(BIN)/python -m bench.recipient_files $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .aws-sam .mypy_cache .ruff_cache
