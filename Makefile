# One entry point for a fresh machine with Python and pip. Python 3.11 (default), 3.12 and 3.13 are
# supported, each in its own virtualenv: `make test` uses python3.11 and .venv; `make test PY=python3.13`
# uses .venv-3.13 (PY=python3.12: .venv-3.12). PY may be a name on PATH, a version ("3.13") or a path;
# scripts/find_python.sh resolves it, falling back to pyenv's install when the name is an inactive
# pyenv shim or not on PATH at all.
PY ?= python3.11
PYTHON := $(shell sh scripts/find_python.sh $(PY) 2>/dev/null)
PYVER := $(if $(PYTHON),$(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null),)
# 3.11 keeps the historical .venv; every other version gets .venv-<major.minor>.
VENV ?= $(if $(filter 3.11,$(PYVER)),.venv,.venv-$(or $(PYVER),unknown))
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/demo.json
JSON ?=
# make demo HOLD=1: keep the stack (and the dashboard) serving after the run, until Ctrl-C.
HOLD ?=
# pytest arguments, e.g. make test PYTEST_ARGS='-m "not slow"'.
PYTEST_ARGS ?=

# make dev: emulator + local host + the app on one scaled clock (SCALE simulated seconds per wall second).
SCALE ?= 60

.PHONY: dev venv test demo lint typecheck format bench clean python

$(STAMP): requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { sh scripts/find_python.sh $(PY); exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# Keep the venv out of git whatever the repo's .gitignore says (Python 3.13's venv writes this too).
	@test -f $(VENV)/.gitignore || printf '*\n' > $(VENV)/.gitignore
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP)

# Which interpreter and venv a PY resolves to (make python PY=python3.13).
python:
	@echo "PY=$(PY) -> $(or $(PYTHON),<not found>) (Python $(or $(PYVER),?)), venv $(VENV)"

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: $(STAMP)
	$(BIN)/python -m demo --scenario $(SCENARIO) $(if $(JSON),--json $(JSON),) $(if $(HOLD),--hold,)

dev: $(STAMP)
	$(BIN)/python -m dev --scale $(SCALE)

clean:
	rm -rf .venv .venv-3.* .pytest_cache .mypy_cache .ruff_cache .demo .dev
