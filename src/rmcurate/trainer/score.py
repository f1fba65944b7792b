"""Score texts with a trained reward model: best-of-n, audits, a second look at an export.

    rmcurate score --model CKPT --data PATH --out FILE.parquet

PATH is a Parquet or JSONL file with a `text` column, or an export folder (both splits). The
reward is what the checkpoint's objective reads out: the expected level 1..4 for `ordinal`,
the scalar reward for `pairwise` and `implicit`. Pair exports (trl, openrlhf) get a reward for
each side. A `generative` checkpoint compares two replies, so it scores pair exports only: one
`p_chosen_better` per pair, both orders averaged.
"""
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from rmcurate.schemas.exports import render
from rmcurate.trainer.data import DataError, read_split
from rmcurate.trainer.losses import ordinal_score


def objective_of(checkpoint: Path) -> str:
    metrics = checkpoint / "metrics.json"
    if not metrics.exists():
        raise DataError(f"{checkpoint} holds no metrics.json: pass a folder written by `rmcurate train`")
    return json.loads(metrics.read_text())["objective"]


def inputs(data: Path) -> tuple[list[dict], list[str]]:
    """(rows to write, with their ids; text columns to score in each) from a file or an export folder."""
    if data.is_dir():
        rows = []
        for split in ("train", "test"):
            fmt, part = read_split(data, split)
            for i, r in enumerate(part):
                if fmt in ("trl", "openrlhf"):
                    prompt = r["prompt"] if fmt == "trl" else []
                    rows.append({"row": i, "split": split, "text_chosen": render(prompt + r["chosen"]),
                                 "text_rejected": render(prompt + r["rejected"])})
                else:
                    rows.append({"item_id": r["item_id"], "split": split, "text": r["text"]})
        sides = ["text_chosen", "text_rejected"] if rows and "text_chosen" in rows[0] else ["text"]
        return rows, sides
    if data.suffix == ".jsonl":
        rows = [json.loads(line) for line in data.read_text().splitlines() if line.strip()]
    elif data.suffix == ".parquet":
        rows = pq.read_table(data).to_pylist()
    else:
        raise DataError(f"{data}: pass a .parquet or .jsonl file with a text column, or an export folder")
    if rows and "text" not in rows[0]:
        raise DataError(f"{data} has no `text` column")
    return rows, ["text"]


@torch.no_grad()
def rewards(checkpoint: Path, texts: list[str], batch_size: int = 32, max_length: int = 512) -> list[float]:
    objective = objective_of(checkpoint)
    tok = AutoTokenizer.from_pretrained(checkpoint)
    tok.truncation_side = "left"  # as in training: keep the reply, drop the oldest history
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # little padding per batch
    out = [0.0] * len(texts)
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        enc = tok([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True,
                  return_tensors="pt")
        logits = model(**enc).logits.float()
        scores = ordinal_score(logits) if objective == "ordinal" else logits[:, 0]
        for i, s in zip(idx, scores.tolist()):
            out[i] = s
    return out


def score_pairs(checkpoint: Path, data: Path) -> list[dict]:
    """A generative checkpoint on a pair export: row, split and p_chosen_better."""
    from rmcurate.trainer.generative import p_chosen, pair_rows

    if not data.is_dir():
        raise DataError(f"{data}: a generative reward model compares two replies; pass a trl or openrlhf export")
    ids, pairs = [], []
    for split in ("train", "test"):
        part = pair_rows(data, split)
        ids += [(i, split) for i in range(len(part))]
        pairs += part
    return [{"row": i, "split": split, "p_chosen_better": p} for (i, split), p in zip(ids, p_chosen(checkpoint, pairs))]


def score(checkpoint: Path, data: Path, out: Path) -> int:
    """Write `out` (Parquet): the rows' ids and a reward per text; returns the number of rows."""
    if objective_of(checkpoint) == "generative":
        rows = score_pairs(checkpoint, data)
        out.parent.mkdir(parents=True, exist_ok=True)
        schema = pa.schema([("row", pa.int64()), ("split", pa.string()), ("p_chosen_better", pa.float64())])
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), out)
        return len(rows)
    rows, sides = inputs(data)
    for side in sides:
        name = "reward" if side == "text" else "reward_" + side.removeprefix("text_")
        for r, s in zip(rows, rewards(checkpoint, [r[side] for r in rows])):
            r[name] = s
    keep = [k for k in (rows[0] if rows else {}) if not k.startswith("text")]
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([{k: r.get(k) for k in keep} for r in rows]), out)
    return len(rows)
