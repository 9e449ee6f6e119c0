# make run   - start the emulator on http://127.0.0.1:$(PORT)
# make lint  - ruff and mypy (any finding fails)
# make test  - lint, then run the whole test suite
# make bench - run the benchmarks: one table against floors measured in the same run (never part of
#              make test; ARGS=--quick for a short run, ARGS=--no-prism without Prism)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8787
ARGS ?=

.PHONY: run lint test bench clean

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

lint: $(VENV)/.installed-test
	$(PY) -m ruff check .
	$(PY) -m mypy

test: lint
	$(PY) -m pytest $(ARGS)

bench: $(VENV)/.installed-test
	$(PY) benchmarks/run.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
