"""The warehouse as `rmcurate sql` sees it: reads only, and nothing beyond the warehouse.

Three locks, each enough against most attacks, together against all we know of:
- The statement: DuckDB's own parser must find exactly one read (its statement tree is a SELECT,
  which covers DESCRIBE, SHOW, SUMMARIZE, PIVOT, FROM-first and VALUES), and every node of the
  tree it serialises must be a read too: `WITH x AS (COPY ... | INSERT ...) SELECT` parses as a
  SELECT. EXPLAIN and EXPLAIN ANALYZE are judged by the statement they wrap: EXPLAIN ANALYZE runs it.
- DuckDB's switches, locked: no file access outside the open database (no COPY TO, EXPORT,
  read_text('/etc/shadow'), ATTACH of a file, persistent secrets), no extension install or load,
  and `lock_configuration` so no SET or RESET undoes any of it.
- The kernel (warehouse/nowrite.py): `rmcurate sql` runs the query in a process that may write
  only its own spill folder, so even a statement both other locks let through cannot create,
  change or delete a file of the warehouse or of a snapshot.

While a nightly stage holds the warehouse (DuckDB lets one process in when it writes), the
query runs on the latest snapshot instead: an in-memory database whose views read that
snapshot's Parquet parts, with file access allowed to those files alone, and the caller is told.
"""
import json
from pathlib import Path

import duckdb

from rmcurate.warehouse.db import WarehouseBusy, WarehouseError, connect, memory_limit
from rmcurate.warehouse.home import db_path, latest_snapshot, snapshots, standin
from rmcurate.warehouse.snapshot import open_views, table_glob

READS = {"SELECT"}
# The query nodes of a read; anything else in the tree (INSERT_QUERY_NODE, COPY_QUERY_NODE, ... inside a
# CTE, at any depth) is a write DuckDB would run as part of the SELECT.
READ_NODES = {"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"}
# Functions that run SQL text, or change the database, its settings or its logs, rather than read.
NOT_READS = {"query", "json_execute_serialized_sql", "checkpoint", "force_checkpoint", "setval",
             "enable_logging", "disable_logging", "truncate_duckdb_logs", "enable_profiling", "disable_profiling",
             "create_external_resource", "register_external_resource", "register_external_resource_type",
             "deregister_external_resource", "destroy_external_resource"}
# Where the tree cannot be serialised (PIVOT), keywords that begin or name a write refuse the statement.
WRITE_WORDS = {"INSERT", "UPDATE", "DELETE", "COPY", "MERGE", "CREATE", "DROP", "ALTER", "ATTACH", "DETACH",
               "EXPORT", "IMPORT", "INSTALL", "LOAD", "SET", "RESET", "PRAGMA", "CALL", "CHECKPOINT", "VACUUM",
               "TRUNCATE", "USE", "PREPARE", "EXECUTE", "DEALLOCATE", "BEGIN", "COMMIT", "ROLLBACK", "ABORT",
               "GRANT", "REVOKE", "UPSERT"}
# DuckDB's parser turns a PIVOT whose columns it must first look up into a MULTI statement (the
# lookup, then the SELECT), wherever the PIVOT stands (top level, subquery, CTE); it makes MULTI for
# nothing else.
PIVOTS = {"PIVOT", "PIVOT_WIDER"}
LOCKED_CONFIG = {"enable_external_access": False, "autoload_known_extensions": False,
                 "autoinstall_known_extensions": False, "allow_community_extensions": False,
                 "allow_unsigned_extensions": False}


class RefusedStatement(WarehouseError):
    """A statement the read-only SQL does not run."""


def mend(home: Path) -> bool:
    """Mend an interrupted ingest or an old schema, as every reader does first (this may write).
    False when a writer holds the warehouse, so there is nothing to mend from here."""
    try:
        connect(home, read_only=True).close()
    except WarehouseBusy:
        return False
    return True


def open_sandboxed(home: Path, spill: Path | None = None, mended: bool = False,
                   max_spill: str | None = None) -> tuple[duckdb.DuckDBPyConnection, str | None]:
    """A read-only connection whose configuration no statement can change, and None; or, while a
    writer holds the warehouse, one on the latest snapshot and a line saying so. `spill`: the
    folder DuckDB spills into (its own `<db>.tmp` beside the warehouse otherwise)."""
    path = db_path(home)
    config = {**LOCKED_CONFIG, "memory_limit": memory_limit()}
    if spill is not None:
        config["temp_directory"] = str(spill)
    if max_spill:
        config["max_temp_directory_size"] = max_spill
    try:
        if not mended and not mend(home):
            return on_snapshot(home, config)
        con = duckdb.connect(str(path), read_only=True, config=config)
    except duckdb.IOException as e:
        first = str(e).splitlines()[0]
        if "lock" in first.lower():
            return on_snapshot(home, config)
        raise WarehouseError(f"cannot open {path}: {first}") from None
    con.execute("SET enable_progress_bar = false")
    con.execute("SET lock_configuration = true")
    return con, None


def snapshot_parts(home: Path) -> tuple[str, str, dict[str, list[str]]] | None:
    """(what it is, written at, table -> its Parquet files) of the latest snapshot, else of the readers'
    stand-in a stage wrote before it began (a home with no snapshot yet), or None if neither."""
    run_id = latest_snapshot(home)
    if run_id is not None:
        folder, what = snapshots(home) / run_id, f"snapshot {run_id}"
    elif (standin(home) / "manifest.json").exists():
        folder, what = standin(home), "the state before this stage began writing (the home has no snapshot yet)"
    else:
        return None
    try:
        written = json.loads((folder / "manifest.json").read_text()).get("written_at", "?")
    except (OSError, ValueError, AttributeError) as e:
        raise WarehouseError(f"{what} has no readable manifest.json ({type(e).__name__}): "
                             "take a new snapshot with `rmcurate snapshot` when the stage ends") from None
    tables = {}
    for table in sorted({p.stem if p.is_file() else p.name for p in folder.iterdir()
                         if p.suffix == ".parquet" or p.is_dir()}):
        glob = Path(table_glob(folder, table))
        files = sorted(glob.parent.glob(glob.name)) if "*" in glob.name else [glob]
        if files:
            tables[table] = [str(f) for f in files]
    return what, written, tables


