# Qwill: two commands on a fresh machine.
#   make demo   set up and run a scripted editor session on the default model
#   make test   set up and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PIP     = $(BIN)/pip --disable-pip-version-check

.PHONY: demo test setup setup-dev lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel

setup: $(BIN)/python
	$(PIP) install -q -e ".[default-model]"

setup-dev: $(BIN)/python
	$(PIP) install -q -e ".[dev,default-model]"

demo: setup
	$(BIN)/qwill demo

test: setup-dev
	$(BIN)/ruff check qwill tests benchmarks
	$(BIN)/python -m pytest -q tests

lint: setup-dev
	$(BIN)/ruff check qwill tests benchmarks
	$(BIN)/mypy

bench: setup-dev
	$(BIN)/python -m benchmarks.typing_trace

clean:
	rm -rf $(VENV) build *.egg-info
