# The README's commands: `make run` starts the whole system, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps in one environment: what the services need (make run), then the dev tools on top
# (make test, bench, proto). `make run` alone never installs the dev tools; `make test` adds them.
RUNTIME_INSTALLED := $(VENV)/.runtime-installed
INSTALLED := $(VENV)/.installed
EVALUATORS ?= 1

.PHONY: install run test bench proto image base-image clean

$(RUNTIME_INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[launch]'
	touch $(RUNTIME_INSTALLED)

$(INSTALLED): $(RUNTIME_INSTALLED) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[launch,dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

# exec: the launcher replaces the recipe's shell; it takes the terminal's Ctrl-C for itself (see
# civicflow/launch/terminal.py), stops everything in order and exits 0, so make exits 0 too.
run: $(RUNTIME_INSTALLED)
	exec env EVALUATORS=$(EVALUATORS) $(BIN)/python -m civicflow.launch

test: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(INSTALLED)
	$(BIN)/python -m bench

# The container image (deploy/Dockerfile), built with no network: the wheels come from this host's package index
# configuration into build/wheelhouse/ first. BASE_IMAGE=... picks the base (default python:3.12-slim); Docker or
# Podman, whichever is installed (CONTAINER_ENGINE=podman to choose).
image: $(RUNTIME_INSTALLED)
	$(BIN)/python -m container_images image

# Python and PostgreSQL base images from Debian's packages (mmdebstrap), for networks that cannot pull any:
# then `make image BASE_IMAGE=localhost/civicflow/debian-python:bookworm` (docs/operations.md, "Air-gapped networks").
base-image: $(RUNTIME_INSTALLED)
	$(BIN)/python -m container_images base-images

# Regenerates the committed stubs in civicflow/v1 from protos/.
proto: $(INSTALLED)
	$(BIN)/python -m civicflow.protogen

clean:
	rm -rf $(VENV) .civicflow .pytest_cache build
