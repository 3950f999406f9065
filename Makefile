# Steward — `make run` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
export PIP_DISABLE_PIP_VERSION_CHECK=1

.PHONY: install run test test-fast lint format static browser-deps clean bench fuzz

# Each step prints one line; a step's full output goes to a log that is shown only when it fails.
$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install -q -U "pip>=25" >$(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	@$(PIP) install -q -c constraints.txt -e ".[test]" >>$(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	@$(PY) -c "import django, celery, rest_framework, playwright" # fail loudly if the install did not take
	@echo "python packages: installed in $(VENV) (log: $(VENV)/install.log)"
	@touch $@

node_modules/.installed: package.json package-lock.json
	@npm ci --no-audit --no-fund --loglevel=error >/dev/null
	@echo "front-end packages: installed from package-lock.json"
	@touch $@

static/vendor/.copied: $(VENV)/.installed node_modules/.installed scripts/vendor_static.sh
	@./scripts/vendor_static.sh
	@touch $@

install: $(VENV)/.installed static/vendor/.copied

static: static/vendor/.copied

# Debian's chromium for the browser tests (Playwright's own browser download does not work offline).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: browser tests will be skipped (install Debian's chromium package)"; fi; }

# Links in mail, the attestation `iss` and evidence packs name the address `make run` binds (never a
# request's Host header); set STEWARD_BASE_URL for anything else (a proxy, a real host name).
STEWARD_BASE_URL ?= http://$(HOST):$(PORT)
RUN_ENV := STEWARD_BASE_URL=$(STEWARD_BASE_URL)

run: install
	@$(RUN_ENV) $(PY) manage.py migrate --noinput -v0 && echo "database: migrated"
	@$(RUN_ENV) $(PY) manage.py collectstatic --noinput -v0 && echo "static files: collected"
	@$(RUN_ENV) $(PY) manage.py seed_demo
	@$(RUN_ENV) $(PY) manage.py run_governance_jobs --job sweep
	@echo "Steward: $(STEWARD_BASE_URL)/ (Ctrl-C stops web, worker and beat); demo logins owner, owner2, iam, iam2, security, security2, auditor (password steward-demo)"
	@$(RUN_ENV) HOST=$(HOST) PORT=$(PORT) DJANGO_RUNSERVER_HIDE_WARNING=true $(VENV)/bin/honcho -f Procfile.dev start

test: install browser-deps
	@rc=0; $(PY) -m pytest -n auto --dist loadgroup $(PYTEST_ARGS) || rc=$$?; \
	  if [ $$rc = 5 ]; then echo "no tests ran: that is a failure"; exit 1; fi; exit $$rc

test-fast: install
	$(PY) -m pytest -n auto -m "not browser and not celery_worker" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The fuzzers, deeper than in `make test`: schemathesis against /api/schema/ on a live server, and
# hostile input (deep nesting, huge integers, confusable Unicode, long strings) to every JSON
# endpoint and every form.
FUZZ_EXAMPLES ?= 100
fuzz: install
	STEWARD_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -n auto tests/security/test_api_fuzz.py \
	  tests/security/test_hostile_input_fuzz.py $(PYTEST_ARGS)

clean:
	rm -rf var/steward.sqlite3* var/broker var/staticfiles

# Benchmarks at estate scale on PostgreSQL (bench/README.md): `make bench` (100,000 identities) or
# `make bench BENCH=quick` (10,000). Needs DATABASE_URL to a throwaway PostgreSQL database.
BENCH ?= full
bench: install
	@$(PY) -c "import pyinstrument" 2>/dev/null || $(PIP) install -q -c constraints.txt -e ".[test,bench]" 2>&1 | grep -v "^WARNING: Location" || true
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = "0" ] && apt-get install -y -qq wrk >/dev/null 2>&1 || \
	  echo "wrk is missing: the HTTP figures use the bounded Python load loop instead"; }
	$(PY) bench/run.py --size $(BENCH) $(BENCH_ARGS)
