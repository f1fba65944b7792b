"""Trainer throughput: our trainer's samples/s against TRL's RewardTrainer, same model and data.

    python -m benchmarks.trainer [--device cpu|cuda] [--steps 20] [--batch-size 8] [--model PATH]

Both train the pairwise objective on the same `trl` export (synthetic pairs short
enough that neither trainer truncates or filters) with the same batch size, length
limit and precision (fp32 on CPU; bf16 and gradient checkpointing on a GPU). TRL
renders rows with a chat template equal to our `render`, so both see the same
tokens. A short warm-up run goes first. Printed: samples/s of each and the ratio
ours / TRL (target >= 1.0), then the implicit objective's samples/s on the same
replies' implicit export (ImplicitRM: one text and the propensity model per sample).
"""
import argparse
import atexit
import shutil
import tempfile
import time
from pathlib import Path

import torch

from rmcurate.trainer.train import TrainConfig, default_model, train
from rmcurate.warehouse import connect
from rmcurate.warehouse.exports import export

from benchmarks.export import SNAPSHOT, build

RENDER_TEMPLATE = ("{% for m in messages %}{{ m['role'] | capitalize }}: {{ m['content'] | trim }}"
                   "{% if not loop.last %}\n\n{% endif %}{% endfor %}")


def trl_samples_per_s(data: Path, model_path: str, args, out: Path) -> float:
    from datasets import load_dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    ds = load_dataset("parquet", data_files=str(data / "data/train-*.parquet"))["train"]
    tok = AutoTokenizer.from_pretrained(model_path)
    tok.chat_template = RENDER_TEMPLATE
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=1)
    gpu = args.device == "cuda"
    cfg = RewardConfig(output_dir=str(out), report_to="none", max_steps=args.steps,
                       per_device_train_batch_size=args.batch_size, learning_rate=5e-5, max_length=args.max_length,
                       use_cpu=not gpu, bf16=gpu, gradient_checkpointing=gpu, logging_steps=10**6,
                       save_strategy="no", dataloader_num_workers=0, seed=0)
    trainer = RewardTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok)
    t0 = time.perf_counter()
    trainer.train()
    return args.steps * args.batch_size / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--conversations", type=int, default=500)
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="rmcurate-bench-trainer-"))
    atexit.register(shutil.rmtree, home, True)  # the disk is small: leave nothing behind
    build(home, args.conversations, max_chars=400)
    con = connect(home)
    export(con, home, "trl", home / "trl", snapshot=SNAPSHOT)
    export(con, home, "implicit", home / "implicit", snapshot=SNAPSHOT)
    con.close()
    model = args.model or default_model()
    cfg = TrainConfig(objective="pairwise", model=model, max_steps=args.steps, epochs=1000,
                      batch_size=args.batch_size, max_length=args.max_length, device=args.device)
    # Warm-up (kernel selection, allocator, file cache) so neither side pays it alone.
    train(home / "trl", home / "warm-up", TrainConfig(**{**cfg.__dict__, "max_steps": 3}), log=lambda _: None)
    ours = train(home / "trl", home / "ours", cfg, log=lambda _: None)["samples_per_s"]
    theirs = trl_samples_per_s(home / "trl", model, args, home / "trl-run")
    implicit = train(home / "implicit", home / "implicit-run",
                     TrainConfig(**{**cfg.__dict__, "objective": "implicit", "max_test": 200}),
                     log=lambda _: None)["samples_per_s"]
    print(f"pairwise training, {args.steps} steps of {args.batch_size} pairs, max length {args.max_length}, "
          f"{args.device}, model {Path(model).name}")
    print(f"  rmcurate trainer: {ours:7.1f} samples/s")
    print(f"  TRL RewardTrainer: {theirs:7.1f} samples/s")
    print(f"  ratio ours / TRL: {ours / theirs:.2f} (target >= 1.0)")
    print(f"  implicit objective (ImplicitRM, one text per sample): {implicit:7.1f} samples/s, "
          f"{implicit / ours:.2f}x the pairwise rate")


if __name__ == "__main__":
    main()
