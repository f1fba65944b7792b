"""The nightly refresh: `run` it once here, or `deploy` it to a Prefect server on a schedule."""
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from rmcurate.cli.common import Home, err, fail, home_of, out, print_rows
from rmcurate.cli.stages import print_labels, print_pairs
from rmcurate.stages.sources import SAMPLE_SIZE
from rmcurate.stages.summaries import ingest_rows, report_rows
from rmcurate.warehouse.runlock import RunInProgress, nightly_lock

Sources = Annotated[list[Path] | None, typer.Argument(help="Files to ingest instead of the bundled sample.")]
SampleSize = Annotated[int, typer.Option(help="Bundled ShareGPT conversations to use.")]


def run(ctx: typer.Context, sources: Sources = None, sample_size: SampleSize = SAMPLE_SIZE, home: Home = None):
    """Run the nightly flow once, locally (no Prefect server needed)."""
    # No telemetry from a machine that may have no network; it also races the local SQLite.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The temporary server's 20 s default is too short on a busy 2-core machine (uvicorn and its
    # SQLite migrations), and the run would die before its first task.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from rmcurate.flows.nightly import nightly

    root = home_of(ctx, home)
    try:
        with nightly_lock(root):  # before Prefect starts: a second run on the home stops in a second
            state = nightly(home=str(root), sources=[str(s) for s in sources] if sources else None,
                            sample_size=sample_size, return_state=True)
    except RunInProgress as e:
        fail(str(e), code=1)
    result = state.result(raise_on_failure=False)
    if isinstance(result, RunInProgress):
        fail(str(result), code=1)
    if isinstance(result, BaseException):
        raise result
    # The run's log is done; Prefect's shutdown lines (temporary server, event worker) would land
    # between and after the tables below.
    logging.getLogger("prefect").setLevel(logging.ERROR)
    print_rows(ingest_rows(result["ingests"], names_only=True), title="nightly ingest")
    print_labels(result["labels"])
    print_pairs(result["pairs"])
    out.print(f"snapshot: {result['snapshot']}")
    for title, rows in report_rows(result["exports"], result["train"]["results"]).items():
        print_rows(rows, title=title)
    out.print(f"report: {result['train']['report']}", soft_wrap=True)
    for failure in result["failures"]:
        err.print(f"rmcurate: error: {failure}", markup=False, highlight=False, soft_wrap=True)
    if result["failures"]:
        raise typer.Exit(1)


def deploy(ctx: typer.Context, sources: Sources = None,
           cron: Annotated[str, typer.Option(help="When to run, as a cron line (server time zone: UTC unless "
                                                  "--timezone).")] = "0 3 * * *",
           timezone: Annotated[str, typer.Option(help="IANA time zone of --cron.")] = "UTC",
           name: Annotated[str, typer.Option(help="Deployment name: runs as `nightly/NAME`.")] = "rmcurate-nightly",
           sample_size: SampleSize = SAMPLE_SIZE, home: Home = None):
    """Register the nightly flow with a Prefect server on a cron schedule, and run it when due.

    Needs a server (`prefect server start`) and PREFECT_API_URL pointing at it.
    This process is the worker: it stays up and runs each scheduled or triggered run
    (`prefect deployment run nightly/NAME`); Ctrl-C or SIGTERM stops it.
    Runs, logs and artifacts show in `prefect flow-run ls`, `prefect artifact ls` and the UI."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.settings import PREFECT_API_URL
    from pydantic import ValidationError

    if not PREFECT_API_URL.value():
        fail("no Prefect server: start one (`prefect server start`) and set PREFECT_API_URL, "
             "e.g. http://127.0.0.1:4200/api")
    try:
        schedule = CronSchedule(cron=cron, timezone=timezone)
    except ValidationError as e:
        fail(f"--cron/--timezone: {e.errors()[0]['msg']}")
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from rmcurate.flows.nightly import nightly

    params = {"home": str(home_of(ctx, home)), "sample_size": sample_size,
              "sources": [str(s.resolve()) for s in sources] if sources else None}
    err.print(f"serving nightly/{name} ({cron}, {timezone}) from {PREFECT_API_URL.value()}; Ctrl-C stops",
              markup=False, highlight=False)
    # By module path: the run subprocess imports rmcurate.flows.nightly as installed, from any folder.
    # Serving again under the same name updates a deployment made before the move to src/rmcurate.
    nightly.serve(name=name, schedule=Cron(schedule.cron, timezone=schedule.timezone), parameters=params,
                  print_starting_message=False, entrypoint_type=EntrypointType.MODULE_PATH)
