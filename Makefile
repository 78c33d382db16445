# Two commands for a newcomer: `make demo` and `make test`. Needs only python3 and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO_ENV := DEBUG=true OPENKAP_DEMO=true

.PHONY: install demo serve test test-fast lint migrations-check browser-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

demo: install
	$(DEMO_ENV) $(BIN)/openkap migrate --noinput
	$(DEMO_ENV) $(BIN)/openkap seed-demo
	@echo "Serving the demo clinic on http://127.0.0.1:8000 (Ctrl-C to stop)"
	$(DEMO_ENV) $(BIN)/openkap serve 127.0.0.1:8000

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not browser" -x -q

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m django makemigrations --check --dry-run --settings=tests.settings

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
