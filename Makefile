# The two commands of the README: `make run` and `make test`. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Until the service lands, the main job is the paper's headline design costed on MNSIM 2.0.
run: $(STAMP)
	$(BIN)/epim cost --network resnet50 --design examples/designs/resnet50_epim_3bit.yaml \
		--baseline-bits 16

test: $(STAMP)
	$(BIN)/python -m pytest
