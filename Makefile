# The two commands of the README: `make run` (the main job) and `make test` (the test suite).
# Each sets up what it needs, idempotently: the virtual environment, the package, and the data.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kzoo-installed
RUN ?= runs/main
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: run test test-all setup data

## The main job: train the Fashion-MNIST convolutional VAE and write its run folder to $(RUN).
run: data
	$(BIN)/kzoo train --preset vae_conv_fashion --epochs 5 --out $(RUN)

## The default test suite (slow tests deselected); `.ci/run` calls this.
test: data
	$(BIN)/python -m pytest -m "not slow" -q

## Every test, including the slow reproduction runs.
test-all: data
	$(BIN)/python -m pytest -q

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test,reference]"
	touch $@

data: $(STAMP)
	bash tools/setup_data.sh $(BIN)/python
