# dockhand: the two commands are `make run` and `make test`; both install what they need.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 3000
export TF_CLI_CONFIG_FILE := /dev/null

.PHONY: help install install-run run test test-unit test-e2e lint fmt invoke package check-infra check-deploy bench clean dashboard openapi fuzz load browser-deps

help:
	@echo "make run      serve the whole API on http://127.0.0.1:$(PORT) (in-memory AWS emulator)"
	@echo "make test     install and run the whole test suite"
	@echo "make invoke FN=<function> EVENT=<file.json>   run one handler on one event"
	@echo "make lint | fmt | package | check-infra | check-deploy | bench [QUICK=1] [ONLY=cold_start|first_response] | dashboard"
	@echo "make openapi | fuzz (schemathesis vs the local gateway) | load (bounded local load run)"

# pip's output as a short progress display: a count of the packages fetched (one line,
# redrawn on a terminal), then one summary line; errors as they come.  Without it pip
# prints ~110 lines and one very long "Successfully installed" line.
PIP_PROGRESS := awk -v tty="$$tty" ' \
  /^(Collecting|Processing)/ { n++; if (tty) { printf "\r  %d packages fetched ...", n; fflush() } } \
  /^Requirement already satisfied/ { have++ } \
  /^Successfully installed/ { installed = NF - 2 } \
  /^ERROR|^error:/ { if (tty && n) printf "\n"; print; failed = 1; fflush() } \
  END { if (tty && n && !failed) printf "\r%40s\r", ""; \
        if (failed) printf "  pip failed (above)\n"; \
        else if (installed) printf "  installed %d packages (%d already there)\n", installed, have; \
        else printf "  nothing new: %d packages already installed\n", have }'

# The installer: uv (pinned, from PyPI: pip puts it in the venv in a few seconds)
# fetches and installs the same pinned requirements in parallel, ~10x faster than pip
# from a fresh clone (docs/performance.md, "Test suite").  Where uv cannot be had or
# fails, pip does the same job: `make test INSTALLER=pip` forces pip.
INSTALLER ?= uv
UV_VERSION := 0.13.9
# uv prints one "+ name==version" line per package: a summary line instead.
UV_PROGRESS := awk '/^ *\+ / { n++; next } /^(Installed|Audited|Checked) / { done = $$0; next } \
  /^(error|warning): / { print; fflush() } \
  END { if (n) printf "  installed %d packages (uv)\n", n; else if (done) printf "  nothing new (uv): %s\n", done }'
# $(call install_reqs,<pip install arguments>[,<venv's bin>]): into $(VENV) unless told;
# uv where INSTALLER=uv and it can be had, else pip.
define install_reqs
set -o pipefail; tty=; [ -t 1 ] && tty=1; bin=$(or $(2),$(BIN)); \
if [ "$(INSTALLER)" = uv ] && { test -x $$bin/uv || $$bin/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION) >/dev/null 2>&1; } \
  && $$bin/uv pip install --python $$bin/python --system-certs $(1) 2>&1 | $(UV_PROGRESS); then :; \
else [ "$(INSTALLER)" = uv ] && echo "  uv unavailable or failed: installing with pip"; \
  $$bin/python -m pip install --disable-pip-version-check --progress-bar off $(1) 2>&1 | $(PIP_PROGRESS); fi
endef

# One pytest worker more than cores: about a quarter of the suite's time is spent
# waiting (receivers, gateways, subprocesses), which a third worker fills on 2 cores
# (10:17 → 8:37 on a quiet machine; docs/performance.md, "Test suite").
TEST_WORKERS ?= $(shell $(PY) -c 'import os; print((os.cpu_count() or 1) + 1)')

# Two levels: `make run` (and invoke) install what serving needs, requirements-run.txt
# (runtime, CLI, emulator server); `make test`, lint, fuzz... add requirements-dev.txt.
RUN_STAMP := $(VENV)/.installed-run
$(RUN_STAMP): requirements.txt requirements-cli.txt requirements-run.txt pyproject.toml
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "dockhand needs Python 3.11+")'
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "Installing what make run needs into $(VENV) (requirements-run.txt: 59 packages, ~180 MB; seconds with uv, 1-3 min with pip) ..."
	@$(call install_reqs,-r requirements-run.txt)
	@$(call install_reqs,--no-deps -e .)
	@$(BIN)/python -c "import moto, werkzeug, aws_lambda_powertools, pydantic, bcrypt, hcl2, mcp" # fail loudly if an install failed
	@touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP) requirements-dev.txt
	@echo "Installing the test tools into $(VENV) (requirements-dev.txt: 49 more packages, ~450 MB; seconds with uv, 1-2 min with pip) ..."
	@$(call install_reqs,-r requirements-dev.txt)
	@$(BIN)/python -c "import pytest, mypy, schemathesis, hypothesis, tiktoken" # fail loudly if an install failed
	@touch $(STAMP)

install-run: $(RUN_STAMP)

install: $(STAMP)

run: install-run
	@PORT=$(PORT) $(BIN)/python -m tools.local.gateway

# tests/deploy is `make check-deploy` (a Terraform apply, ~3 min), not part of this.
test: install browser-deps
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --cov --cov-report=term --ignore=tests/deploy

