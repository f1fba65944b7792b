"""Peak memory of the generative trainer on CPU, beside its speed: `rmcurate train --objective generative`.

    python -m benchmarks.trainer_memory [--model PATH ...] [--pairs 780] [--test 120] [--steps 3]

Known pairs (benchmarks/known_pairs.py, `other`: prompts up to 600 characters, replies up to 1,500)
are written as a trl export; each model trains on them with the command's defaults (batch 16, 256
tokens) in a fresh process, whose peak RSS comes from the kernel (wait4). Printed per model: peak
RSS, samples/s, test accuracy and train loss after. Default model: the embedded judge's
SmolLM2-135M-Instruct. Goal (issue 31): under 3 GB for it at the default batch.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rmcurate.stages.train import base_causal_lm

from benchmarks.known_pairs import known_pairs, write_export


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", help="a causal LM folder (repeat for several)")
    ap.add_argument("--pairs", type=int, default=780)
    ap.add_argument("--test", type=int, default=120)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rmcurate-bench-trainer-memory-"))
    try:
        models = args.model or [str(base_causal_lm(root / "home"))]
        data = write_export(root / "pairs", known_pairs(args.pairs, "other", max_prompt=600, reply_chars=(50, 1500)),
                            args.test)
        print("model | peak RSS | samples/s | test accuracy | train loss after")
        for n, model in enumerate(models):
            out = root / f"model-{n}"
            proc = subprocess.Popen([sys.executable, "-m", "rmcurate.cli", "train", "--data", str(data),
                                     "--objective", "generative", "--model", model, "--max-steps", str(args.steps),
                                     "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            err = proc.stderr.read().decode(errors="replace")
            _, status, usage = os.wait4(proc.pid, 0)
            if status != 0:
                sys.exit(f"training {model} failed: {err.strip()[-2000:]}")
            m = json.loads((out / "metrics.json").read_text())
            peak = usage.ru_maxrss * 1024
            print(f"{Path(model).name} | {peak / 2**30:.2f} GiB ({peak / 1e9:.2f} GB) | {m['samples_per_s']:.2f} | "
                  f"{m['test']['pairwise_accuracy']:.3f} | {m['train_loss_after']:.4f}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
