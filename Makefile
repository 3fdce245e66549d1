# qbosync: the two commands are `make demo` and `make test`; everything else is a step of theirs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
SAM_VENV := .sam-venv
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
export PYTHONPATH := layers/common:.
# Offline, credential-free defaults so nothing here ever reaches a real AWS account.
export AWS_DEFAULT_REGION ?= us-east-1
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export SAM_CLI_TELEMETRY := 0

.PHONY: help venv chromium test lint format typecheck validate cfn-check statelint sam-build unit integration e2e browser demo up sandbox source-sandbox bench bench-bulk bench-push clean

help:
	@echo "make demo   set up, start the whole service locally and show it working"
	@echo "make test   set up, then run every check and test"
	@echo "make demo DEMO_ARGS=--keep  the same, then keep it running to click through the admin console"
	@echo "make up     start the local runtime and leave it running (prints a signed-in admin console URL)"
	@echo "make sandbox  start only the QuickBooks Online sandbox (make source-sandbox: the source system)"
	@echo "make bench  run the benchmarks (bench-bulk, bench-push)"

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

venv: $(VENV)/.installed $(SAM_VENV)/.installed

# The browser tests drive Debian's chromium through Debian's chromedriver; install both when missing
# (as root, or through sudo; no prompt, so it also runs in CI without stdin).
chromium:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
		echo "chromium: $$(chromium --version 2>/dev/null)"; \
	else \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-liberation </dev/null; \
	fi

# Code runs locally on 3.11 and on Lambda's python3.13: both are checked. The PEP 695 rewrites ruff proposes
# for 3.13 (UP040, UP046, UP047) would not run on 3.11, so they are left out of the deployed-version pass.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff check --target-version py313 --extend-ignore UP040,UP046,UP047 .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --python-version 3.13 --cache-dir .mypy_cache/py313

statelint: $(VENV)/.installed
	@for f in statemachines/*.asl.json; do [ -e "$$f" ] || continue; echo "statelint $$f"; $(VENV)/bin/statelint "$$f" || exit 1; done

validate: $(SAM_VENV)/.installed
	$(SAM) validate --lint --template template.yaml

# The template after the SAM transform, as CloudFormation sees it (cycles, generated roles), linted offline.
cfn-check: $(SAM_VENV)/.installed
	$(SAM_VENV)/bin/python -m local.cfn_check --template template.yaml --output .aws-sam/transformed-template.json

sam-build: $(SAM_VENV)/.installed
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" $(SAM) build --template template.yaml --build-dir .aws-sam/build >/dev/null
	@echo "sam build: ok"

unit: $(VENV)/.installed
	$(PY) -m pytest -m unit -q

integration: $(VENV)/.installed
	$(PY) -m pytest -m "integration or conformance" -q

e2e: $(VENV)/.installed
	$(PY) -m pytest -m e2e -q

browser: $(VENV)/.installed chromium
	$(PY) -m pytest -m browser -q

test: venv chromium lint typecheck statelint validate cfn-check sam-build
	$(PY) -m pytest -q -n 2 --dist loadfile

# make demo DEMO_ARGS=--keep leaves the runtime up afterwards, with the admin console's URL printed.
# make demo SOURCE=revio runs the same story with Rev.io billing (its emulator behind the Rev.io adapter).
demo: $(VENV)/.installed
	$(PY) -m local.demo $(if $(SOURCE),--source $(SOURCE)) $(DEMO_ARGS)

up: $(VENV)/.installed
	$(PY) -m local.runtime

sandbox: $(VENV)/.installed
	$(PY) -m local.qbo_sandbox --host 127.0.0.1 --port 8765

source-sandbox: $(VENV)/.installed
	$(PY) -m local.source_sandbox --host 127.0.0.1 --port 8766

# The source-contract kit against an in-process source sandbox; BREAK=<rule> breaks one rule on purpose.
.PHONY: source-contract
source-contract: $(VENV)/.installed
	$(PY) -m local.source_sandbox.contract_check $(if $(BREAK),--break $(BREAK))

bench: bench-bulk bench-push

bench-bulk: $(VENV)/.installed
	$(PY) bench/bulk_sync.py

bench-push: $(VENV)/.installed
	$(PY) bench/push.py

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
