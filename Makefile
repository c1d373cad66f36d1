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

## The main job: train the best GAN preset (the DCGAN sampled from its averaged generator) on Fashion-MNIST for
## 8 epochs, then the reference FID of 2,000 samples against 2,000 test images; the run folder $(RUN) holds
## report.md. Re-running resumes.
run: data
	$(BIN)/kzoo train --preset dcgan_ema_fashion --epochs 8 --fid-samples 2000 --fid-real 2000 --out $(RUN)

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
