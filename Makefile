# Two commands for a newcomer: `make demo` and `make test`. Needs only python3 and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Locked, hashed versions (uv pip compile): a fresh machine installs exactly what CI tested.
LOCK := requirements.txt requirements-dev.txt
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
DEMO_ENV := DEBUG=true OPENKAP_DEMO=true

.PHONY: install lock upgrade-deps demo serve test test-fast test-thorough ci-times lint clean

# Exactly the locked versions; pip keeps its download cache (~/.cache/pip) between runs.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python .ci/check_install.py
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

# After editing dependencies in pyproject.toml: re-lock, keeping every other pin.
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 \
	--custom-compile-command "make lock"
lock:
	test -x $(BIN)/uv || ( $(PYTHON) -m venv $(VENV) && $(BIN)/pip install --quiet "$$(grep -m1 '^uv==' requirements-dev.txt | cut -d' ' -f1)" )
	$(UV_COMPILE) $(UV_FLAGS) -o requirements.txt
	$(UV_COMPILE) $(UV_FLAGS) --extra dev -c requirements.txt -o requirements-dev.txt

# Every dependency to its newest allowed version (then run the tests).
upgrade-deps:
	$(MAKE) lock UV_FLAGS=--upgrade

demo: install
	$(DEMO_ENV) $(BIN)/openkap migrate --noinput
	$(DEMO_ENV) $(BIN)/openkap seed-demo
	@echo "Serving the demo clinic on http://127.0.0.1:8000 (Ctrl-C to stop)"
	$(DEMO_ENV) $(BIN)/openkap serve 127.0.0.1:8000

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not browser" -x -q

# Five times the Hypothesis examples of every property (tests/profiles.py), browser aside.
test-thorough: install
	HYPOTHESIS_PROFILE=thorough $(BIN)/python -m pytest -m "not browser" -q

# The phase table of the last `bash .ci/run` (seconds and tests per phase, slowest tests).
ci-times:
	@$(BIN)/python .ci/times.py artifacts/ci

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo
	$(BIN)/python -m django makemigrations --check --dry-run --settings=tests.settings

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
