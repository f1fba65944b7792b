"""GRAM's generative RM against the scalar Bradley-Terry RM, trained on the same pairs.

    python -m benchmarks.generative [--kinds shuffled,other] [--steps 20] [--batch-size 8] [--device cpu|cuda]

For each known-preference pairs set (benchmarks/known_pairs.py: `shuffled`, a reply against its
own words shuffled; `other`, a reply against a length-matched reply to another conversation),
both objectives train the same steps on the same train split and are scored on the same test
split. Printed per set and objective: samples/s (training steps only), pairwise accuracy before
and after, the length baseline, and for the generative RM its position consistency (how often
the two orders name the same reply) and accuracy from one order alone. Generative model:
SmolLM2-135M-Instruct, converted under a temporary home (--model for another causal LM);
scalar model: all-MiniLM-L6-v2. Same lr, eps 0.1 (PyTorch's convention) for both.
"""
import argparse
import atexit
import shutil
import tempfile
from pathlib import Path

import torch

from rmcurate.stages.train import base_causal_lm
from rmcurate.trainer.train import TrainConfig, train

from benchmarks.known_pairs import known_pairs, write_export


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kinds", default="shuffled,other")
    ap.add_argument("--pairs", type=int, default=200, help="train pairs")
    ap.add_argument("--test", type=int, default=40, help="test pairs")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--model", default=None, help="the generative objective's causal LM")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rmcurate-bench-generative-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    model = args.model or str(base_causal_lm(root / "home"))
    print(f"device {args.device}; {args.pairs} train / {args.test} test pairs; {args.steps} steps of "
          f"{args.batch_size}; generative model {model}")
    header = ("set", "objective", "samples/s", "acc before", "acc after", "length", "consistency before",
              "consistency after", "one order after")
    print(" | ".join(header))
    for kind in args.kinds.split(","):
        rows = known_pairs(args.pairs + args.test, kind, max_prompt=150, reply_chars=(50, 200))
        data = write_export(root / kind, rows, args.test)
        for objective in ("pairwise", "generative"):
            cfg = TrainConfig(objective=objective, model=model if objective == "generative" else None,
                              max_steps=args.steps, epochs=100, batch_size=args.batch_size, lr=args.lr,
                              max_length=384, device=args.device, loss_examples=8)
            m = train(data, root / f"{kind}-{objective}", cfg, log=lambda _: None)
            b, a = m["test_before"], m["test"]
            print(" | ".join(str(x) for x in (
                kind, objective, f"{m['samples_per_s']:.2f}", f"{b['pairwise_accuracy']:.3f}",
                f"{a['pairwise_accuracy']:.3f}", f"{m['length_baseline']['pairwise_accuracy']:.3f}",
                f"{b.get('position_consistency', float('nan')):.3f}", f"{a.get('position_consistency', float('nan')):.3f}",
                f"{a.get('accuracy_single_order', float('nan')):.3f}")), flush=True)
            shutil.rmtree(root / f"{kind}-{objective}", ignore_errors=True)  # a checkpoint is 540 MB


if __name__ == "__main__":
    main()
