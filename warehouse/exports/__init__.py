"""Exports: training sets read from a warehouse snapshot, written as shards with a manifest.

    read rows (snapshot) -> scrub PII -> drop duplicates -> split by conversation -> shards
"""
import json
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path

from extractors.export.chat import trainable_prompt
from extractors.export.dedup import duplicates, signatures
from extractors.export.split import assign
from extractors.pii import KINDS, pseudonym, scrub_value
from schemas.exports import FORMATS, SPLITS, Export, render
from schemas.tables import TABLES
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


def chat_ready(fmt: str, rows: list[dict]) -> tuple[list[str | None], Counter]:
    """Pair rows with prompts every chat template accepts, repaired in place: (drop reason per row,
    repairs made). Other formats pass through."""
    reasons: list[str | None] = [None] * len(rows)
    repaired: Counter = Counter()
    if fmt not in ("trl", "openrlhf"):
        return reasons, repaired
    for i, row in enumerate(rows):
        prompt, fix, reasons[i] = trainable_prompt(row["prompt"])
        if prompt is None:
            continue
        if fix:
            repaired[fix] += 1
        row["prompt"] = prompt
        if fmt == "openrlhf":  # chosen and rejected hold the conversation too
            row["chosen"], row["rejected"] = prompt + row["chosen"][-1:], prompt + row["rejected"][-1:]
    return reasons, repaired


def select(fmt: str, items: list[dict], seed: int, test_fraction: float, user_salt: bytes = b"", sign=signatures):
    """Scrub, repair or drop untrainable prompts, drop duplicates, split:
    (rows per split, label counts per split, drops per reason, repairs per kind)."""
    rows = [with_text(fmt, scrub_value(it["row"])) for it in items]
    for row in rows:
        if "user_id" in row:
            row["user_id"] = pseudonym(row["user_id"], user_salt)
    reasons, repaired = chat_ready(fmt, rows)
    live = [i for i, why in enumerate(reasons) if why is None]  # a dropped row keeps no duplicate out
    for i, why in zip(live, duplicates([dedup_text(fmt, rows[i]) for i in live], sign=sign)):
        reasons[i] = why
    splits = assign([it["conversations"] for it in items], seed, test_fraction)
    for i, split in enumerate(splits):
        if split is None and reasons[i] is None:
            reasons[i] = "conversations on both sides of the split"
    by_split: dict[str, list[dict]] = {s: [] for s in SPLITS}
    labels: dict[str, Counter] = {s: Counter() for s in SPLITS}
    for i, (row, split, why) in enumerate(zip(rows, splits, reasons)):
        if why is None:
            by_split[split].append(row)
            labels[split][str(items[i]["label"])] += 1
    dropped = dict(Counter(why for why in reasons if why))
    return by_split, {s: dict(sorted(c.items())) for s, c in labels.items()}, dropped, dict(repaired)


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

    items, filters = read_rows(snapshot_dir, fmt)
    by_split, labels, dropped, repaired = select(fmt, items, seed, test_fraction, salt(home), sign)
    n_kept = sum(len(r) for r in by_split.values())

    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shards = write_shards(tmp, fmt, by_split, shard_rows, jsonl)
    manifest = {
        "format": fmt, "snapshot": snapshot, "seed": seed, "test_fraction": test_fraction, "jsonl": jsonl,
        "shard_rows": shard_rows, "n_read": len(items), "dropped": dropped, "repaired": repaired,
        "splits": {s: {"rows": len(by_split[s]), "labels": labels[s]} for s in SPLITS},
        "shards": shards, "filters": filters, "pii_scrubbed": list(KINDS), "user_ids": "pseudonymised (HMAC-SHA256, per-warehouse salt)",
        "code_version": code_version(), "created_at": datetime.now(UTC).isoformat(),
        # of the conversations behind the rows read: sources, languages, the judges that labelled them
        "provenance": provenance(snapshot_dir, {c for item in items for c in item["conversations"]}),
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
                    n_train=len(by_split["train"]), n_test=len(by_split["test"]), n_dropped=len(items) - n_kept,
                    manifest_sha256=content_hash(out / "manifest.json"), created_at=now)
    insert_models(con, TABLES.exports, [record])
    return record
