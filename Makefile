# make run   - start the emulator on http://127.0.0.1:$(PORT)
# make lint  - ruff and mypy (any finding fails)
# make test  - lint, then run the whole test suite
# make node-deps - install the Worker SDK for its tests (npm ci in tests/node; skipped without Node)
# make browser - install headless Chromium and its driver (Debian packages) for the dashboard's browser tests
# make bench - run the benchmarks: one table against floors measured in the same run (never part of
#              make test; ARGS=--quick for a short run, ARGS=--no-prism without Prism)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8787
ARGS ?=

.PHONY: run lint test bench browser clean node-deps

NPM ?= npm
NODE_STAMP := tests/node/node_modules/.installed

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(VENV)/bin/taskrouter-emulator serve --port $(PORT) $(ARGS)

# Debian's chromium and chromium-driver, installed when missing and we are root (the browser tests
# skip, saying so, where they cannot be had).
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver (apt-get)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null \
			|| echo "could not install chromium: the dashboard's browser tests will skip"; \
	else echo "no chromium: the dashboard's browser tests will skip (install: sudo apt-get install chromium chromium-driver)"; fi

lint: $(VENV)/.installed-test
	$(PY) -m ruff check .
	$(PY) -m mypy

test: lint node-deps browser
	$(PY) -m pytest $(ARGS)

bench: $(VENV)/.installed-test
	$(PY) benchmarks/run.py $(ARGS)

# The Worker SDK tests need Node; without it (or offline) they skip, saying why.
node-deps:
	@if command -v node >/dev/null 2>&1 && command -v $(NPM) >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(NODE_STAMP); \
	else echo "node/npm not found: the Worker SDK tests will be skipped"; fi

$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	cd tests/node && $(NPM) ci --no-audit --no-fund --loglevel=error || echo "npm ci failed: the Worker SDK tests will be skipped"
	@if [ -d tests/node/node_modules/twilio-taskrouter ]; then touch $@; fi

clean:
	rm -rf $(VENV) build *.egg-info tests/node/node_modules
