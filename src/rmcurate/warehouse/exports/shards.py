"""Writing an export: Parquet (or JSONL) shards, manifest.json and a dataset card.

A shard whose rows are the same as a shard an earlier export wrote (the same row keys in the
same order, the same format and code) is carried over: a hard link to that file, as snapshots
share their unchanged parts. Rows arrive in the order the warehouse got them
(warehouse/exports/rows.py), so a night with 1% new rows rewrites only each split's last shard.
An export's files must therefore be read, never edited in place: an edit would show in every
export that shares the file.
"""
import hashlib
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rmcurate.schemas import arrow_schema
from rmcurate.schemas.exports import ROW_MODELS, SPLITS
from rmcurate.warehouse.home import link_or_copy
from rmcurate.warehouse.ingest import content_hash

CODE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]  # how a shard's bytes are written


def shard_digests(keys: list[str], shard_rows: int, tag: str) -> list[str]:
    """One digest per shard of a split whose rows have these keys in this order: what identifies
    its file. `tag` names the format, the file type and the code that prepared the rows."""
    return [hashlib.sha256("\n".join([tag, CODE, *keys[i:i + shard_rows]]).encode()).hexdigest()
            for i in range(0, len(keys), shard_rows)]


class ShardIndex:
    """digest -> the last file written with those rows (path, rows, sha256, size, mtime), kept as
    shards.json beside a format's row cache. An entry whose file has gone or changed is not used."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.entries = json.loads(path.read_text())
        except (OSError, ValueError):  # none yet, or unreadable: nothing is carried over
            self.entries = {}

    def find(self, digest: str) -> dict | None:
        entry = self.entries.get(digest)
        if entry is None:
            return None
        try:
            st = os.stat(entry["path"])
        except OSError:
            return None
        return entry if (st.st_size, st.st_mtime_ns) == (entry["size"], entry["mtime_ns"]) else None

    def save(self, out: Path, shards: list[dict], digests: list[str]) -> None:
        """Index the shards an export just wrote at `out` (replacing what was indexed before)."""
        entries = {}
        for shard, digest in zip(shards, digests):
            path = (out / shard["name"]).resolve()
            st = path.stat()
            entries[digest] = {"path": str(path), "rows": shard["rows"], "sha256": shard["sha256"],
                               "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        tmp = self.path.with_suffix(".partial")
        tmp.write_text(json.dumps(entries))
        tmp.rename(self.path)
        self.entries = entries


ROW_GROUP = 4096  # rows per Parquet row group: a shard's bytes depend on its rows alone, not on how they arrived


class ShardWriter:
    """One split's shards, data/<split>-NNNNN-of-NNNNN.<ext>, written as its rows arrive in order, a row
    group at a time, so an export never holds more than a window of rows. `total`, the split's row
    count, is known beforehand: it names the shards. `carried`: shard number -> the ShardIndex entry
    of an earlier file with the same rows, linked instead of written (the rows of those shards are
    not passed to `write`)."""

    def __init__(self, out: Path, fmt: str, split: str, total: int, shard_rows: int, jsonl: bool,
                 carried: dict[int, dict] | None = None):
        self.out, self.split, self.shard_rows, self.jsonl = out, split, shard_rows, jsonl
        self.schema = arrow_schema(ROW_MODELS[fmt])
        self.n = -(-total // shard_rows)
        self.carried = carried or {}
        self.shards: list[dict] = []
        self._file, self._name, self._rows = None, None, 0
        self._pending: list[pa.Table] = []  # rows not yet written: less than a row group
        self._pending_rows = 0

    def _name_of(self, i: int) -> str:
        return f"data/{self.split}-{i:05d}-of-{self.n:05d}.{'jsonl' if self.jsonl else 'parquet'}"

    def _link_carried(self) -> None:
        while len(self.shards) in self.carried:
            entry, name = self.carried[len(self.shards)], self._name_of(len(self.shards))
            link_or_copy(Path(entry["path"]), self.out / name)
            self.shards.append({"name": name, "split": self.split, "rows": entry["rows"], "sha256": entry["sha256"]})

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self._pending.append(table)
            self._pending_rows += table.num_rows
        while self._pending_rows and self._pending_rows >= self._group_rows():
            self._write_group(self._group_rows())

    def _group_rows(self) -> int:
        """Rows in the next row group: a full one, or what is left of the shard."""
        return min(ROW_GROUP, self.shard_rows - self._rows)

    def _write_group(self, n: int) -> None:
        pending = pa.concat_tables(self._pending)
        piece, rest = pending.slice(0, n).cast(self.schema).combine_chunks(), pending.slice(n)
        self._pending, self._pending_rows = ([rest] if rest.num_rows else []), rest.num_rows
        if self._file is None:
            self._open()
        if self.jsonl:
            self._file.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in piece.to_pylist()))
        else:
            self._file.write_table(piece)
        self._rows += piece.num_rows
        if self._rows == self.shard_rows:
            self._close()

    def _open(self) -> None:
        self._link_carried()
        i = len(self.shards)
        if i >= self.n:
            raise ValueError(f"more {self.split} rows than the {self.n} shards named for them")
        self._name = self._name_of(i)
        path = self.out / self._name
        # no timestamps in a Parquet file, so the same rows give the same bytes
        self._file = path.open("w") if self.jsonl else pq.ParquetWriter(path, self.schema, compression="zstd")

    def _close(self) -> None:
        self._file.close()
        self.shards.append({"name": self._name, "split": self.split, "rows": self._rows,
                            "sha256": content_hash(self.out / self._name)})
        self._file, self._rows = None, 0

    def close(self) -> list[dict]:
        while self._pending_rows:  # the last rows, fewer than a row group
            self._write_group(min(self._pending_rows, self._group_rows()))
        if self._file is not None:
            self._close()
        self._link_carried()
        if len(self.shards) != self.n:
            raise ValueError(f"{self.split}: {len(self.shards)} shards written, {self.n} named")
        return self.shards


def write_shards(out: Path, fmt: str, split_rows: dict[str, pa.Table | list[dict]], shard_rows: int,
                 jsonl: bool) -> list[dict]:
    """Shards of rows already in memory (rows given as dicts are converted first). An empty split gets
    no shard: `datasets` cannot load a Parquet file of no rows (nor an empty JSONL), and the card lists
    only the splits with rows."""
    (out / "data").mkdir(parents=True, exist_ok=True)
    shards = []
    for split in SPLITS:
        rows = split_rows[split]
        if isinstance(rows, list):
            rows = pa.Table.from_pylist(rows, schema=arrow_schema(ROW_MODELS[fmt]))
        writer = ShardWriter(out, fmt, split, rows.num_rows, shard_rows, jsonl)
        writer.write(rows)
        shards += writer.close()
    return shards


# What each source's conversations are published under; an export of several is "other".
SOURCE_LICENSES = {"wildchat": "odc-by", "lmsys": "other", "sharegpt": "other", "openai": "other"}
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
    return ("Follow-up labels behind these rows were judged by (templates in `prompts/files/`):\n\n"
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
