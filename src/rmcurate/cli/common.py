"""What every command shares: the two consoles, one-line errors, the --home option, opening the
warehouse, and printing summary rows as a table."""
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rmcurate.warehouse import WarehouseError, resolve_home

# Piped output gets wide lines: a summary is read by people and by grep, never folded.
out = Console(width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True)

# Declared once; the app's callback takes it before the command (`rmcurate --home DIR sql ...`, and
# $RMCURATE_HOME), every command that reads a home takes it after (`rmcurate sql --home DIR ...`).
HOME_HELP = "Data directory ($RMCURATE_HOME, default ./data)."
Home = Annotated[Path | None, typer.Option("--home", help=HOME_HELP, show_default=False)]


def fail(message: str, code: int = 2):
    err.print(f"rmcurate: error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def note(message: str) -> None:
    err.print(f"rmcurate: note: {message}", markup=False, highlight=False, soft_wrap=True)


def home_of(ctx: typer.Context, home: Path | None) -> Path:
    """The command's --home, else the app's (which also reads $RMCURATE_HOME), else ./data."""
    return resolve_home(home or ctx.obj)


def open_warehouse(home: Path):
    """A write connection, or the reason there is none as a one-line error."""
    from rmcurate.warehouse import connect

    try:
        return connect(home)
    except WarehouseError as e:
        fail(str(e))


def open_for_reading(home: Path):
    """A read-only connection that answers even while a stage writes (from the newest snapshot then,
    with a note saying so)."""
    from rmcurate.warehouse.sandbox import open_sandboxed

    try:
        con, why = open_sandboxed(home)
    except WarehouseError as e:
        fail(str(e))
    if why:
        note(why)
    return con


def print_rows(rows: list[dict], title: str | None = None) -> None:
    """Summary rows (stages/summaries.py) as a table; nothing when there are none."""
    if not rows:
        return
    t = Table(*rows[0], title=title)
    for r in rows:
        t.add_row(*map(str, r.values()))
    out.print(t)
