# Everything starts from a fresh clone with only python3 on the PATH.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export RMCURATE_HOME ?= $(CURDIR)/data

.PHONY: setup run test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: setup
	$(BIN)/rmcurate run

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m benchmarks.ingest

clean:
	rm -rf $(VENV) data bench-data
