"""The `rmcurate` command line: one module per command group, registered here.

    ingest.py   ingest
    query.py    sql, status, report, snapshot
    stages.py   label, pairs
    nightly.py  run, deploy
    exports.py  export, train, score
    judge.py    judge serve | ping | eval
    review.py   review (serve the page) | queue | export | import
    common.py   the consoles, one-line errors, --home, opening the warehouse, summary tables

Commands are thin: they parse options, call a stage or the warehouse, and print what comes back.
"""
import sys
from pathlib import Path
from typing import Annotated

import typer

from rmcurate.cli import exports, ingest, judge, nightly, query, review, stages
from rmcurate.cli.common import HOME_HELP, err, out
from rmcurate.cli.quiet import quiet_teardown
from rmcurate.settings import settings_help

app = typer.Typer(help="Curate reward-model training data from what chat users do.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)


def show_version(value: bool) -> None:
    if value:
        from rmcurate.warehouse.exports import code_version

        out.print(f"rmcurate {code_version()}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(ctx: typer.Context,
         home: Annotated[Path | None, typer.Option(help=HOME_HELP, envvar="RMCURATE_HOME", show_default=False)] = None,
         version: Annotated[bool, typer.Option("--version", callback=show_version, is_eager=True,
                                               help="Print the version (and commit) and exit.")] = False):
    ctx.obj = home  # a command's own --home wins (cli/common.py: home_of)
    quiet_teardown()  # before a command imports Prefect: see cli/quiet.py


app.command()(ingest.ingest)
app.command()(query.sql)
app.command()(query.status)
app.command(epilog=settings_help())(nightly.run)
app.command(epilog=settings_help())(nightly.deploy)
app.command()(stages.pairs)
app.command()(stages.label)
app.command()(query.report)
app.command()(query.snapshot)
app.command()(exports.export)
app.command()(exports.train)
app.command()(exports.score)
app.add_typer(judge.app, name="judge")
app.add_typer(review.app, name="review")


def cli() -> None:
    """The `rmcurate` entry point: usage errors (an unknown option, a value outside its choices) and
    bad settings are one line on stderr with status 2, as every other error of ours is."""
    from pydantic import ValidationError

    try:
        code = app(args=sys.argv[1:], prog_name="rmcurate", standalone_mode=False)
    except typer.TyperException as e:  # click's usage errors, as typer raises them
        message = e.format_message().replace(": Value error, ", ": ")  # pydantic's words on a bad choice
        if message.strip():  # empty after `rmcurate` alone, which printed the help
            err.print(f"rmcurate: error: {message}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(getattr(e, "exit_code", 2))
    except typer.Abort:
        err.print("rmcurate: aborted", markup=False, highlight=False)
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except ValidationError as e:  # a setting from the environment that does not parse
        from rmcurate.settings import GROUPS

        cls = next((c for c in GROUPS.values() if c.__name__ == e.title), None)
        if cls is None:
            raise
        first = e.errors()[0]
        name = (cls.model_config.get("env_prefix", "") + str(first["loc"][0])).upper()
        err.print(f"rmcurate: error: {name}={first.get('input')!r}: {first['msg']}", markup=False, highlight=False,
                  soft_wrap=True)
        sys.exit(2)
    sys.exit(code or 0)
