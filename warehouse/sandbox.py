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
"""
import duckdb

from warehouse.db import MEMORY_LIMIT, WarehouseError, connect
from warehouse.home import db_path

ALLOWED = {"SELECT", "EXPLAIN"}
LOCKED_CONFIG = {"enable_external_access": False, "autoload_known_extensions": False,
                 "autoinstall_known_extensions": False, "allow_community_extensions": False,
                 "allow_unsigned_extensions": False, "memory_limit": MEMORY_LIMIT}


class RefusedStatement(WarehouseError):
    """A statement the read-only SQL does not run."""


def open_sandboxed(home) -> duckdb.DuckDBPyConnection:
    """A read-only connection whose configuration no statement can change."""
    connect(home, read_only=True).close()  # mends an interrupted ingest or an old schema first, as every reader does
    path = db_path(home)
    try:
        con = duckdb.connect(str(path), read_only=True, config=LOCKED_CONFIG)
    except duckdb.IOException as e:
        raise WarehouseError(f"cannot open {path}: {str(e).splitlines()[0]}") from None
    con.execute("SET enable_progress_bar = false")
    con.execute("SET lock_configuration = true")
    return con


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
