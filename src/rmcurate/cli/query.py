"""Reading the warehouse: `sql`, `status`, `report`, and `snapshot` (what exports read)."""
from typing import Annotated, Literal

import typer
from rich.table import Table

from rmcurate.cli.common import Home, fail, home_of, open_for_reading, open_warehouse, out
from rmcurate.settings import WarehouseSettings
from rmcurate.warehouse import WarehouseError

YEAR_S = 365 * 24 * 3600  # the longest --timeout: past it the timer's clock overflows on some platforms


def sql(ctx: typer.Context, query: Annotated[str, typer.Argument(help="A SQL query (DuckDB dialect).")],
        format: Annotated[Literal["table", "csv", "json"], typer.Option("--format")] = "table",
        max_rows: Annotated[int, typer.Option(help="Rows shown in table format.")] = 40,
        timeout: Annotated[float | None, typer.Option(
            help="Stop the query after this many seconds (0 to a year's worth; 0 means no limit, said "
                 "explicitly). [default: $RMCURATE_SQL_TIMEOUT_S or 60]",
            show_default=False)] = None,
        max_spill: Annotated[str | None, typer.Option(
            help="Disk the query may spill to (removed after it); past it the query is stopped. "
                 "[default: $RMCURATE_SQL_MAX_SPILL or 10GB]",
            show_default=False)] = None,
        home: Home = None):
    """Query the warehouse, read-only: one SELECT (or DESCRIBE, SHOW, SUMMARIZE, PIVOT, EXPLAIN); no file
    is written and none outside the warehouse is read. csv and json stream their rows. Runs only where the
    kernel can lock the query's files (Linux Landlock), unless RMCURATE_SQL_UNCONFINED=1."""
    import math

    from rmcurate.warehouse.query import run_sql, size_bytes

    settings = WarehouseSettings()
    timeout = settings.sql_timeout_s if timeout is None else timeout
    if not math.isfinite(timeout) or not 0 <= timeout <= YEAR_S:
        fail(f"--timeout must be a number of seconds from 0 to {YEAR_S} (a year; 0: no limit), not {timeout:g}")
    max_spill = max_spill or settings.sql_max_spill
    try:
        size_bytes(max_spill)
        query.encode("utf-8")
    except WarehouseError as e:
        fail(f"--max-spill: {e}")
    except UnicodeEncodeError:
        fail("the query is not valid UTF-8")
    try:
        code = run_sql(home_of(ctx, home), query, format, max_rows, timeout, max_spill, settings.sql_unconfined)
    except WarehouseError as e:
        fail(str(e))
    raise typer.Exit(code)


def status(ctx: typer.Context, home: Home = None):
    """Tables, row counts, recent ingests and quarantine reasons (from the latest snapshot while a stage writes)."""
    from rmcurate.warehouse.judge_calls import judge_stats
    from rmcurate.warehouse.status import feedback_by_source, last_ingests, quarantine_by_reason, table_counts, waiting

    root = home_of(ctx, home)
    con = open_for_reading(root)
    out.print(f"warehouse: {root}")
    t = Table("table", "rows", title="tables")
    for name, n in table_counts(con):
        t.add_row(name, f"{n:,}")
    out.print(t)
    t = Table("id", "path", "format", "read", "loaded", "dup", "quar", "status", "finished", title="last ingests")
    for row in last_ingests(con):
        t.add_row(*map(str, row))
    out.print(t)
    t = Table("source format", "events", "on replies", title="feedback by source")
    for row in feedback_by_source(con):
        t.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    out.print(t)
    out.print(f"events waiting for their conversation: {waiting(con):,} (quarantined after "
              "RMCURATE_SOURCES_UNATTACHED_DAYS)")
    t = Table("reason", "records", title="quarantine by reason")
    for reason, n in quarantine_by_reason(con):
        t.add_row(reason, f"{n:,}")
    out.print(t)
    t = Table("model", "template", "calls", "ok", "failed", "cache hits", "prompt tok", "completion tok",
              "mean latency s", title="judge calls")
    for row in judge_stats(con):
        t.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    out.print(t)
    con.close()


def report(ctx: typer.Context,
           run: Annotated[str | None, typer.Option(help="Labelling run id (default: the last).")] = None,
           home: Home = None):
    """Write the feedback report (funnel and label histogram) as HTML and print its path (from the
    latest snapshot while a stage writes)."""
    from rmcurate.warehouse.report import write_feedback_report

    root = home_of(ctx, home)
    con = open_for_reading(root)
    try:
        path = write_feedback_report(con, root, run)
    except ValueError as e:
        fail(str(e), code=1)
    finally:
        con.close()
    out.print(str(path), soft_wrap=True)


def snapshot(ctx: typer.Context, home: Home = None):
    """Copy every table to Parquet under snapshots/<run id>/: what exports read."""
    from datetime import UTC, datetime

    from rmcurate.warehouse.snapshot import write_snapshot

    root = home_of(ctx, home)
    con = open_warehouse(root)
    try:
        path = write_snapshot(con, root, datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
    finally:
        con.close()
    out.print(str(path), soft_wrap=True)
