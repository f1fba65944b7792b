"""Writing an export: Parquet (or JSONL) shards, manifest.json and a dataset card."""
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import arrow_schema
from schemas.exports import ROW_MODELS, SPLITS
from warehouse.ingest import content_hash


def write_shards(out: Path, fmt: str, split_rows: dict[str, list[dict]], shard_rows: int, jsonl: bool) -> list[dict]:
    """data/<split>-NNNNN-of-NNNNN.<ext>. An empty split gets no shard: `datasets` cannot load a
    Parquet file of no rows (nor an empty JSONL), and the card lists only the splits with rows."""
    schema = arrow_schema(ROW_MODELS[fmt])
    (out / "data").mkdir(parents=True)
    shards = []
    for split in SPLITS:
        rows = split_rows[split]
        n = -(-len(rows) // shard_rows)
        for i in range(n):
            part = rows[i * shard_rows:(i + 1) * shard_rows]
            name = f"data/{split}-{i:05d}-of-{n:05d}.{'jsonl' if jsonl else 'parquet'}"
            if jsonl:
                (out / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part))
            else:  # no timestamps in the file, so the same rows give the same bytes
                pq.write_table(pa.Table.from_pylist(part, schema=schema), out / name, compression="zstd")
            shards.append({"name": name, "split": split, "rows": len(part), "sha256": content_hash(out / name)})
    return shards


def _loading(fmt: str, ext: str, splits: list[str]) -> str:
    use = {
        "trl": "trl.RewardTrainer(model, train_dataset=ds['train'], ...)  # or DPOTrainer: conversational format",
        "openrlhf": "# openrlhf.cli.train_rm --dataset DIR --chosen_key chosen --rejected_key rejected "
                    "--apply_chat_template  (no --prompt_key: chosen and rejected hold the whole conversation)",
        "ordinal": "rmcurate train --data DIR --objective ordinal",
        "implicit": "rmcurate train --data DIR --objective implicit",
    }[fmt]
    builder = "json" if ext == "jsonl" else "parquet"
    files = ", ".join(f"'{s}': 'DIR/data/{s}-*.{ext}'" for s in splits)
    return f"```python\nfrom datasets import load_dataset\nds = load_dataset('{builder}', data_files={{{files}}})\n{use}\n```"


def write_card(out: Path, manifest: dict) -> None:
    fmt, ext = manifest["format"], "jsonl" if manifest["jsonl"] else "parquet"
    counts = "\n".join(f"| {split} | {c['rows']} | " + ", ".join(f"{k}: {v}" for k, v in c["labels"].items()) + " |"
                       for split, c in manifest["splits"].items())
    dropped = ", ".join(f"{k}: {v}" for k, v in manifest["dropped"].items()) or "none"
    repaired = ", ".join(f"{k}: {v}" for k, v in manifest.get("repaired", {}).items()) or "none"
    filters = "\n".join(f"- {k}: {v}" for k, v in manifest["filters"].items())
    splits = [s for s, c in manifest["splits"].items() if c["rows"]]  # an empty split has no files to name
    files = "".join(f"\n  - split: {s}\n    path: data/{s}-*.{ext}" for s in splits)
    configs = f"configs:\n- config_name: default\n  data_files:{files}\n" if splits else ""
    out.joinpath("README.md").write_text(f"""---
{configs}---
# rmcurate export: {fmt}

Reward-model training data curated by rmcurate from what chat users did, read from
warehouse snapshot `{manifest['snapshot']}` (seed {manifest['seed']}, code {manifest['code_version']}).
Row layout: `schemas/exports.py`, class `{ROW_MODELS[fmt].__name__}`.

| split | rows | labels |
|---|---|---|
{counts}

The split is by conversation: no conversation has rows in both splits.
Removed before the split: {dropped}. Prompts repaired so every chat template accepts them: {repaired}. Personal data and credentials ({', '.join(manifest['pii_scrubbed'])}) were
replaced by placeholders such as [EMAIL], [PHONE] and [SECRET] in every text field; user ids are
pseudonyms keyed by the warehouse's own salt.

Filters:
{filters}

## Loading

{_loading(fmt, ext, splits) if splits else "This export has no rows."}

Labels come from LLM judges and generators named in manifest.json; a small judge
model gives noisy labels. Check `manifest.json` for shard checksums.
""")
