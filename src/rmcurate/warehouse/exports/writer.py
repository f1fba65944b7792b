"""Writing one export, for one format: the steps the package docstring lists, in order."""
import json
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import rmcurate.rules.credentials
import rmcurate.rules.export
import rmcurate.rules.identifiers
import rmcurate.rules.pii
import rmcurate.schemas.exports
import rmcurate.warehouse.exports.row_cache as cache_layout
import rmcurate.warehouse.exports.rows as source_rows
from rmcurate.rules.export.chat import trainable_prompt
from rmcurate.rules.export.dedup import exact_key, near_duplicates, signatures, words
from rmcurate.rules.export.split import assign
from rmcurate.rules.pii import KINDS, pseudonym, scrub_value
from rmcurate.schemas import arrow_schema
from rmcurate.schemas.exports import FORMATS, ROW_MODELS, SPLITS, Export, render
from rmcurate.schemas.tables import TABLES
from rmcurate.warehouse.exports.row_cache import (EXTRA, DamagedPart, RowCache, cache_root, sig_column, sig_matrix,
                                                  take, version)
from rmcurate.warehouse.exports.rows import provenance, read_rows, with_text
from rmcurate.warehouse.exports.shards import ShardIndex, ShardWriter, shard_digests, write_card
from rmcurate.warehouse.feedback import insert_models
from rmcurate.warehouse.home import latest_snapshot, salt, snapshots
from rmcurate.warehouse.ingest import content_hash


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


# The code a prepared row depends on, or the cache's layout: a change to any of these files starts a
# fresh cache.
PREPARE_SOURCES = [Path(__file__), Path(source_rows.__file__), Path(cache_layout.__file__),
                   Path(rmcurate.rules.pii.__file__), Path(rmcurate.rules.credentials.__file__),
                   Path(rmcurate.rules.identifiers.__file__), Path(rmcurate.schemas.exports.__file__),
                   *Path(rmcurate.rules.export.__file__).parent.glob("*.py")]


def prepared(cache: RowCache, fmt: str, snapshot_dir: Path, user_salt: bytes, sign) -> tuple[pa.Table, dict, dict]:
    """(the light columns of every row of the export, located in the cache, in a stable order; filters;
    what the cache did), preparing only rows the cache has not seen."""
    keys, new, filters = read_rows(snapshot_dir, fmt, known=cache.keys())
    cache.add(prepare(fmt, new, user_salt, sign))
    return cache.locate(keys), filters, {"prepared": len(new), "from_cache": len(keys) - len(new)}


def deduplicate(cache: RowCache, light: pa.Table) -> tuple[list[str | None], int]:
    """Each row's drop reason: from preparing it, or as a duplicate of an earlier row. Rows are
    decided in order, so when the last export's rows are a prefix of these (a night that only
    added rows), their answers are reused and only the new rows are compared. Returns the reasons
    and how many rows were decided before."""
    reasons = light["_drop"].to_pylist()
    live = [i for i, why in enumerate(reasons) if why is None]  # a dropped row keeps no duplicate out
    rows = pa.array(live, pa.int64())
    keys = light["_key"].take(rows).combine_chunks()
    known = cache.decisions(keys)
    decided = near_duplicates(light["_exact"].take(rows).to_pylist(), sig_matrix(light["_sig"])[live], known=known)
    cache.save_decisions(keys, decided)
    for i, why in zip(live, decided):
        reasons[i] = why
    return reasons, len(known)


def select(light: pa.Table, reasons: list[str | None], seed: int, test_fraction: float):
    """Drop rows on both sides of the split, split: (the kept rows' positions in `light`, in order;
    their splits; label counts per split; drops per reason; repairs per kind)."""
    reasons = list(reasons)
    splits = assign(light["_conversations"].to_pylist(), seed, test_fraction)
    for i, split in enumerate(splits):
        if split is None and reasons[i] is None:
            reasons[i] = "conversations on both sides of the split"
    kept = [i for i, why in enumerate(reasons) if why is None]
    counts = {s: Counter() for s in SPLITS}
    for i, label in zip(kept, pc.take(light["_label"], pa.array(kept, pa.int64())).to_pylist()):
        counts[splits[i]][label] += 1
    dropped = dict(Counter(why for why in reasons if why))
    repaired = dict(Counter(r for r in light["_repair"].to_pylist() if r))
    return (np.array(kept, dtype=np.int64), [splits[i] for i in kept], {s: dict(sorted(c.items())) for s, c in counts.items()},
            dropped, repaired)


def plan_shards(light: pa.Table, kept: np.ndarray, splits: list[str], shard_rows: int, tag: str,
                index: ShardIndex) -> tuple[dict[str, list[str]], dict[str, dict[int, dict]], np.ndarray]:
    """Per split, its shards' digests and the shards an earlier file already holds (shard number ->
    index entry); and which kept rows must still be written."""
    keys = light["_key"].take(pa.array(kept, pa.int64())).to_pylist()
    side = np.array(splits, dtype=object)
    write = np.ones(len(kept), dtype=bool)
    digests, carried = {}, {}
    for s in SPLITS:
        mine = np.flatnonzero(side == s)
        digests[s] = shard_digests([keys[i] for i in mine], shard_rows, tag)
        carried[s] = {i: entry for i, d in enumerate(digests[s]) if (entry := index.find(d)) is not None}
        for i in carried[s]:
            write[mine[i * shard_rows:(i + 1) * shard_rows]] = False
    return digests, carried, write


