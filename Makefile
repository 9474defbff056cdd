SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PYTEST_ARGS ?=
BENCH_ARGS ?=
FAULTS_ARGS ?=
SCALE_ARGS ?=
ARGS ?=

.PHONY: help venv run manage shell test lint fmt bench faults scale-test clean

help:
	@echo "make venv    create $(VENV) and install requirements-dev.txt"
	@echo "make run     migrate + demo site + gunicorn/celery workers/beat (PORT=8000)"
	@echo "make manage  ARGS=\"syncs list\": a manage.py command on make run's database (or DATABASE_URL's)"
	@echo "make shell   a Django shell on make run's database (or DATABASE_URL's)"
	@echo "make test    run the test suite (PYTEST_ARGS=...); installs Debian's chromium for the browser tests"
	@echo "make lint    ruff check + ruff format --check + lint-imports (the layers contract)"
	@echo "make fmt     ruff format + ruff check --fix"
	@echo "make faults  the fault matrix: own PostgreSQL/Redis/gunicorn/workers/beat, faults injected mid-sync (FAULTS_ARGS=\"--rows 60000\")"
	@echo "make scale-test  hosts in network namespaces (db, 2 API, 2 workers, beat; root): a host lost mid-sync (SCALE_ARGS=\"--rows 50000\")"
	@echo "make bench   run every benchmark case (BENCH_ARGS=\"--rows 20000 --cases opportunities,linkage,batch,upsert\")"
	@echo "make clean   remove .run/"
	@echo "run/test/bench start a private PostgreSQL and Redis unless DATABASE_URL and REDIS_URL are set;"
	@echo "bench's PostgreSQL is durable (PG_MODE=durable: fsync etc. on), test's is fast (PG_MODE=fast)."

# Create the virtualenv and install the pinned dependencies.  On Debian,
# `python3 -m venv` needs the python3-venv package: install it when missing
# and apt-get is usable.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@set -e; \
	if [ ! -x $(VENV)/bin/python ] || ! $(VENV)/bin/python -m pip --version >/dev/null 2>&1; then \
	  if ! $(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1; then \
	    if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	      echo "installing python3-venv (apt-get) ..."; \
	      DEBIAN_FRONTEND=noninteractive apt-get update -q; \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv; \
	    elif command -v apt-get >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	      echo "installing python3-venv (sudo apt-get) ..."; \
	      sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -q; \
	      sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv; \
	    else \
	      echo "error: '$(PYTHON) -m venv' is unusable (install python3-venv)" >&2; exit 1; \
	    fi; \
	  fi; \
	  rm -rf $(VENV); \
	  $(PYTHON) -m venv $(VENV); \
	fi
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

run: $(VENV)/.installed
	scripts/with-services.sh scripts/run.sh

# Next to a running `make run` (another terminal): manage.py reads its .run/env.
manage: $(VENV)/.installed
	@$(VENV)/bin/python manage.py $(ARGS)

shell: $(VENV)/.installed
	@$(VENV)/bin/python manage.py shell

test: $(VENV)/.installed
	scripts/ensure-chromium.sh
	scripts/with-services.sh $(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/lint-imports

fmt: $(VENV)/.installed
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

bench: $(VENV)/.installed
	PG_MODE=$${PG_MODE:-durable} scripts/with-services.sh $(VENV)/bin/python -m bench.all $(BENCH_ARGS)

faults: $(VENV)/.installed
	$(VENV)/bin/python -m faults $(FAULTS_ARGS)

# Root only (ip netns): docs/scaling.md "The multi-host test".
scale-test: $(VENV)/.installed
	$(VENV)/bin/python -m faults.multihost $(SCALE_ARGS)

clean:
	rm -rf .run
