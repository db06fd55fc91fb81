# sparrow-tfx: `make setup` then `make run`. See README.md.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
# Python 3.10 is required by TFX 1.16 wheels; PYTHON=... overrides the search.
PYTHON ?= $(shell for p in python3.10 $$(pyenv prefix 3.10 2>/dev/null)/bin/python3.10 \
	$$(ls -d $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10 2>/dev/null); do \
	if "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then command -v "$$p"; break; fi; done)
PYTEST_ARGS ?=
RUN_ARGS ?=

.PHONY: setup lock run test test-fast lint bench clean-work
setup: $(VENV)/.installed

# --compile-bytecode: uv installs without bytecode, and where PYTHONDONTWRITEBYTECODE is set every process would
# compile TF/TFX from source again (imports 30 s instead of 10 s).
$(VENV)/.installed: requirements.lock pyproject.toml Makefile
	@if [ -z "$(PYTHON)" ]; then \
		echo "error: Python 3.10 not found (tried python3.10 on PATH, pyenv 3.10.x, /usr/bin)." >&2; \
		echo "       Install it (e.g. 'pyenv install 3.10.13') or pass PYTHON=/path/to/python3.10." >&2; exit 1; fi
	@"$(PYTHON)" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' || \
		{ echo "error: $(PYTHON) is not Python 3.10; TFX 1.16 needs 3.10." >&2; exit 1; }
	@echo "Using $(PYTHON) ($$("$(PYTHON)" --version))"
	test -x $(BIN)/python || "$(PYTHON)" -m venv $(VENV)
	$(BIN)/python -m pip install -qq "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync -q --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $@

# Re-resolve the pinned dependency set (uv; pip's resolver backtracks for minutes).
lock: setup
	$(BIN)/uv pip compile pyproject.toml --extra dev --python $(BIN)/python -o requirements.lock

run: setup
	$(BIN)/sparrow-tfx run $(RUN_ARGS)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not e2e and not slow" $(PYTEST_ARGS)

# ruff: lint and import order, configured in pyproject.toml.
lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python -m bench.run_all

clean-work:
	rm -rf .work
