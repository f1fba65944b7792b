"""Writing an export: Parquet (or JSONL) shards, manifest.json and a dataset card."""
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import arrow_schema
from schemas.exports import ROW_MODELS, SPLITS
from warehouse.ingest import content_hash


def write_shards(out: Path, fmt: str, split_rows: dict[str, pa.Table | list[dict]], shard_rows: int,
                 jsonl: bool) -> list[dict]:
    """data/<split>-NNNNN-of-NNNNN.<ext>, written a slice of Arrow rows at a time (rows given as dicts
    are converted first). An empty split gets no shard: `datasets` cannot load a Parquet file of no
    rows (nor an empty JSONL), and the card lists only the splits with rows."""
    schema = arrow_schema(ROW_MODELS[fmt])
    (out / "data").mkdir(parents=True)
    shards = []
    for split in SPLITS:
        rows = split_rows[split]
        if isinstance(rows, list):
            rows = pa.Table.from_pylist(rows, schema=schema)
        n = -(-rows.num_rows // shard_rows)
        for i in range(n):
            part = rows.slice(i * shard_rows, shard_rows).cast(schema).combine_chunks()
            name = f"data/{split}-{i:05d}-of-{n:05d}.{'jsonl' if jsonl else 'parquet'}"
            if jsonl:
                (out / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part.to_pylist()))
            else:  # no timestamps in the file, so the same rows give the same bytes
                pq.write_table(part, out / name, compression="zstd")
            shards.append({"name": name, "split": split, "rows": part.num_rows, "sha256": content_hash(out / name)})
    return shards


# What each source's conversations are published under; an export of several is "other".
SOURCE_LICENSES = {"wildchat": "odc-by", "sharegpt": "other"}
TASKS = {"trl": ["text-generation", "text-classification"], "openrlhf": ["text-generation", "text-classification"],
         "ordinal": ["text-classification"], "implicit": ["text-classification"]}
TAGS = {"trl": ["preference", "dpo"], "openrlhf": ["preference"], "ordinal": ["ordinal", "user-feedback"],
        "implicit": ["implicit-feedback", "clicks"]}
OBJECTIVE = {"trl": "pairwise", "openrlhf": "pairwise", "ordinal": "ordinal", "implicit": "implicit"}


def size_category(n: int) -> str:
    """The Hub's size bucket: n<1K, 1K<n<10K, ..."""
    if n < 1000:
        return "n<1K"
    for low, high in (("1K", "10K"), ("10K", "100K"), ("100K", "1M"), ("1M", "10M"), ("10M", "100M"), ("100M", "1B")):
        if n < 10 * _count(low):
            return f"{low}<n<{high}"
    return "n>1T"


def _count(label: str) -> int:
    return int(label[:-1]) * {"K": 1_000, "M": 1_000_000, "B": 1_000_000_000}[label[-1]]


def card_data(manifest: dict):
    """The card's YAML header, through huggingface_hub's own DatasetCardData (the Hub validates it)."""
    from huggingface_hub import DatasetCardData

    fmt, ext = manifest["format"], "jsonl" if manifest["jsonl"] else "parquet"
    sources = manifest.get("provenance", {}).get("sources", {})
    licenses = {SOURCE_LICENSES.get(s, "other") for s in sources}
    languages = [code for code in manifest.get("provenance", {}).get("languages", {}) if code.isalpha()]
    splits = [s for s, c in manifest["splits"].items() if c["rows"]]  # an empty split has no files to name
    n = sum(c["rows"] for c in manifest["splits"].values())
    extra = {"configs": [{"config_name": "default",
                          "data_files": [{"split": s, "path": f"data/{s}-*.{ext}"} for s in splits]}]} if splits else {}
    return DatasetCardData(
        license=licenses.pop() if len(licenses) == 1 else "other", language=languages or None,
        task_categories=TASKS[fmt], tags=["reward-modeling", "rlhf", "rmcurate", *TAGS[fmt]],
        size_categories=[size_category(n)], pretty_name=f"rmcurate {fmt} export {manifest['snapshot']}", **extra)