def on_snapshot(home: Path, config: dict) -> tuple[duckdb.DuckDBPyConnection, str]:
    found = snapshot_parts(home)
    if found is None:
        raise WarehouseBusy(f"the warehouse at {home} is busy (a stage is writing it) and has no snapshot to "
                            "answer from yet: try again when the stage ends")
    what, written, tables = found
    con = duckdb.connect(":memory:", config={k: v for k, v in config.items() if k != "enable_external_access"})
    # The parts themselves, not their folder: a folder allowed is a folder DuckDB may write into.
    con.execute("SET allowed_paths = ?", [[f for files in tables.values() for f in files]])
    con.execute("SET enable_external_access = false")
    for table, files in tables.items():
        con.execute(f'CREATE VIEW "{table}" AS SELECT * FROM read_parquet({files!r})')
    open_views(con, tables)
    con.execute("SET enable_progress_bar = false")
    con.execute("SET lock_configuration = true")
    return con, f"the warehouse is busy (a nightly stage is writing): answered from {what}, written {written}"


def check(query: str) -> None:
    """Raise RefusedStatement unless the query is exactly one read, judged by DuckDB's own parse of it:
    the top-level statement, then every node beneath it (a write hidden in a CTE at any depth, a
    function that runs SQL text or changes state), before anything runs."""
    parser = duckdb.connect(":memory:", config=LOCKED_CONFIG)
    try:
        _check(parser, query)
    finally:
        parser.close()


def _check(parser: duckdb.DuckDBPyConnection, query: str) -> None:
    try:
        statements = parser.extract_statements(query)
    except duckdb.Error as e:
        raise RefusedStatement(str(e).splitlines()[0]) from None
    if len(statements) != 1:
        raise RefusedStatement(f"one statement at a time, got {len(statements)}")
    kind = statements[0].type.name
    if kind == "EXPLAIN":
        _check(parser, explained(query))
    elif kind == "MULTI" and PIVOTS & {word for _, _, word in keywords(query, only_keywords=True)}:
        no_write_words(query)  # DuckDB cannot serialise a PIVOT's tree: its keywords are judged instead
    elif kind in READS:
        no_write_nodes(parser, query)
    else:
        raise RefusedStatement(f"only reads run here (SELECT, DESCRIBE, SHOW, SUMMARIZE, PIVOT, EXPLAIN), not {kind}")


def no_write_nodes(parser: duckdb.DuckDBPyConnection, query: str) -> None:
    """Walk the statement tree DuckDB serialises: every query node a read, no function that is not."""
    tree = json.loads(parser.execute("SELECT json_serialize_sql(?)", [query]).fetchone()[0])
    if tree.get("error"):  # a SELECT DuckDB cannot serialise: judged by its keywords, failing closed
        no_write_words(query)
        return
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        if isinstance(kind, str) and kind.endswith("_NODE") and kind not in READ_NODES:
            raise RefusedStatement(f"only reads run here: the statement holds {kind.removesuffix('_QUERY_NODE')} "
                                   "inside it (in a CTE or subquery)")
        name = node.get("function_name")
        if isinstance(name, str) and name.lower() in NOT_READS:
            raise RefusedStatement(f"only reads run here: {name}() does not only read")
        stack.extend(node.values())


def no_write_words(query: str) -> None:
    """The fallback judge: no keyword that starts or names a write anywhere in the statement, and no
    function that is not a read. Strict (a column spelled like a keyword must be quoted), never lax."""
    for _, _, word in keywords(query, only_keywords=True):
        if word in WRITE_WORDS:
            raise RefusedStatement(f"only reads run here: {word} inside the statement")
    for _, _, word in keywords(query):
        if word.lower() in NOT_READS:
            raise RefusedStatement(f"only reads run here: {word.lower()}() does not only read")


def keywords(query: str, only_keywords: bool = False) -> list[tuple[int, int, str]]:
    """(start, end, upper-case text) of each token, comments left out, by DuckDB's own tokenizer;
    with `only_keywords`, the tokens it calls keywords (not identifiers, strings or operators)."""
    tokens = duckdb.tokenize(query)
    ends = [pos for pos, _ in tokens[1:]] + [len(query)]
    return [(pos, end, query[pos:end].strip().upper()) for (pos, kind), end in zip(tokens, ends)
            if kind != duckdb.token_type.comment and (not only_keywords or kind == duckdb.token_type.keyword)]


def explained(query: str) -> str:
    """The statement an EXPLAIN wraps: past EXPLAIN, ANALYZE and a parenthesised option list."""
    toks = keywords(query)
    i = 1  # toks[0] is EXPLAIN
    while i < len(toks) and toks[i][2] in ("ANALYZE", "ANALYSE", "("):
        if toks[i][2] == "(":
            depth = 0
            while i < len(toks):
                depth += {"(": 1, ")": -1}.get(toks[i][2], 0)
                i += 1
                if depth == 0:
                    break
        else:
            i += 1
    if i >= len(toks):
        raise RefusedStatement("EXPLAIN of nothing")
    return query[toks[i][0]:]

