# The two commands of the README: `make run` (the main job) and `make test` (the test suite).
# Each sets up what it needs, idempotently: the virtual environment, the package, and the data.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kzoo-installed
RUN ?= runs/main
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: run test test-all lint setup data docs docs-check record-run time-ci

## The main job: train the best GAN preset (the DCGAN sampled from its averaged generator) on Fashion-MNIST for
## 8 epochs, then the reference FID of 2,000 samples against 2,000 test images; the run folder $(RUN) holds
## report.md. Re-running resumes.
run: data
	$(BIN)/kzoo train --preset dcgan_ema_fashion --epochs 8 --fid-samples 2000 --fid-real 2000 --out $(RUN)

## The default test suite (the markers in setup.cfg say what is left out and why), after the linter; `.ci/run`
## calls this.
test: lint data
	KZOO_NO_SKIPS=1 $(BIN)/python -m pytest -m "not slow and not study and not subprocess" -q --durations=15 \
		-n auto --dist worksteal

## Every test: the default suite plus the slow reproductions, every --quick study and the subprocess runs.
test-all: data
	KZOO_NO_SKIPS=1 $(BIN)/python -m pytest -q --durations=25

## The linter: ruff, with the settings in pyproject.toml.
lint: setup
	$(BIN)/ruff check .

## Re-render the tables of README.md and docs/ from results/*.json.
docs: setup
	$(BIN)/python tools/render_docs.py

docs-check: setup
	$(BIN)/python tools/render_docs.py --check

## Record the main job's last run (after `make run`) as results/main_job.json.
record-run: setup
	$(BIN)/python tools/record_run.py $(RUN) main_job --command "make run"

## Time `bash .ci/run` in a fresh clone and record it as results/ci_time.json.
time-ci: setup
	bash tools/time_ci.sh

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test,reference]"
	touch $@

data: $(STAMP)
	bash tools/setup_data.sh $(BIN)/python
