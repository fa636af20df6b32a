# dockhand: the two commands are `make run` and `make test`; both install what they need.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 3000
export TF_CLI_CONFIG_FILE := /dev/null

.PHONY: help install run test test-unit test-e2e lint fmt invoke package check-infra bench clean

help:
	@echo "make run      serve the whole API on http://127.0.0.1:$(PORT) (in-memory AWS emulator)"
	@echo "make test     install and run the whole test suite"
	@echo "make invoke FN=<function> EVENT=<file.json>   run one handler on one event"
	@echo "make lint | fmt | package | check-infra | bench"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "dockhand needs Python 3.11+")'
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "Installing dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt 2>&1 | grep -v "^WARNING: Location" || true
	@$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e . 2>&1 | grep -v "^WARNING: Location" || true
	@$(BIN)/python -c "import moto, aws_lambda_powertools, pydantic, bcrypt, hcl2" # fail loudly if an install failed
	@touch $(STAMP)

install: $(STAMP)

run: install
	@PORT=$(PORT) $(BIN)/python -m tools.gateway

test: install
	$(BIN)/python -m pytest --cov --cov-report=term

test-unit: install
	$(BIN)/python -m pytest tests/unit

test-e2e: install
	$(BIN)/python -m pytest tests/e2e

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

invoke: install
	@test -n "$(FN)" || (echo "usage: make invoke FN=<function> EVENT=<file.json>"; exit 2)
	@$(BIN)/python -m tools.invoke "$(FN)" $(if $(EVENT),"$(EVENT)",)

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .coverage
