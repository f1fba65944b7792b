"""`rmcurate ingest`: load chat and event logs into the warehouse."""
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from rmcurate.cli.common import Home, err, fail, home_of, note, open_warehouse, print_rows
from rmcurate.readers import KINDS
from rmcurate.stages.sources import expand
from rmcurate.stages.summaries import ingest_rows

PROGRESS_MIN_BYTES = 20 << 20  # show a progress bar for files above 20 MiB


def ingest(ctx: typer.Context,
           paths: Annotated[list[Path], typer.Argument(help="Files or folders to load.")],
           format: Annotated[Literal[KINDS] | None, typer.Option("--format", help="Force the kind.")] = None,
           force: Annotated[bool, typer.Option("--force", help="Read files seen before again, replacing what their "
                                                "earlier ingest wrote (in one transaction).")] = False,
           home: Home = None):
    """Load WildChat, ShareGPT or event-log files into the warehouse.

    A file that cannot be read is reported and the others still load; the exit status is 1 then.
    A file none of whose records loaded is 'quarantined'; read as another --format it loads in its place.
    """
    from rmcurate.warehouse.ingest import ingest_path

    missing = [p for p in paths if not p.exists() and not p.is_symlink()]
    if missing:
        fail(f"no such file or directory: {missing[0]}")
    files = expand(paths)
    con = open_warehouse(home_of(ctx, home))
    results = []
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        for path in files:
            size = path.stat().st_size if path.exists() else 0
            bar = progress.add_task(path.name, total=size, visible=size >= PROGRESS_MIN_BYTES)
            results.append(ingest_path(con, path, format, force=force,
                                       on_chunk=lambda c, bar=bar: progress.update(bar, completed=c.bytes_read)))
            progress.update(bar, completed=size)
    con.close()
    rows = ingest_rows([{**asdict(r), "path": str(path)} for path, r in zip(files, results)])  # paths as given
    if len(rows) > 1:
        totals = {k: sum(r[k] for r in rows) for k in ("read", "loaded", "duplicate", "quarantined")}
        rows.append({"file": "total", "format": "", **totals, "status": ""})
    print_rows(rows)
    for path, r in zip(files, results):
        if r.note:
            note(f"{path}: {r.note}")
    problems = [r.reason for r in results if r.reason]
    for reason in problems:
        err.print(f"rmcurate: error: {reason}", markup=False, highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)
