"""Exports: training sets read from a warehouse snapshot, written as shards with a manifest.

    read rows (snapshot) -> prepare the new ones (scrub PII, repair prompts, sign) -> cache
    -> drop duplicates -> split by conversation -> shards

Rows a previous export prepared come from the cache (warehouse/exports/row_cache.py) as Arrow
columns; only new or changed rows are turned into Python dicts, scrubbed and signed.
"""
import json
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

import extractors.export
import extractors.pii
import schemas.exports
from extractors.export.chat import trainable_prompt
from extractors.export.dedup import exact_key, near_duplicates, signatures, words
from extractors.export.split import assign
from extractors.pii import KINDS, pseudonym, scrub_value
from schemas import arrow_schema
from schemas.exports import FORMATS, ROW_MODELS, SPLITS, Export, render
from schemas.tables import TABLES
from warehouse.exports import rows as source_rows
from warehouse.exports.row_cache import EXTRA, RowCache, cache_root, sig_column, sig_matrix, version
from warehouse.exports.rows import provenance, read_rows, with_text
from warehouse.exports.shards import write_card, write_shards
from warehouse.feedback import insert_models
from warehouse.home import latest_snapshot, salt, snapshots
from warehouse.ingest import content_hash


class ExportError(ValueError):
    """A problem the user can act on: no snapshot, unknown format, an output folder in the way."""


@cache  # one git call per process, not one per export
def code_version() -> str:
    version = metadata.version("rmcurate")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    return f"{version}+{commit}" if commit else version


def dedup_text(fmt: str, row: dict) -> str:
    """What makes a row distinct: the last user message and the replies, not the shared history.

    Later turns of one conversation repeat all earlier ones as history; comparing whole
    texts would call them near-duplicates of each other.
    """
    if fmt == "trl":
        return render(row["prompt"][-1:] + row["chosen"] + row["rejected"])
    if fmt == "openrlhf":
        return render(row["chosen"][-2:] + row["rejected"][-1:])
    if fmt == "ordinal":
        return f"{row['prompt'] or ''}\n\n{row['response']}\n\n{row['feedback']}"
    return render(row["prompt"][-1:] + [{"role": "assistant", "content": row["response"]}])


def chat_ready(fmt: str, rows: list[dict]) -> tuple[list[str | None], list[str | None]]:
    """Pair rows with prompts every chat template accepts, repaired in place: (drop reason per row,
    repair made per row). Other formats pass through."""
    reasons: list[str | None] = [None] * len(rows)
    repairs: list[str | None] = [None] * len(rows)
    if fmt not in ("trl", "openrlhf"):
        return reasons, repairs
    for i, row in enumerate(rows):
        prompt, repairs[i], reasons[i] = trainable_prompt(row["prompt"])
        if prompt is None:
            continue
        row["prompt"] = prompt
        if fmt == "openrlhf":  # chosen and rejected hold the conversation too
            row["chosen"], row["rejected"] = prompt + row["chosen"][-1:], prompt + row["rejected"][-1:]
    return reasons, repairs


def row_schema(fmt: str) -> pa.Schema:
    return arrow_schema(ROW_MODELS[fmt])


def prepare(fmt: str, items: list[dict], user_salt: bytes = b"", sign=signatures) -> pa.Table:
    """The cache's rows for new items: scrubbed, pseudonymised, repaired or given a drop reason,
    with the dedup key and MinHash signature of what makes each row distinct."""
    rows = [with_text(fmt, scrub_value(it["row"])) for it in items]
    for row in rows:
        if "user_id" in row:
            row["user_id"] = pseudonym(row["user_id"], user_salt)
    reasons, repairs = chat_ready(fmt, rows)
    word_lists = [words(dedup_text(fmt, row)) if why is None else [""] for row, why in zip(rows, reasons)]
    extra = {"_key": [it["key"] for it in items], "_conversations": [it["conversations"] for it in items],
             "_label": [str(it["label"]) for it in items], "_drop": reasons, "_repair": repairs,
             "_exact": [exact_key(ws) for ws in word_lists]}
    table = pa.Table.from_pylist(rows, schema=row_schema(fmt))
    for name, values in extra.items():
        table = table.append_column(EXTRA.field(name), pa.array(values, EXTRA.field(name).type))
    return table.append_column(EXTRA.field("_sig"), sig_column(sign(word_lists)))  # only new rows are signed


# The code a prepared row depends on: a change to any of these files starts a fresh cache.
PREPARE_SOURCES = [Path(__file__), Path(source_rows.__file__), Path(extractors.pii.__file__),
                   Path(schemas.exports.__file__), *Path(extractors.export.__file__).parent.glob("*.py")]


def prepared(home: Path, fmt: str, snapshot_dir: Path, user_salt: bytes, sign) -> tuple[pa.Table, dict, dict]:
    """(every row of the export as prepared, in a stable order; filters; what the cache did), preparing
    only rows the cache has not seen."""
    folder = cache_root(home) / f"{fmt}-{version(fmt, user_salt, PREPARE_SOURCES)}"
    with RowCache(folder) as cache:
        keys, new, filters = read_rows(snapshot_dir, fmt, known=cache.keys)
        cache.add(prepare(fmt, new, user_salt, sign))
        table = cache.take(keys) if keys else prepare(fmt, [], user_salt, sign)
    return table, filters, {"prepared": len(new), "from_cache": len(keys) - len(new),
                            "unreadable_parts_removed": cache.removed}


