# make run          - start the emulator on http://127.0.0.1:$(PORT)
# make lint         - ruff and mypy (any finding fails)
# make test         - lint, then run the whole test suite
# make node-deps    - install the Node packages the tests drive (npm ci in tests/node: the Worker SDK,
#                     twilio-node, twilio-cli; skipped without Node, and those tests skip with the reason)
# make browser      - install headless Chromium and its driver (Debian packages) for the dashboard's browser tests
# make test-floors  - the suite with every dependency at the floor pyproject.toml declares (oldest Python found)
# make test-sdist   - build the sdist, install it in a fresh venv and run the tests it carries
# make test-sdist-floors - both in one run (CI's): the sdist installed at the dependency floors runs its tests
# make test-pythons - the suite on each of Python 3.10 to 3.13 found on this machine
# make dist         - build the sdist and the wheel into dist/
# make sdk-specs SDK=/path/to/twilio-taskrouter.js - the Worker SDK's own integration specs against the emulator
# make bench        - run the benchmarks: one table against floors measured in the same run (never part of
#                     make test; ARGS=--quick for a short run, ARGS=--no-prism without Prism)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8787
ARGS ?=

# A working interpreter for Python $(1): on the PATH, or installed by pyenv (its shims may not run).
find_python = $(firstword $(foreach p,python$(1) $(wildcard $(HOME)/.pyenv/versions/$(1).*/bin/python$(1)),$(shell $(p) -c 'import sys; print(sys.executable)' 2>/dev/null)))
# The oldest Python the package supports, when this machine has it.
FLOORS_PYTHON ?= $(or $(call find_python,3.10),$(PYTHON))
PYTHON_VERSIONS ?= 3.10 3.11 3.12 3.13

.PHONY: run lint test test-floors test-sdist test-sdist-floors test-pythons dist bench browser clean node-deps sdk-specs

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

test-floors: node-deps
	rm -rf .venv-floors
	$(FLOORS_PYTHON) -m venv .venv-floors
	.venv-floors/bin/python -m pip install --quiet --upgrade pip
	$(PY) .ci/floors.py > .venv-floors/constraints.txt 2>/dev/null || python3 .ci/floors.py > .venv-floors/constraints.txt
	.venv-floors/bin/python -m pip install --quiet -c .venv-floors/constraints.txt '.[test]'
	.venv-floors/bin/python -m pip freeze | grep -iE '^(flask|werkzeug|requests|responses|jsonschema|pytest|twilio)=='
	.venv-floors/bin/python -m pytest -p no:cacheprovider $(ARGS)

dist: $(VENV)/.installed-test
	$(PY) -m pip install --quiet build
	rm -rf dist
	$(PY) -m build --outdir dist .

test-sdist: dist
	rm -rf .venv-sdist build/sdist && mkdir -p build/sdist
	tar -xzf dist/*.tar.gz -C build/sdist
	$(PYTHON) -m venv .venv-sdist
	.venv-sdist/bin/python -m pip install --quiet "$$(ls -d build/sdist/*/)[test]"
	# the Node clients installed for the checkout serve the unpacked sdist's tests too
	cd build/sdist/*/ && { [ ! -d $(CURDIR)/tests/node/node_modules ] || ln -s $(CURDIR)/tests/node/node_modules tests/node/; } && \
	  $(CURDIR)/.venv-sdist/bin/python -m pytest -p no:cacheprovider $(ARGS)

# What test-floors and test-sdist prove, in one suite run: the built sdist, installed with every
# dependency at its floor, passes the tests it carries.
test-sdist-floors: dist node-deps
	rm -rf .venv-sdist-floors build/sdist && mkdir -p build/sdist
	tar -xzf dist/*.tar.gz -C build/sdist
	$(FLOORS_PYTHON) -m venv .venv-sdist-floors
	.venv-sdist-floors/bin/python -m pip install --quiet --upgrade pip
	$(PY) .ci/floors.py > .venv-sdist-floors/constraints.txt
	.venv-sdist-floors/bin/python -m pip install --quiet -c .venv-sdist-floors/constraints.txt "$$(ls -d build/sdist/*/)[test]"
	.venv-sdist-floors/bin/python -m pip freeze | grep -iE '^(flask|werkzeug|requests|responses|jsonschema|pytest|twilio)=='
	cd build/sdist/*/ && { [ ! -d $(CURDIR)/tests/node/node_modules ] || ln -s $(CURDIR)/tests/node/node_modules tests/node/; } && \
	  $(CURDIR)/.venv-sdist-floors/bin/python -m pytest -p no:cacheprovider $(ARGS)

test-pythons: node-deps
	@$(foreach v,$(PYTHON_VERSIONS),$(if $(call find_python,$(v)),\
	  echo "== Python $(v): $(call find_python,$(v))" && rm -rf .venv-$(v) && \
	  $(call find_python,$(v)) -m venv .venv-$(v) && .venv-$(v)/bin/python -m pip install --quiet --upgrade pip && \
	  .venv-$(v)/bin/python -m pip install --quiet '.[test]' && \
	  .venv-$(v)/bin/python -m pytest -p no:cacheprovider $(ARGS) &&,\
	  echo "== Python $(v): not on this machine, skipped" &&)) true

bench: $(VENV)/.installed-test
	$(PY) benchmarks/run.py $(ARGS)

# The Worker SDK tests need Node; without it (or offline) they skip, saying why.
node-deps:
	@if command -v node >/dev/null 2>&1 && command -v $(NPM) >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(NODE_STAMP); \
	else echo "node/npm not found: the Node client tests will be skipped"; fi

$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	cd tests/node && $(NPM) ci --no-audit --no-fund --ignore-scripts --loglevel=error || echo "npm ci failed: the Node client tests will be skipped"
	@if [ -d tests/node/node_modules/twilio-taskrouter ]; then touch $@; fi

# SDK: a checkout of github.com/twilio/twilio-taskrouter.js (tag 3.0.0) with its npm install done;
# SPECS: spec names to run instead of all (e.g. SPECS="Activity Workspace").
SDK ?=
SPECS ?=
sdk-specs: $(VENV)/.installed
	@if [ -z "$(SDK)" ]; then echo "sdk-specs: give SDK=/path/to/twilio-taskrouter.js (tag 3.0.0, npm install done); nothing run"; \
	elif ! command -v node >/dev/null 2>&1; then echo "sdk-specs: node not found; nothing run"; \
	else $(PY) tests/sdk_specs/run.py "$(SDK)" $(SPECS); fi

clean:
	rm -rf $(VENV) .venv-* build dist *.egg-info tests/node/node_modules
