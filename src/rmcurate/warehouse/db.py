"""Opening the warehouse: one DuckDB file under the home directory."""
import shutil
import sys
import time
from pathlib import Path

import duckdb

from rmcurate.settings import WarehouseSettings
from rmcurate.warehouse.ddl import ensure_schema, ensure_views
from rmcurate.warehouse.home import db_path
from rmcurate.warehouse.migrate import migrate, outdated
from rmcurate.warehouse.recovery import dead_ingests, recover


STARTED = time.time()  # spill files older than this process are no connection's of ours


def memory_limit(ingest: bool = False) -> str:
    """DuckDB spills past this instead of growing; while a file loads, a smaller cache (settings.py)."""
    s = WarehouseSettings()
    return s.ingest_memory_limit if ingest else s.memory_limit


class WarehouseError(RuntimeError):
    """A problem the user can act on (locked file, missing warehouse, bad SQL)."""


class WarehouseBusy(WarehouseError):
    """Another process holds the write lock: worth trying again later (the flow's tasks retry)."""


def connect(home: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse; a write connection first undoes any interrupted ingest."""
    path = db_path(home)
    if read_only and not path.exists():  # a reader never makes a warehouse where a typo in --home pointed
        raise WarehouseError(f"no warehouse at {path}: load data first (`rmcurate ingest` or `rmcurate run`), "
                             "or point --home or RMCURATE_HOME at an existing one")
    if not read_only:
        home.mkdir(parents=True, exist_ok=True)
        (home / "tmp").mkdir(exist_ok=True)
    # Ingest commits every chunk; checkpoint once per file, not every 16 MB of WAL.
    config = {"memory_limit": memory_limit(), "preserve_insertion_order": False, "checkpoint_threshold": "1GB"}
    if not read_only:
        config["temp_directory"] = str(home / "tmp")
        config["max_temp_directory_size"] = spill_cap(home / "tmp")
    # A writer waits a little for readers (queries are short), rather than failing a stage on one.
    wait_s = 0.0 if read_only else WarehouseSettings().lock_wait_s
    deadline = time.monotonic() + wait_s
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=config)
            break
        except duckdb.IOException as e:
            first = str(e).splitlines()[0]
            if "lock" not in first.lower():
                raise WarehouseError(f"cannot open {path}: {first}") from None
            if time.monotonic() >= deadline:
                raise WarehouseBusy(f"cannot open {path}: {first}") from None
            time.sleep(0.2)
    con.execute("SET enable_progress_bar = false")  # it would print into `sql --format csv`
    if not read_only:
        remove_stale_spill(home)
        ensure_schema(con)
        if problems := migrate(con):
            con.close()
            raise WarehouseError(f"{path} was made by another rmcurate version: {'; '.join(problems)}; "
                                 "ingest into a new --home")
        ensure_views(con)  # after the migration: they read its new columns
        recover(con)
    elif dead_ingests(con) or outdated(con):  # crashed ingest or older tables: mend before anyone reads
        con.close()
        connect(home).close()
        return connect(home, read_only=True)
    return con


def spill_cap(folder: Path) -> str:
    """RMCURATE_SPILL_SHARE of the disk free under `folder` now (DuckDB's own default is 90%)."""
    free = shutil.disk_usage(folder).free
    return f"{int(free * WarehouseSettings().spill_share)}B"


def remove_stale_spill(home: Path) -> int:
    """DuckDB's spill files a killed process left (home/tmp, and <warehouse>.tmp where read-only
    connections spill): a writer holds the only lock on the warehouse, so no other process is using
    them, and those older than this process are no connection's of its own. Says so on stderr;
    returns the bytes freed."""
    freed, n = 0, 0
    for folder in (home / "tmp", db_path(home).with_name(db_path(home).name + ".tmp")):
        for f in folder.glob("duckdb_temp*") if folder.is_dir() else ():
            try:
                stat = f.stat()
                if stat.st_mtime >= STARTED:
                    continue
                size = stat.st_size
                f.unlink()
            except OSError:
                continue
            freed, n = freed + size, n + 1
    if n:
        print(f"rmcurate: removed {n} spill files ({freed / 1e9:.2f} GB) that a stopped command left in {home}",
              file=sys.stderr)
    return freed


def scalar(con, sql: str, params: list | None = None):
    """The single value a query returns (fetches all, so the connection is free again)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None
