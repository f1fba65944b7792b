"""Reading an export directory: its manifest says the format, its shards hold the rows."""
import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from rmcurate.schemas.exports import render

OBJECTIVE_FORMATS = {"pairwise": ("trl", "openrlhf"), "generative": ("trl", "openrlhf"), "ordinal": ("ordinal",),
                     "implicit": ("implicit",)}
# How the implicit objective turns actions into a reward (trainer/implicit.py).
ESTIMATORS = ("implicitrm", "naive", "ips", "dr")


class DataError(ValueError):
    """The export directory cannot train this objective."""


def read_split(export_dir: Path, split: str) -> tuple[str, list[dict]]:
    """(format, rows of one split), in shard order."""
    manifest_path = export_dir / "manifest.json"
    if not manifest_path.exists():
        raise DataError(f"{export_dir} holds no manifest.json: pass a directory written by `rmcurate export`")
    manifest = json.loads(manifest_path.read_text())
    rows: list[dict] = []
    for shard in manifest["shards"]:
        if shard["split"] != split:
            continue
        path = export_dir / shard["name"]
        if path.suffix == ".jsonl":
            rows += [json.loads(line) for line in path.read_text().splitlines() if line]
        else:
            rows += pq.read_table(path).to_pylist()
    return manifest["format"], rows


# The propensity features of the implicit objective (trainer/implicit.py).
FEATURES = ("position", "response_chars", "has_code", "has_list", "user_events", "user_replies")


def feature_matrix(rows: list[dict]) -> np.ndarray:
    """The propensity features of export rows, as numbers: counts on a log scale."""
    out = np.zeros((len(rows), len(FEATURES)), dtype=np.float32)
    for i, r in enumerate(rows):
        out[i] = [math.log1p(r["position"]), math.log1p(r["response_chars"]), float(r["has_code"]),
                  float(r.get("has_list", False)), math.log1p(r["user_events"]), math.log1p(r["user_replies"])]
    return out


def implicit_targets(rows: list[dict]) -> dict:
    """What the implicit objective learns from (acted, explicit negatives, propensity features) and,
    in a simulated log only, the truth it is scored against."""
    truth = [r.get("simulated_preferred") for r in rows]
    known = bool(rows) and all(t is not None for t in truth)
    return {
        "acted": np.array([r["acted"] for r in rows], dtype=np.float32),
        "negative": np.array([r["thumbs_down"] or r["regenerated"] for r in rows], dtype=np.float32),
        "z": feature_matrix(rows),
        "truth": np.array(truth, dtype=bool) if known else None,
        "truth_p": np.array([r["simulated_preference"] for r in rows], dtype=float) if known else None,
        "rows": [{"position": r["position"], "has_code": r["has_code"], "acted": r["acted"]} for r in rows],
    }


def examples(fmt: str, rows: list[dict]) -> tuple[list[list[str]], list[int] | dict | None]:
    """(texts per example, targets): ordinal labels, the implicit targets, or None for pairwise
    (pairwise examples are [chosen text, rejected text])."""
    if fmt == "trl":
        return [[render(r["prompt"] + r["chosen"]), render(r["prompt"] + r["rejected"])] for r in rows], None
    if fmt == "openrlhf":  # chosen and rejected already hold the conversation
        return [[render(r["chosen"]), render(r["rejected"])] for r in rows], None
    if fmt == "ordinal":
        return [[r["text"]] for r in rows], [int(r["label"]) for r in rows]
    if fmt == "implicit":
        return [[r["text"]] for r in rows], implicit_targets(rows)
    raise DataError(f"no examples for format {fmt!r}")


def load(export_dir: Path, objective: str, split: str) -> tuple[list[list[str]], list[int] | None]:
    fmt, rows = read_split(export_dir, split)
    if fmt not in OBJECTIVE_FORMATS[objective]:
        want = " or ".join(OBJECTIVE_FORMATS[objective])
        raise DataError(f"objective {objective!r} trains on {want} exports; {export_dir} is {fmt!r}")
    if fmt == "implicit" and split == "train" and not any(r["acted"] for r in rows):
        raise DataError(f"{export_dir} has no reply anyone acted on: the implicit objective needs an event log "
                        "(ingest one, then export again)")
    return examples(fmt, rows)
