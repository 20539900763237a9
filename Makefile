# The README's commands: `make run` starts the whole system, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
EVALUATORS ?= 1

.PHONY: install run test bench proto clean

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

# exec: the launcher replaces the recipe's shell; it takes the terminal's Ctrl-C for itself (see
# civicflow/launch/terminal.py), stops everything in order and exits 0, so make exits 0 too.
run: $(INSTALLED)
	exec env EVALUATORS=$(EVALUATORS) $(BIN)/python -m civicflow.launch

test: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(INSTALLED)
	$(BIN)/python -m bench

# Regenerates the committed stubs in civicflow/v1 from protos/.
proto: $(INSTALLED)
	$(BIN)/python -m civicflow.protogen

clean:
	rm -rf $(VENV) .civicflow .pytest_cache
