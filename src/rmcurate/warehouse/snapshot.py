"""Parquet snapshots of the curated tables: what exports and audits read later.

snapshots/<run>/<table>/part-*.parquet, one part per ingest (conversations, messages, replies,
events) or per run (labels, judgements, pairs, judge calls, ...), and one part for the small
tables. A part whose rows did not change since the previous snapshot (same count and hash
of every row) is a hard link to that snapshot's file, so a night with 1% new data writes
about 1% new bytes. manifest.json lists every part, its rows, its fingerprint and where a
shared one came from.

The views (`turns`, `reply_evidence`) are not written: whoever reads a snapshot defines them over
its tables with the warehouse's own SQL (`open_views`). Writing them copied every reply's text
again and, for `turns`, each conversation's history once per turn.
"""
import hashlib
import json
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from rmcurate.schemas.tables import STORED, TABLES, VIEWS
from rmcurate.warehouse.home import latest_snapshot, link_or_copy, snapshots, standin
from rmcurate.warehouse.sql import view_sql

# table -> its parts' key, as SQL over the table's rows `t`; tables not listed are one part
BY_INGEST = "(SELECT c.ingest_id FROM conversations c WHERE c.conversation_id = t.conversation_id)"
PARTITIONS = {
    TABLES.conversations: "t.ingest_id", TABLES.events: "t.ingest_id",
    TABLES.messages: BY_INGEST, TABLES.replies: BY_INGEST,
    TABLES.judge_calls: "t.run_id", TABLES.feedback_judgements: "t.run_id", TABLES.feedback_labels: "t.run_id",
    TABLES.feedback_funnel: "t.run_id", TABLES.pairs: "t.run_id", TABLES.pair_attempts: "t.run_id",
}


def remove_partials(home: Path, also: Path) -> None:
    """Folders of snapshots (and stand-ins) that a stopped or killed command left half-written."""
    for folder in {*snapshots(home).glob("*.partial"), *home.glob("standin.partial"), also}:
        if folder.exists():
            if folder != also:
                print(f"rmcurate: removing {folder}, a snapshot left half-written by a stopped command",
                      file=sys.stderr)
            shutil.rmtree(folder, ignore_errors=True)


def open_views(con, have) -> None:
    """Define the views a snapshot does not hold as files (`have`: the tables it does) over its tables."""
    for view in VIEWS:
        if view not in have:
            try:
                con.execute(view_sql(view))
            except duckdb.CatalogException:
                pass  # a snapshot written before a table the view reads (reviews): it has no such view


def part_name(key) -> str:
    return "part-" + hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()[:16] + ".parquet"


def table_glob(snapshot_dir: Path, table: str) -> str:
    """What read_parquet reads for `table` (snapshots before partitioning had one file a table)."""
    single = snapshot_dir / f"{table}.parquet"
    return str(single) if single.exists() else str(snapshot_dir / table / "*.parquet")


def part_query(name: str, key) -> tuple[str, list]:
    """The SELECT of one part."""
    if name not in PARTITIONS:
        return f"SELECT * FROM {name}", []
    if PARTITIONS[name] != BY_INGEST:
        return f"SELECT * FROM {name} t WHERE {PARTITIONS[name]} IS NOT DISTINCT FROM ?", [key]
    ids = "SELECT conversation_id FROM conversations WHERE ingest_id IS NOT DISTINCT FROM ?"
    return f"SELECT * FROM {name} t WHERE t.conversation_id IN ({ids})", [key]


def _fingerprints(con, table: str) -> dict:
    """partition key -> [rows, hash of all rows (an order-free XOR of row hashes), hash of the columns].
    Every row, text included: 2 s for the 7 million messages of a million conversations."""
    key = PARTITIONS.get(table, "NULL")
    rows = con.execute(f"SELECT {key} AS k, count(*), bit_xor(hash(t)) FROM {table} t "
                       "GROUP BY 1").fetchall()
    columns = con.execute("SELECT list(column_name || ' ' || data_type ORDER BY column_index) FROM duckdb_columns() "
                          "WHERE table_name = ? AND schema_name = 'main' AND database_name = current_database()",
                          [table]).fetchone()[0]
    shape = hashlib.sha256(json.dumps(columns).encode()).hexdigest()[:16]
    return {k: [n, str(h), shape] for k, n, h in rows}


