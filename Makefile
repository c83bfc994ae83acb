# Roster — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test check bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# `make run PORT=8001 HOST=0.0.0.0`; the public URL follows them unless ROSTER_PUBLIC_URL is set.
HOST ?= 127.0.0.1
PORT ?= 8000
PUBLIC_URL := $(or $(ROSTER_PUBLIC_URL),http://$(HOST):$(PORT))

## Set up, migrate the embedded SQLite database, ensure a demo connection (a second run keeps
## its token), print the next steps, serve on http://$(HOST):$(PORT).
run: $(STAMP)
	$(BIN)/roster migrate
	ROSTER_PUBLIC_URL='$(PUBLIC_URL)' $(BIN)/roster demo
	ROSTER_PUBLIC_URL='$(PUBLIC_URL)' $(BIN)/roster serve --host '$(HOST)' --port '$(PORT)'

# newman runs Microsoft's SCIM test collection in the suite (tests/data/ms-scim-reference).
NEWMAN := tests/newman/node_modules/.bin/newman
$(NEWMAN): tests/newman/package.json tests/newman/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix tests/newman --no-audit --no-fund --loglevel=error && touch $(NEWMAN); \
	else echo "npm not found: install Node.js to run Microsoft's SCIM collection test"; fi

## Set up and run the whole suite (SQLite; set ROSTER_TEST_DATABASE_URL for PostgreSQL).
test: $(STAMP) $(NEWMAN)
	$(BIN)/python -m pytest

## Static checks: ruff (lint and format), mypy --strict, import-linter layer contracts.
check: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## Load benchmark against a running server (see bench/README.md).
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
