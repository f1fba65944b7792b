"""Reading an export directory: its manifest says the format, its shards hold the rows."""
import json
from pathlib import Path

import pyarrow.parquet as pq

from schemas.exports import render

OBJECTIVE_FORMATS = {"pairwise": ("trl", "openrlhf"), "ordinal": ("ordinal",), "implicit": ("implicit",)}


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


def examples(fmt: str, rows: list[dict]) -> tuple[list[list[str]], list[int] | None]:
    """(texts per example, ordinal labels or None). Pairwise examples are [chosen text, rejected text]."""
    if fmt == "trl":
        return [[render(r["prompt"] + r["chosen"]), render(r["prompt"] + r["rejected"])] for r in rows], None
    if fmt == "openrlhf":  # chosen and rejected already hold the conversation
        return [[render(r["chosen"]), render(r["rejected"])] for r in rows], None
    if fmt == "ordinal":
        return [[r["text"]] for r in rows], [int(r["label"]) for r in rows]
    raise DataError(f"no examples for format {fmt!r}")


def load(export_dir: Path, objective: str, split: str) -> tuple[list[list[str]], list[int] | None]:
    fmt, rows = read_split(export_dir, split)
    if fmt not in OBJECTIVE_FORMATS[objective]:
        want = " or ".join(OBJECTIVE_FORMATS[objective])
        raise DataError(f"objective {objective!r} trains on {want} exports; {export_dir} is {fmt!r}")
    return examples(fmt, rows)