@contextmanager
def standin_while_writing(con, home: Path) -> Iterator[None]:
    """While a stage holds the warehouse on a home with no snapshot yet: write the stand-in that `sql`,
    `status` and `report` answer from meanwhile (warehouse/sandbox.py), from a thread on a second cursor
    of the stage's own connection, so the stage's first batch does not wait for it (a million
    conversations take minutes to copy). Its read transaction sees the warehouse as it was when the stage
    began. If the stage ends first, the copy stops and its partial folder goes: readers then open the
    live warehouse. A home with a snapshot needs none: readers answer from that one."""
    if latest_snapshot(home) is not None:
        yield
        return
    cur = con.cursor()
    cur.execute("BEGIN TRANSACTION")
    cur.execute("SELECT count(*) FROM conversations").fetchall()  # the transaction reads from here on
    stop = threading.Event()

    def copy() -> None:
        try:
            write_snapshot(cur, home, "before-stage", out=standin(home), stopped=stop.is_set)
        except Exception:  # noqa: BLE001 - stopped, or failed: readers wait for the stage, as without one
            shutil.rmtree(standin(home).with_name(standin(home).name + ".partial"), ignore_errors=True)

    thread = threading.Thread(target=copy, name="rmcurate-standin", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        while thread.is_alive():
            cur.interrupt()
            thread.join(0.1)
        cur.close()


class Stopped(RuntimeError):
    """write_snapshot was asked to stop before it finished."""


def write_snapshot(con, home: Path, run_id: str, out: Path | None = None,
                   stopped: Callable[[], bool] = lambda: False) -> Path:
    """Snapshot every table under snapshots/<run_id>/ (or `out`). A snapshot under snapshots/ makes the
    readers' stand-in needless: it goes. Folders of snapshots that were stopped or killed half-way
    (*.partial) are removed first, and said so."""
    out = out or snapshots(home) / run_id
    tmp = out.with_name(out.name + ".partial")
    remove_partials(home, tmp)
    tmp.mkdir(parents=True)
    previous = latest_snapshot(home)
    before = json.loads((snapshots(home) / previous / "manifest.json").read_text()).get("tables", {}) \
        if previous else {}
    tables, counts, written, shared = {}, {}, 0, 0
    for name in STORED:
        (tmp / name).mkdir()
        fps = _fingerprints(con, name)
        old = {p["key_json"]: p for p in before.get(name, {}).get("parts", [])}
        entries = []
        for k, fp in sorted(fps.items(), key=lambda x: json.dumps(x[0], default=str)):
            if stopped():
                raise Stopped(f"snapshot {run_id} stopped")
            file = tmp / name / part_name(k)
            key_json = json.dumps(k, default=str)
            earlier = old.get(key_json)
            source = snapshots(home) / previous / name / earlier["file"] if earlier else None
            if earlier and earlier["fingerprint"] == fp and source.exists():
                link_or_copy(source, file)
                shared += file.stat().st_size
                entries.append({**earlier, "shared_from": earlier.get("shared_from") or previous})
                continue
            source_sql, params = part_query(name, k)
            con.execute(f"COPY ({source_sql}) TO '{file}' (FORMAT parquet, COMPRESSION zstd)", params)
            written += file.stat().st_size
            n = con.execute(f"SELECT count(*) FROM read_parquet('{file}')").fetchall()[0][0]
            entries.append({"key_json": key_json, "file": file.name, "rows": n, "fingerprint": fp, "shared_from": None})
        if not entries:  # an empty table still reads, with its columns
            file = tmp / name / "part-empty.parquet"
            con.execute(f"COPY (SELECT * FROM {name} LIMIT 0) TO '{file}' (FORMAT parquet)")
        tables[name] = {"parts": entries}
        counts[name] = sum(e["rows"] for e in entries)
    manifest = {"run_id": run_id, "written_at": datetime.now(timezone.utc).isoformat(), "rows": counts,
                "bytes_written": written, "bytes_shared": shared, "previous": previous, "tables": tables}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if out == standin(home):
        shutil.rmtree(out, ignore_errors=True)  # the last stand-in gives way to this one
    tmp.rename(out)  # a snapshot directory without ".partial" is complete
    if out != standin(home):
        shutil.rmtree(standin(home), ignore_errors=True)
    return out