def select(fmt: str, table: pa.Table, seed: int, test_fraction: float):
    """Drop duplicates and rows on both sides of the split, split:
    (rows per split as Arrow tables, label counts per split, drops per reason, repairs per kind)."""
    reasons = table["_drop"].to_pylist()
    live = [i for i, why in enumerate(reasons) if why is None]  # a dropped row keeps no duplicate out
    exact = table["_exact"].to_pylist()
    sigs = sig_matrix(table["_sig"])
    for i, why in zip(live, near_duplicates([exact[i] for i in live], sigs[live])):
        reasons[i] = why
    splits = assign(table["_conversations"].to_pylist(), seed, test_fraction)
    for i, split in enumerate(splits):
        if split is None and reasons[i] is None:
            reasons[i] = "conversations on both sides of the split"
    labels = table["_label"].to_pylist()
    by_split: dict[str, pa.Table] = {}
    counts: dict[str, Counter] = {}
    columns = row_schema(fmt).names
    for s in SPLITS:
        mask = [why is None and split == s for split, why in zip(splits, reasons)]
        by_split[s] = table.filter(pa.array(mask, pa.bool_())).select(columns)
        counts[s] = Counter(label for label, m in zip(labels, mask) if m)
    dropped = dict(Counter(why for why in reasons if why))
    repaired = dict(Counter(r for r in table["_repair"].to_pylist() if r))
    return by_split, {s: dict(sorted(c.items())) for s, c in counts.items()}, dropped, repaired


def check_all_out(out: Path) -> None:
    """`--format all` writes one subfolder per format: the folder may hold only earlier exports."""
    if not out.exists():
        return
    strangers = sorted(p.name for p in out.iterdir()
                       if not (p.name in FORMATS and p.is_dir() and (p / "manifest.json").exists()))
    if strangers:
        raise ExportError(f"{out} holds {strangers[0]!r}, which is not an earlier export: choose another --out")


def export(con, home: Path, fmt: str, out: Path, snapshot: str | None = None, seed: int = 0,
           test_fraction: float = 0.1, shard_rows: int = 50_000, jsonl: bool = False, sign=signatures) -> Export:
    """Write one export and record it in `exports`. `con` is a write connection to the warehouse;
    `sign`: the MinHash signer for dedup (flows/scaleout.py spreads it over a cluster)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if not 0 <= test_fraction < 1:
        raise ExportError(f"test fraction must be in [0, 1), got {test_fraction}")
    snapshot = snapshot or latest_snapshot(home)
    if snapshot is None:
        raise ExportError(f"no snapshot under {snapshots(home)}: run `rmcurate snapshot` or `rmcurate run` first")
    snapshot_dir = snapshots(home) / snapshot
    if not (snapshot_dir / "manifest.json").exists():
        raise ExportError(f"no snapshot {snapshot!r} under {snapshots(home)}")
    if out.exists() and any(out.iterdir()) and not (out / "manifest.json").exists():
        raise ExportError(f"{out} is not empty and holds no earlier export: choose another --out")

    table, filters, row_cache = prepared(home, fmt, snapshot_dir, salt(home), sign)
    by_split, labels, dropped, repaired = select(fmt, table, seed, test_fraction)
    n_kept = sum(t.num_rows for t in by_split.values())

    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shards = write_shards(tmp, fmt, by_split, shard_rows, jsonl)
    manifest = {
        "format": fmt, "snapshot": snapshot, "seed": seed, "test_fraction": test_fraction, "jsonl": jsonl,
        "shard_rows": shard_rows, "n_read": table.num_rows, "row_cache": row_cache, "dropped": dropped, "repaired": repaired,
        "splits": {s: {"rows": len(by_split[s]), "labels": labels[s]} for s in SPLITS},
        "shards": shards, "filters": filters, "pii_scrubbed": list(KINDS), "user_ids": "pseudonymised (HMAC-SHA256, per-warehouse salt)",
        "code_version": code_version(), "created_at": datetime.now(UTC).isoformat(),
        # of the conversations behind the rows read: sources, languages, the judges that labelled them
        "provenance": provenance(snapshot_dir, set(pc.list_flatten(table["_conversations"]).to_pylist())),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    write_card(tmp, manifest)
    if out.exists():
        shutil.rmtree(out)  # an earlier export in the same place: replaced whole, never mixed
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out)

    now = datetime.now(UTC)
    record = Export(export_id=f"{fmt}:{snapshot}:{seed}:{now:%Y%m%dT%H%M%S.%fZ}", format=fmt,
                    out_dir=str(out.resolve()), snapshot=snapshot, seed=seed, n_rows=n_kept,
                    n_train=by_split["train"].num_rows, n_test=by_split["test"].num_rows, n_dropped=table.num_rows - n_kept,
                    manifest_sha256=content_hash(out / "manifest.json"), created_at=now)
    insert_models(con, TABLES.exports, [record])
    return record