def _snippets(fmt: str, ext: str, splits: list[str]) -> str:
    """Loading and training snippets that run as written from the export's folder (tests run them)."""
    builder = "json" if ext == "jsonl" else "parquet"
    files = ", ".join(f"'{s}': 'data/{s}-*.{ext}'" for s in splits)
    trainers = {
        "trl": "# TRL: trl.RewardTrainer(model, train_dataset=ds['train'], processing_class=tokenizer) or DPOTrainer;\n"
               "# the rows are conversational (prompt, chosen, rejected lists of messages).",
        "openrlhf": "# OpenRLHF: openrlhf.cli.train_rm --dataset . --chosen_key chosen --rejected_key rejected "
                    "--apply_chat_template\n# (no --prompt_key: chosen and rejected hold the whole conversation).",
        "ordinal": "", "implicit": "",
    }[fmt]
    python = f"from datasets import load_dataset\n\nds = load_dataset('{builder}', data_files={{{files}}})\n" \
             f"print(ds)\n{trainers}".rstrip()
    return (f"In this folder:\n\n```python\n{python}\n```\n\nA small reward model on it, to check that it teaches "
            f"something (`metrics.json` has accuracy before and after):\n\n```sh\n"
            f"rmcurate train --data . --objective {OBJECTIVE[fmt]} --max-steps 20 --out rm-check\n```")


def _judges(manifest: dict) -> str:
    rows = manifest.get("provenance", {}).get("judges", [])
    if not rows:
        return "No judge labelled the turns behind these rows."
    lines = "\n".join(f"| {j['model']} | {j['template']} v{j['template_version']} | {j['judgements']} |" for j in rows)
    return ("Follow-up labels behind these rows were judged by (templates in `judges/templates/`):\n\n"
            f"| judge model | template | judgements |\n|---|---|---|\n{lines}")


def write_card(out: Path, manifest: dict) -> None:
    from huggingface_hub import DatasetCard

    fmt, ext = manifest["format"], "jsonl" if manifest["jsonl"] else "parquet"
    counts = "\n".join(f"| {split} | {c['rows']} | " + ", ".join(f"{k}: {v}" for k, v in c["labels"].items()) + " |"
                       for split, c in manifest["splits"].items())
    dropped = ", ".join(f"{k}: {v}" for k, v in manifest["dropped"].items()) or "none"
    repaired = ", ".join(f"{k}: {v}" for k, v in manifest.get("repaired", {}).items()) or "none"
    filters = "\n".join(f"- {k}: {v}" for k, v in manifest["filters"].items())
    by_source = manifest.get("provenance", {}).get("sources", {})
    sources = ", ".join(f"{s} ({n} conversations, license: {SOURCE_LICENSES.get(s, 'unknown')})"
                        for s, n in by_source.items()) or "none"
    if "sharegpt" in by_source:
        sources += (". ShareGPT conversations were shared by users without stated terms: check before you "
                    "publish anything built on them")
    splits = [s for s, c in manifest["splits"].items() if c["rows"]]
    body = f"""
# rmcurate export: {fmt}

Reward-model training data curated by rmcurate from what chat users did, read from
warehouse snapshot `{manifest['snapshot']}` (seed {manifest['seed']}, code {manifest['code_version']}).
Row layout: `schemas/exports.py`, class `{ROW_MODELS[fmt].__name__}`.

| split | rows | labels |
|---|---|---|
{counts}

The split is by conversation: no conversation has rows in both splits.
Removed before the split: {dropped}. Prompts repaired so every chat template accepts them: {repaired}.
Personal data and credentials ({', '.join(manifest['pii_scrubbed'])}) were replaced by placeholders
such as [EMAIL], [PHONE] and [SECRET] in every text field; user ids are pseudonyms keyed by the
warehouse's own salt.

## Sources and labels

Conversations from: {sources}.

{_judges(manifest)}

A small judge model gives noisy labels: the 135M model embedded for tests agrees with careful
human labels no better than chance. Measure a judge (`rmcurate judge eval`) before trusting it.

Filters:
{filters}

## Loading

{_snippets(fmt, ext, splits) if splits else "This export has no rows."}

`manifest.json` has the shard checksums.
"""
    DatasetCard(f"---\n{card_data(manifest).to_yaml()}\n---\n{body}").save(out / "README.md")
