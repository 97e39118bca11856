# The two commands of the README: `make run` and `make test`.
#   make run        runtime install, migrate the SQLite default, seed alice/bob, serve 127.0.0.1:5000
#   make test       provision (scripts/provision-test-deps), dev install, lint, the whole suite
#   make test-fast  dev install, the in-process tests only (no server process, browser or 100k rows)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
# Tests that start a server process (`server`) or a browser (`e2e`), or fill large tables (`slow`).
FAST_TESTS := not server and not e2e and not slow
export FLASK_APP := wsgi

.PHONY: install install-dev provision run migrate seed test test-fast lint format clean bench screenshots

# What running needs: the app and its runtime dependencies, and the socket.io client from npm.
install: $(RUNTIME_STAMP)

# What testing, linting and benchmarks need on top: the `dev` extra.
install-dev: $(DEV_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml package.json package-lock.json | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	npm ci --no-audit --no-fund
	touch $@

$(DEV_STAMP): $(RUNTIME_STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Debian packages (npm, chromium, faketime) and the PostgreSQL and Redis services.
provision:
	scripts/provision-test-deps

migrate: install
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask seed-demo

run: seed
	$(BIN)/python wsgi.py --host 127.0.0.1 --port 5000

# `provision` first: the install runs npm ci.
test: provision install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: install-dev
	$(BIN)/python -m pytest -x -q -n 2 --dist loadgroup -m "$(FAST_TESTS)"

# Benchmarks (bench/README.md): `make bench` (full, < 30 min) writes bench/results/;
# `make bench QUICK=1` (< 3 min) writes bench/results/quick/.
bench: install-dev
	$(BIN)/python -m bench.run $(if $(QUICK),--quick,)

# The browser tests write screenshots to build/screenshots; this refreshes the README's.
screenshots: install-dev
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest tests/e2e/test_ui_layout.py -q

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) instance .pytest_cache
