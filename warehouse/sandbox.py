"""The warehouse as `rmcurate sql` sees it: reads only, and nothing beyond the warehouse.

Two locks, each enough for most attacks, together for all we know of:
- DuckDB's own switches, locked: no file system access outside the open
  database (no COPY TO, EXPORT, read_text('/etc/shadow'), ATTACH of a file,
  persistent secrets), no extension install or load, and `lock_configuration`
  so no SET or RESET undoes any of it.
- One statement per call, and it must be a read (SELECT, which covers
  DESCRIBE, SHOW, SUMMARIZE and FROM-first queries, or EXPLAIN): ATTACH of the
  warehouse's own file, DETACH, USE, CALL, PRAGMA, CREATE, INSTALL and the rest
  are refused before they run.

While a nightly stage holds the warehouse (DuckDB lets one process in when it writes), the
query runs on the latest snapshot instead: an in-memory database whose views read that
snapshot's Parquet files, with file access allowed in that folder only, and the caller is told.
"""
import json

import duckdb

from warehouse.db import MEMORY_LIMIT, WarehouseBusy, WarehouseError, connect
from warehouse.home import db_path, latest_snapshot, snapshots
from warehouse.snapshot import table_glob

ALLOWED = {"SELECT", "EXPLAIN"}
LOCKED_CONFIG = {"enable_external_access": False, "autoload_known_extensions": False,
                 "autoinstall_known_extensions": False, "allow_community_extensions": False,
                 "allow_unsigned_extensions": False, "memory_limit": MEMORY_LIMIT}


class RefusedStatement(WarehouseError):
    """A statement the read-only SQL does not run."""


def open_sandboxed(home) -> tuple[duckdb.DuckDBPyConnection, str | None]:
    """A read-only connection whose configuration no statement can change, and None; or, while a
    writer holds the warehouse, one on the latest snapshot and a line saying so."""
    path = db_path(home)
    try:
        connect(home, read_only=True).close()  # mends an interrupted ingest or an old schema first, as every reader does
        con = duckdb.connect(str(path), read_only=True, config=LOCKED_CONFIG)
    except WarehouseBusy as e:
        return on_snapshot(home, str(e))
    except duckdb.IOException as e:
        first = str(e).splitlines()[0]
        if "lock" in first.lower():
            return on_snapshot(home, f"cannot open {path}: {first}")
        raise WarehouseError(f"cannot open {path}: {first}") from None
    con.execute("SET enable_progress_bar = false")
    con.execute("SET lock_configuration = true")
    return con, None


def on_snapshot(home, busy: str) -> tuple[duckdb.DuckDBPyConnection, str]:
    run_id = latest_snapshot(home)
    if run_id is None:
        raise WarehouseBusy(f"{busy}; no snapshot to answer from yet: try again when the nightly stage ends")
    folder = snapshots(home) / run_id
    written = json.loads((folder / "manifest.json").read_text()).get("written_at", "?")
    con = duckdb.connect(":memory:", config={k: v for k, v in LOCKED_CONFIG.items() if k != "enable_external_access"})
    con.execute("SET allowed_directories = [?]", [f"{folder}/"])
    con.execute("SET enable_external_access = false")
    for table in sorted({p.stem if p.is_file() else p.name for p in folder.iterdir()
                         if p.suffix == ".parquet" or p.is_dir()}):
        con.execute(f"""CREATE VIEW "{table}" AS SELECT * FROM read_parquet('{table_glob(folder, table)}')""")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET lock_configuration = true")
    return con, (f"the warehouse is busy (a nightly stage is writing): answered from snapshot {run_id}, "
                 f"written {written}")


def check(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Raise RefusedStatement unless the query is exactly one read statement."""
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as e:
        raise RefusedStatement(str(e).splitlines()[0]) from None
    if len(statements) != 1:
        raise RefusedStatement(f"one statement at a time, got {len(statements)}")
    kind = statements[0].type.name
    if kind not in ALLOWED:
        raise RefusedStatement(f"only reads run here (SELECT, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN), not {kind}")
