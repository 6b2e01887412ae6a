# Qwill: two commands on a fresh machine.
#   make demo   set up and run a scripted editor session on the default model
#   make test   set up and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PIP     = $(BIN)/pip --disable-pip-version-check

.PHONY: demo test setup setup-dev lint typecheck bench clean vscode-deps vsix schema system-deps code-server

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel

setup: $(BIN)/python
	$(PIP) install -q -e ".[default-model]"

setup-dev: $(BIN)/python
	$(PIP) install -q -e ".[dev,default-model]"

demo: setup
	$(BIN)/qwill demo

test: setup-dev vscode-deps system-deps code-server
	$(BIN)/ruff check qwill tests benchmarks
	$(BIN)/mypy
	$(BIN)/deptry qwill
	$(BIN)/python -m pytest -q tests

# The agent's sandbox tests run commands in bubblewrap and trace them with strace (Debian
# packages): installed when missing and we are root (CI), else those tests say they skip.
system-deps:
	@missing=""; for p in bwrap:bubblewrap strace:strace; do command -v $${p%%:*} >/dev/null || missing="$$missing $${p#*:}"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y -q $$missing >/dev/null || (apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null); \
	elif [ -n "$$missing" ]; then echo "not installed:$$missing (the sandbox tests that need them will skip)"; fi

# The VS Code extension (editor-clients/vscode): npm ci from the committed lock, when it
# changed; its build and tests run inside pytest (tests/clients/test_vscode_extension.py).
VSCODE = editor-clients/vscode
$(VSCODE)/node_modules/.package-lock.json: $(VSCODE)/package-lock.json
	cd $(VSCODE) && npm ci --no-audit --no-fund

vscode-deps:
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(VSCODE)/node_modules/.package-lock.json; \
	else echo "npm not found: the VS Code extension tests will be skipped"; fi

# A real VS Code for tests/clients/test_vscode_real.py: Debian's chromium, libkrb5-dev and
# fonts-dejavu-core when missing (apt, as root), then code-server with its Node 24 built once
# (~5 min) into a cache outside the clone, keyed by version ($XDG_CACHE_HOME/qwill-ci, else ~/.cache/qwill-ci).
code-server:
	@$(VSCODE)/e2e/code-server.sh install || \
	  echo "code-server is not installed (see above): tests/clients/test_vscode_real.py will say why it skips"

vsix: vscode-deps
	cd $(VSCODE) && npm run package
	@echo "built $(VSCODE)/qwill.vsix (install: code --install-extension $(VSCODE)/qwill.vsix)"

# Regenerate the settings files of the editor clients and the README table from the schema.
schema: setup-dev
	$(BIN)/python -m qwill.schema write

lint: setup-dev
	$(BIN)/ruff check qwill tests benchmarks
	$(BIN)/mypy

bench: setup-dev
	$(BIN)/python -m benchmarks.typing_trace

clean:
	rm -rf $(VENV) build *.egg-info