def stream_shards(out: Path, fmt: str, cache: RowCache, light: pa.Table, kept: np.ndarray, splits: list[str],
                  write: np.ndarray, carried: dict[str, dict[int, dict]], shard_rows: int, jsonl: bool) -> list[dict]:
    """Write the shards of the kept rows marked `write`, streaming their row columns from the cache a
    window at a time; link the carried ones."""
    (out / "data").mkdir(parents=True)
    totals = Counter(splits)
    writers = {s: ShardWriter(out, fmt, s, totals[s], shard_rows, jsonl, carried[s]) for s in SPLITS}
    side = np.array(splits, dtype=object)[write]
    done = 0
    for window in cache.stream(light.select(["_part", "_row"]).take(pa.array(kept[write], pa.int64())),
                               row_schema(fmt).names):
        mine = side[done:done + window.num_rows]
        done += window.num_rows
        for s in SPLITS:
            writers[s].write(take(window, np.flatnonzero(mine == s), combine=False))
    return [shard for s in SPLITS for shard in writers[s].close()]


def write_export(cache: RowCache, fmt: str, out: Path, snapshot: str, snapshot_dir: Path, user_salt: bytes, sign,
                 seed: int, test_fraction: float, shard_rows: int, jsonl: bool, removed: list[str]) -> dict:
    """The export's folder, built beside `out` and then put in its place; its row counts."""
    light, filters, cache_stats = prepared(cache, fmt, snapshot_dir, user_salt, sign)
    reasons, cache_stats["dedup_reused"] = deduplicate(cache, light)
    kept, splits, labels, dropped, repaired = select(light, reasons, seed, test_fraction)
    index = ShardIndex(cache.folder / "shards.json")
    digests, carried, write = plan_shards(light, kept, splits, shard_rows,
                                          f"{fmt}|{'jsonl' if jsonl else 'parquet'}|{cache.folder.name}", index)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shards = stream_shards(tmp, fmt, cache, light, kept, splits, write, carried, shard_rows, jsonl)
    cache.compact(light)
    n_split = Counter(splits)
    manifest = {
        "format": fmt, "snapshot": snapshot, "seed": seed, "test_fraction": test_fraction, "jsonl": jsonl,
        "shard_rows": shard_rows, "n_read": light.num_rows,
        "row_cache": {**cache_stats, "unreadable_parts_removed": removed + cache.removed},
        "shards_carried_over": sum(len(c) for c in carried.values()), "dropped": dropped, "repaired": repaired,
        "splits": {s: {"rows": n_split[s], "labels": labels[s]} for s in SPLITS},
        "shards": shards, "filters": filters, "pii_scrubbed": list(KINDS), "user_ids": "pseudonymised (HMAC-SHA256, per-warehouse salt)",
        "code_version": code_version(), "created_at": datetime.now(UTC).isoformat(),
        # of the conversations behind the rows read: sources, languages, the judges that labelled them
        "provenance": provenance(snapshot_dir, set(pc.list_flatten(light["_conversations"]).to_pylist())),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    write_card(tmp, manifest)
    if out.exists():
        shutil.rmtree(out)  # an earlier export in the same place: replaced whole, never mixed
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out)
    index.save(out, shards, [d for s in SPLITS for d in digests[s]])
    return {"n_rows": len(kept), "n_train": n_split["train"], "n_test": n_split["test"],
            "n_dropped": light.num_rows - len(kept)}


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

    folder = cache_root(home) / f"{fmt}-{version(fmt, salt(home), PREPARE_SOURCES)}"
    removed: list[str] = []
    for attempt in (1, 2):
        cache = RowCache(folder)
        try:
            with cache:
                summary = write_export(cache, fmt, out, snapshot, snapshot_dir, salt(home), sign, seed, test_fraction,
                                       shard_rows, jsonl, removed)
            break
        except DamagedPart as damaged:  # found mid-stream and deleted: the export starts again without it
            removed.append(damaged.part.name)
            if attempt == 2:
                raise ExportError(f"the export cache {folder} cannot be read: delete it and export again") from damaged
        finally:
            removed += cache.removed  # parts found unreadable on opening the cache

    now = datetime.now(UTC)
    record = Export(export_id=f"{fmt}:{snapshot}:{seed}:{now:%Y%m%dT%H%M%S.%fZ}", format=fmt,
                    out_dir=str(out.resolve()), snapshot=snapshot, seed=seed, manifest_sha256=content_hash(out / "manifest.json"),
                    created_at=now, **summary)
    insert_models(con, TABLES.exports, [record])
    return record