# The browser tests (tests/browser) drive Debian's Chromium with Playwright; Playwright
# never downloads a browser here.  Instant when /usr/bin/chromium exists; without
# apt-get (or root) the browser tests skip and say why.
browser-deps:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Chromium from Debian's packages (browser tests) ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 chromium >/dev/null \
	  || { echo "browser-deps: apt-get install chromium failed"; exit 1; }; \
	else echo "browser-deps: no apt-get as root here: the browser tests will be skipped"; fi

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

invoke: install-run
	@test -n "$(FN)" || (echo "usage: make invoke FN=<function> EVENT=<file.json>"; exit 2)
	@$(BIN)/python -m tools.local.invoke "$(FN)" $(if $(EVENT),"$(EVENT)",)

# infra/dashboard.json from the metric catalogue and infra/ (tests/infra fail when stale).
dashboard: install
	$(BIN)/python -m tools.gen.dashboard

# From the handlers' route declarations: common/openapi.json (served at GET /openapi.json),
# docs/api.md's reference and infra/routes.json (Terraform's and make run's routing);
# tests/unit/test_openapi.py fails when one is stale.
openapi: install
	$(BIN)/python -m tools.gen.openapi

# schemathesis over every operation against a gateway of its own (seeded, bounded;
# exceptions and reasons in tests/e2e/schemathesis.toml). Also part of `make test`.
fuzz: install
	$(BIN)/python -m pytest -p no:cacheprovider tests/e2e/test_schemathesis.py

# 50 clients for 30 s on 127.0.0.1 against a gateway it starts; writes docs/load.json.
load: install
	$(BIN)/python -m tools.local.loadtest $(if $(LOAD_CLIENTS),--clients $(LOAD_CLIENTS),) $(if $(LOAD_SECONDS),--seconds $(LOAD_SECONDS),)

# Lambda artefacts for Terraform: build/function.zip (no network) and build/layer.zip
# (requirements.txt from PyPI for linux arm64 / CPython 3.12), both with bytecode compiled
# by a local Python 3.12 (found via PATH or pyenv; DOCKHAND_LAMBDA_PYTHON to choose one).
# See docs/deploy.md and docs/performance.md.
# pip's "WARNING: Location ... is ignored" lines come from this machine's pip config
# (index locations that do not exist), not from the build: filtered out.
package: install
	@$(BIN)/python -m tools.gen.package 2>&1 | grep --line-buffered -v "^WARNING: Location"; exit $${PIPESTATUS[0]}

# Offline infra checks. checkov pins its own boto3, so it lives in its own venv.
CHECKOV_VENV := .checkov-venv
CHECKOV_VERSION := 3.3.30
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

$(CHECKOV_STAMP):
	@test -x $(CHECKOV_VENV)/bin/python || $(PY) -m venv $(CHECKOV_VENV)
	@echo "Installing checkov $(CHECKOV_VERSION) into $(CHECKOV_VENV) ..."
	@$(call install_reqs,checkov==$(CHECKOV_VERSION),$(CHECKOV_VENV)/bin) || true
	@$(CHECKOV_VENV)/bin/checkov --version >/dev/null # fail loudly if the install failed
	@touch $@

# INFRA_TESTS= skips tests/infra, which `make test` runs too (.ci/run, right after it).
INFRA_TESTS ?= 1
check-infra: install $(CHECKOV_STAMP)
	terraform fmt -check -recursive infra
	$(if $(INFRA_TESTS),$(BIN)/python -m pytest tests/infra,@echo "tests/infra: run by make test already")
	$(CHECKOV_VENV)/bin/checkov --skip-download --quiet --compact -d infra --framework terraform

# Terraform apply of infra/ (real hashicorp/aws provider from the local mirror) to an
# embedded moto server, an empty second plan, and the deployed routes, functions,
# tables and schedules read back and compared with the code. See docs/deploy.md.
check-deploy: install
	$(BIN)/python -m pytest -p no:cacheprovider -rs tests/deploy

# The benchmark and its FastAPI + Mangum baseline get their own venv: those
# packages must never reach .venv or the Lambda layer. QUICK=1 for smaller sizes.
BENCH_VENV := .bench-venv
BENCH_STAMP := $(BENCH_VENV)/.installed-stamp
$(BENCH_STAMP): requirements.txt requirements-bench.txt bench/baseline/requirements.txt
	@test -x $(BENCH_VENV)/bin/python || $(PY) -m venv $(BENCH_VENV)
	@echo "Installing benchmark dependencies into $(BENCH_VENV) ..."
	@$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-bench.txt 2>&1 | grep -v "^WARNING: Location" || true
	@$(BENCH_VENV)/bin/python -c "import fastapi, mangum, moto, hcl2, aws_xray_sdk"
	@touch $(BENCH_STAMP)

# The cold start is measured on build/*.zip, so `make package` runs first.
# ONLY=cold_start (or first_response, warm_overhead, redaction) re-measures that section alone.
bench: $(BENCH_STAMP) package
	$(BENCH_VENV)/bin/python -m bench.run $(if $(QUICK),--quick,) $(if $(ONLY),--only $(ONLY),)

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .coverage
