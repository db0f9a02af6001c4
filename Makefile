# Two commands: `make dev` runs the whole product offline, `make test` runs every test.
# Everything is installed into .venv from pinned files, from nothing but python3.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: dev build test unit integration e2e lint fmt bench bench-files cfn-lint checkov clean

$(STAMP): requirements/dev.txt layers/core/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements/dev.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

dev: $(STAMP)
	$(BIN)/python -m local

# SAM CLI pins click, boto3 and (through aws-sam-translator) pydantic below requirements/dev.txt,
# so it gets a venv of its own, inside .venv: ignored by git and removed by `make clean` with it.
SAM_VENV := $(VENV)/sam
SAM_STAMP := $(SAM_VENV)/.installed
SAM_BUILD_ARGS ?=

$(SAM_STAMP): requirements/sam.txt
	test -x $(SAM_VENV)/bin/python || $(PY) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements/sam.txt
	touch $(SAM_STAMP)

# layers/core/Makefile runs `python3 -m pip`: the SAM venv's, put first on PATH.
build: $(SAM_STAMP)
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" $(SAM_VENV)/bin/sam build $(SAM_BUILD_ARGS)

test: $(STAMP) $(SAM_STAMP) cfn-lint checkov
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

# checkov pins its own boto3, packaging and networkx (older than ours), so it gets a venv of its
# own from its own pinned file, inside .venv like SAM's: ignored by git, removed by `make clean`.
# Zero failed checks: each check the template does not meet is skipped on its resource with the
# reason (Metadata: checkov: skip).
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): requirements/checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PY) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements/checkov.txt
	touch $(CHECKOV_STAMP)

checkov: $(CHECKOV_STAMP)
	CKV_SKIP_PACKAGE_UPDATE_CHECK=true $(CHECKOV_VENV)/bin/checkov -f template.yaml \
		--framework cloudformation --skip-download --compact --quiet

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
