"""The `rmcurate` command line."""
import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from extractors import KINDS
from flows.quiet import quiet_teardown
from flows.settings import settings_help
from flows.sources import SAMPLE_SIZE, expand
from schemas.exports import FORMATS
from trainer.data import ESTIMATORS, OBJECTIVE_FORMATS
from warehouse import WarehouseError, connect, resolve_home
from warehouse.judge_calls import judge_stats
from warehouse.runlock import RunInProgress, nightly_lock
from warehouse.status import last_ingests, quarantine_by_reason, table_counts

app = typer.Typer(help="Curate reward-model training data from what chat users do.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
# Piped output gets wide lines: a summary is read by people and by grep, never folded.
out = Console(width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True)
PROGRESS_MIN_BYTES = 20 << 20  # show a progress bar for files above 20 MiB
SETTINGS_HELP = settings_help()  # the epilog of run and deploy


def fail(message: str, code: int = 2):
    err.print(f"rmcurate: error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def show_version(value: bool) -> None:
    if value:
        from warehouse.exports import code_version

        out.print(f"rmcurate {code_version()}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(ctx: typer.Context,
         home: Annotated[Path | None, typer.Option(help="Data directory; also accepted after the command.",
                                                   envvar="RMCURATE_HOME", show_default="./data")] = None,
         version: Annotated[bool, typer.Option("--version", callback=show_version, is_eager=True,
                                               help="Print the version (and commit) and exit.")] = False):
    ctx.obj = resolve_home(home)
    quiet_teardown()  # before a command imports Prefect: see flows/quiet.py


@app.command()
def ingest(ctx: typer.Context,
           paths: Annotated[list[Path], typer.Argument(help="Files or folders to load.")],
           format: Annotated[Literal[KINDS] | None, typer.Option("--format", help="Force the kind.")] = None,
           force: Annotated[bool, typer.Option("--force", help="Read files seen before again, replacing what their "
                                                "earlier ingest wrote (in one transaction).")] = False):
    """Load WildChat, ShareGPT or event-log files into the warehouse.

    A file that cannot be read is reported and the others still load; the exit status is 1 then.
    A file none of whose records loaded is 'quarantined'; read as another --format it loads in its place.
    """
    from warehouse.ingest import ingest_path

    missing = [p for p in paths if not p.exists() and not p.is_symlink()]
    if missing:
        fail(f"no such file or directory: {missing[0]}")
    files = expand(paths)
    try:
        con = connect(ctx.obj)
    except WarehouseError as e:
        fail(str(e))
    table = Table("file", "format", "read", "loaded", "duplicate", "quarantined", "status")
    totals = [0, 0, 0, 0]
    problems, notes = [], []
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        for path in files:
            size = path.stat().st_size if path.exists() else 0
            bar = progress.add_task(path.name, total=size, visible=size >= PROGRESS_MIN_BYTES)
            r = ingest_path(con, path, format, force=force,
                            on_chunk=lambda c, bar=bar: progress.update(bar, completed=c.bytes_read))
            progress.update(bar, completed=size)
            status = f"skipped (same content as ingest {r.skipped_as})" if r.status == "skipped" else r.status
            if r.replaced:
                status += f" (replaces ingest {', '.join(map(str, r.replaced))})"
            if r.note:
                notes.append(f"{path}: {r.note}")
            if r.reason:
                problems.append(r.reason)
            table.add_row(str(path), r.format, *map(str, (r.n_read, r.n_loaded, r.n_duplicate, r.n_quarantined)),
                          status)
            totals = [a + b for a, b in zip(totals, (r.n_read, r.n_loaded, r.n_duplicate, r.n_quarantined))]
    con.close()
    if len(files) > 1:
        table.add_row("total", "", *map(str, totals), "")
    out.print(table)
    for note in notes:
        err.print(f"rmcurate: note: {note}", markup=False, highlight=False, soft_wrap=True)
    for reason in problems:
        err.print(f"rmcurate: error: {reason}", markup=False, highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)


@app.command()
def sql(ctx: typer.Context, query: Annotated[str, typer.Argument(help="A SQL query (DuckDB dialect).")],
        format: Annotated[Literal["table", "csv", "json"], typer.Option("--format")] = "table",
        max_rows: Annotated[int, typer.Option(help="Rows shown in table format.")] = 40,
        timeout: Annotated[float, typer.Option(envvar="RMCURATE_SQL_TIMEOUT_S",
                                               help="Stop the query after this many seconds; 0 for none.")] = 60.0,
        max_spill: Annotated[str, typer.Option(envvar="RMCURATE_SQL_MAX_SPILL",
                                               help="Disk the query may spill to (removed after it).")] = "10GB"):
    """Query the warehouse, read-only: one SELECT (or DESCRIBE, SHOW, SUMMARIZE, PIVOT, EXPLAIN); no file
    is written and none outside the warehouse is read. csv and json stream their rows."""
    from flows.sqlquery import run_sql

    try:
        code = run_sql(ctx.obj, query, format, max_rows, timeout, max_spill)
    except WarehouseError as e:
        fail(str(e))
    raise typer.Exit(code)


@app.command()
def status(ctx: typer.Context):
    """Tables, row counts, recent ingests and quarantine reasons (from the latest snapshot while a stage writes)."""
    from warehouse.sandbox import open_sandboxed

    try:
        con, note = open_sandboxed(ctx.obj)
    except WarehouseError as e:
        fail(str(e))
    if note:
        err.print(f"rmcurate: note: {note}", markup=False, highlight=False, soft_wrap=True)
    out.print(f"warehouse: {ctx.obj}")
    t = Table("table", "rows", title="tables")
    for name, n in table_counts(con):
        t.add_row(name, f"{n:,}")
    out.print(t)
    t = Table("id", "path", "format", "read", "loaded", "dup", "quar", "status", "finished", title="last ingests")
    for row in last_ingests(con):
        t.add_row(*map(str, row))
    out.print(t)
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


@app.command(epilog=SETTINGS_HELP)
def run(ctx: typer.Context,
        sources: Annotated[list[Path] | None, typer.Argument(help="Files to ingest instead of the bundled sample.")] = None,
        sample_size: Annotated[int, typer.Option(help="Bundled ShareGPT conversations to use.")] = SAMPLE_SIZE):
    """Run the nightly flow once, locally (no Prefect server needed)."""
    # No telemetry from a machine that may have no network; it also races the local SQLite.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The temporary server's 20 s default is too short on a busy 2-core machine (uvicorn and its
    # SQLite migrations), and the run would die before its first task.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from flows.nightly import nightly

    home = resolve_home(ctx.obj)
    try:
        with nightly_lock(home):  # before Prefect starts: a second run on the home stops in a second
            state = nightly(home=str(home), sources=[str(s) for s in sources] if sources else None,
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
    t = Table("file", "format", "read", "loaded", "duplicate", "quarantined", "status", title="nightly ingest")
    for r in result["ingests"]:
        t.add_row(Path(r["path"]).name, r["format"], *map(str, (r["n_read"], r["n_loaded"], r["n_duplicate"],
                                                                  r["n_quarantined"])), r["status"])
    out.print(t)
    print_labels(result["labels"])
    print_pairs(result["pairs"])
    out.print(f"snapshot: {result['snapshot']}")
    print_exports_and_training(result["exports"], result["train"])
    for failure in result["failures"]:
        err.print(f"rmcurate: error: {failure}", markup=False, highlight=False, soft_wrap=True)
    if result["failures"]:
        raise typer.Exit(1)


@app.command(epilog=SETTINGS_HELP)
def deploy(ctx: typer.Context,
           sources: Annotated[list[Path] | None, typer.Argument(help="Files to ingest instead of the bundled sample.")] = None,
           cron: Annotated[str, typer.Option(help="When to run, as a cron line (server time zone: UTC unless --timezone).")] = "0 3 * * *",
           timezone: Annotated[str, typer.Option(help="IANA time zone of --cron.")] = "UTC",
           name: Annotated[str, typer.Option(help="Deployment name: runs as `nightly/NAME`.")] = "rmcurate-nightly",
           sample_size: Annotated[int, typer.Option(help="Bundled ShareGPT conversations to use.")] = SAMPLE_SIZE):
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

    from flows.nightly import nightly

    params = {"home": str(ctx.obj), "sources": [str(s.resolve()) for s in sources] if sources else None,
              "sample_size": sample_size}
    err.print(f"serving nightly/{name} ({cron}, {timezone}) from {PREFECT_API_URL.value()}; Ctrl-C stops",
              markup=False, highlight=False)
    # By module path: the run subprocess imports flows.nightly as installed, from any folder.
    nightly.serve(name=name, schedule=Cron(schedule.cron, timezone=schedule.timezone), parameters=params,
                  print_starting_message=False, entrypoint_type=EntrypointType.MODULE_PATH)


def print_exports_and_training(exports: dict, trained: dict) -> None:
    """The same tables the run's report gets."""
    from flows.train import report_rows

    for title, rows in report_rows(exports, trained["results"]).items():
        if rows:
            t = Table(*rows[0], title=title)
            for r in rows:
                t.add_row(*map(str, r.values()))
            out.print(t)
    out.print(f"report: {trained['report']}", soft_wrap=True)


def print_pairs(r: dict) -> None:
    out.print(f"pairs: {r['n_seeds']} seeds, {r['n_kept']} RMBoost pairs kept, {r['n_natural']} natural pairs, "
              f"{r['n_pending']} waiting on a failed call", soft_wrap=True)
    for reason, n in sorted(r["drops"].items(), key=lambda x: -x[1]):
        out.print(f"  dropped {n}: {reason}", soft_wrap=True)
    if r["verification"]:
        from warehouse.report import verification_summary
        out.print(f"  verification by {r['verifier']}: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(r["verification"].items()))
                  + f" ({verification_summary(r['verification'])})", soft_wrap=True)


@app.command()
def pairs(ctx: typer.Context):
    """Build RMBoost pairs from labelled turns not yet used as seeds, and natural pairs."""
    from datetime import UTC, datetime

    from flows.label import StageFailed
    from flows.pairs import pairs_with_judge
    from judges.embedded import EmbeddedServerError
    from judges.vllm_http import JudgeUnavailable

    try:
        result = pairs_with_judge(ctx.obj, datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
    except StageFailed as e:  # pairs were written; too many calls failed
        print_pairs(e.result)
        fail(str(e), code=1)
    except (EmbeddedServerError, JudgeUnavailable, WarehouseError) as e:
        fail(str(e), code=1)
    print_pairs(result)


def print_labels(result: dict) -> None:
    t = Table("step", "in", "dropped", "labelled here", "out", title=f"feedback funnel, run {result['run_id']}")
    for f in result["funnel"]:
        t.add_row(f.step, *map(str, (f.n_in, f.n_dropped, f.n_changed, f.n_out)))
    out.print(t)
    out.print(f"labelled {result['n_labelled']} turns, kept {result['n_kept']}, "
              f"{result['n_pending']} waiting on a failed judge call; report: {result['report']}", soft_wrap=True)


@app.command()
def label(ctx: typer.Context):
    """Label the feedback of every turn not labelled yet (WildReward), then write the report."""
    from datetime import UTC, datetime

    from flows.label import StageFailed, label_with_judge
    from judges.embedded import EmbeddedServerError
    from judges.vllm_http import JudgeUnavailable

    try:
        result = label_with_judge(ctx.obj, datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
    except StageFailed as e:  # labels were written; too many calls failed
        print_labels(e.result)
        fail(str(e), code=1)
    except (EmbeddedServerError, JudgeUnavailable, WarehouseError) as e:
        fail(str(e), code=1)
    print_labels(result)


@app.command()
def report(ctx: typer.Context, run: Annotated[str | None, typer.Option(help="Labelling run id (default: the last).")] = None):
    """Write the feedback report (funnel and label histogram) as HTML and print its path (from the
    latest snapshot while a stage writes)."""
    from warehouse.report import write_feedback_report
    from warehouse.sandbox import open_sandboxed

    try:
        con, note = open_sandboxed(ctx.obj)
    except WarehouseError as e:
        fail(str(e))
    if note:
        err.print(f"rmcurate: note: {note}", markup=False, highlight=False, soft_wrap=True)
    try:
        path = write_feedback_report(con, ctx.obj, run)
    except ValueError as e:
        con.close()
        fail(str(e), code=1)
    con.close()
    out.print(str(path), soft_wrap=True)


@app.command()
def snapshot(ctx: typer.Context):
    """Copy every table to Parquet under snapshots/<run id>/: what exports read."""
    from datetime import UTC, datetime

    from warehouse.snapshot import write_snapshot

    try:
        con = connect(ctx.obj)
    except WarehouseError as e:
        fail(str(e))
    path = write_snapshot(con, ctx.obj, datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
    con.close()
    out.print(str(path), soft_wrap=True)


@app.command()
def export(ctx: typer.Context,
           format: Annotated[Literal[(*FORMATS, "all")], typer.Option("--format", help="A format, or all.")],
           out_dir: Annotated[Path, typer.Option("--out", help="Output folder (all: one subfolder per format).")],
           snapshot: Annotated[str | None, typer.Option(help="Snapshot run id (default: the newest).")] = None,
           seed: Annotated[int, typer.Option(help="Seed of the train/test split.")] = 0,
           test_fraction: Annotated[float, typer.Option(help="Share of conversations in the test split.")] = 0.1,
           shard_rows: Annotated[int, typer.Option(help="Rows per shard.")] = 50_000,
           jsonl: Annotated[bool, typer.Option("--jsonl", help="JSON lines shards instead of Parquet.")] = False):
    """Write a training set from a warehouse snapshot: shards, manifest.json and a dataset card."""
    from warehouse.exports import ExportError, check_all_out
    from warehouse.exports import export as write_export

    formats = list(FORMATS) if format == "all" else [format]
    if format == "all":
        try:
            check_all_out(out_dir)
        except ExportError as e:
            fail(str(e))
    try:
        con = connect(ctx.obj)
    except WarehouseError as e:
        fail(str(e))
    t = Table("format", "folder", "rows", "train", "test", "dropped", title="exports")
    try:
        for fmt in formats:
            r = write_export(con, ctx.obj, fmt, out_dir / fmt if format == "all" else out_dir, snapshot=snapshot,
                             seed=seed, test_fraction=test_fraction, shard_rows=shard_rows, jsonl=jsonl)
            t.add_row(fmt, r.out_dir, *map(str, (r.n_rows, r.n_train, r.n_test, r.n_dropped)))
    except ExportError as e:
        fail(str(e))
    finally:
        con.close()
    out.print(t)


@app.command()
def train(ctx: typer.Context,
          data: Annotated[Path, typer.Option(help="An export folder (with manifest.json).")],
          objective: Annotated[Literal[tuple(OBJECTIVE_FORMATS)], typer.Option(
              help="pairwise (trl, openrlhf), ordinal, implicit, or generative (trl, openrlhf: a causal LM that "
                   "answers A or B).")],
          model: Annotated[str | None, typer.Option(help="Local Hugging Face checkpoint (default: all-MiniLM-L6-v2; "
                                                    "generative: the embedded judge's SmolLM2-135M-Instruct).")] = None,
          out_dir: Annotated[Path | None, typer.Option("--out", help="Where the checkpoint and metrics go.")] = None,
          max_steps: Annotated[int, typer.Option(help="Upper bound on optimizer steps.")] = 200,
          epochs: Annotated[float, typer.Option(help="Passes over the train split (max-steps still bounds).")] = 1.0,
          batch_size: Annotated[int, typer.Option(help="Examples per step.")] = 16,
          lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 5e-5,
          eps: Annotated[float, typer.Option(help="Label smoothing of pairwise and generative, in PyTorch's "
                                             "convention: the better side's target is 1 - eps/2.")] = 0.1,
          margin: Annotated[float, typer.Option(help="Pairwise margin.")] = 0.0,
          max_length: Annotated[int, typer.Option(help="Tokens per text; older history is cut first "
                                                  "(generative: the whole A/B prompt).")] = 256,
          estimator: Annotated[Literal[ESTIMATORS], typer.Option(help="Implicit: implicitrm is debiased.")] = "implicitrm",
          negatives: Annotated[bool, typer.Option(help="Implicit: thumbs down and regenerate are definite negatives.")] = True,
          stage1_steps: Annotated[int, typer.Option(help="Generative: next-token steps on prompt -> reply first "
                                                    "(GRAM's stage 1).")] = 0,
          field_chars: Annotated[int, typer.Option(help="Generative: characters per prompt field, cut as the pairs "
                                                   "stage cuts them.")] = 1000,
          seed: int = 0):
    """Train a reward model on an export; writes a checkpoint, metrics.json and loss.svg."""
    from trainer.data import DataError
    from trainer.train import TrainConfig
    from trainer.train import train as run_training

    if not (data / "manifest.json").exists():
        fail(f"{data} holds no manifest.json: pass a folder written by `rmcurate export`")
    if objective == "generative" and model is None:
        from flows.train import base_causal_lm

        try:
            model = str(base_causal_lm(ctx.obj))
        except ValueError as e:
            fail(f"{e}; or pass --model PATH")
    cfg = TrainConfig(objective=objective, model=model, max_steps=max_steps, epochs=epochs, batch_size=batch_size,
                      lr=lr, eps=eps, margin=margin, max_length=max_length, seed=seed, estimator=estimator,
                      negatives=negatives, stage1_steps=stage1_steps, field_chars=field_chars)
    target = out_dir or data.parent / f"{data.name}-{objective}-model"
    try:
        m = run_training(data, target, cfg, log=lambda msg: err.print(msg, highlight=False))
    except (DataError, NotImplementedError, ValueError) as e:
        fail(str(e).splitlines()[0])
    out.print(json.dumps({"test": m["test"], "test_before": m["test_before"], "length_baseline": m["length_baseline"],
                          "samples_per_s": round(m["samples_per_s"], 2)}, indent=2))
    out.print(f"checkpoint, metrics.json and loss.svg in {target}", soft_wrap=True)


@app.command()
def score(model: Annotated[Path, typer.Option(help="A checkpoint folder written by `rmcurate train`.")],
          data: Annotated[Path, typer.Option(help="A .parquet/.jsonl file with a text column, or an export folder.")],
          out_file: Annotated[Path, typer.Option("--out", help="Parquet file to write: ids and rewards.")]):
    """Score texts with a trained reward model (any objective): one reward per row, ids kept.

    A generative checkpoint scores pair exports: P(chosen better), both orders averaged.
    """
    from trainer.data import DataError
    from trainer.score import score as run_score

    for path, what in ((model, "--model"), (data, "--data")):
        if not path.exists():
            fail(f"no such file or directory for {what}: {path}")
    try:
        n = run_score(model, data, out_file)
    except (DataError, OSError, ValueError) as e:
        fail(str(e).splitlines()[0])
    out.print(f"{n} rows scored into {out_file}", soft_wrap=True)


judge = typer.Typer(help="The LLM judge: serve the embedded one, or check the configured ones.",
                    no_args_is_help=True)
app.add_typer(judge, name="judge")


@judge.command("serve")
def judge_serve(ctx: typer.Context,
                port: Annotated[int | None, typer.Option(help="Port (default $RMCURATE_JUDGE_PORT or 8765).")] = None,
                host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
                model: Annotated[Path | None, typer.Option(help="A checkpoint folder to serve instead of SmolLM2, "
                                                           "e.g. one from `rmcurate train --objective generative`.")] = None):
    """Run the embedded vLLM CPU server in the foreground until Ctrl-C."""
    import signal

    from judges.embedded import EmbeddedServer, EmbeddedServerError
    from judges.settings import JudgeSettings

    if model is not None and not model.is_dir():
        fail(f"--model: no such checkpoint folder: {model}")
    settings = JudgeSettings()
    server = EmbeddedServer(ctx.obj, settings, port=port or settings.port, host=host, model=model)

    def on_term(*_):  # SIGTERM (from a supervisor or a test) stops the server as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    err.print(f"starting the embedded judge ({server.served_model}) on {server.url}; log: {server.log}")
    try:
        server.start()
        out.print(f"judge ready at {server.url} (model {server.served_model}); "
                  f"export RMCURATE_JUDGE_URLS={server.url} to use it from other shells", soft_wrap=True)
        server.proc.wait()
        fail(f"judge server exited with status {server.proc.returncode}; see {server.log}", code=1)
    except EmbeddedServerError as e:
        fail(str(e), code=1)
    except KeyboardInterrupt:
        err.print("stopping the judge server")
    finally:
        server.stop()


@judge.command("ping")
def judge_ping(url: Annotated[list[str] | None, typer.Option(
        help="Base URL to check (repeatable; default $RMCURATE_JUDGE_URLS, else the `judge serve` port).")] = None):
    """Which endpoints answer, which model each serves, and how fast."""
    from judges.settings import JudgeSettings
    from judges.vllm_http import HttpJudge

    settings = JudgeSettings()
    urls = url or settings.url_list or [f"http://127.0.0.1:{settings.port}"]
    rows = HttpJudge(urls, api_key=settings.api_key).ping()
    t = Table("endpoint", "model", "latency ms", "error")
    for r in rows:
        t.add_row(r["endpoint"], r["model"] or "-", f"{r['latency_s'] * 1000:.1f}" if r["latency_s"] else "-",
                  r["error"] or "")
    out.print(t)
    raise typer.Exit(0 if any(r["model"] for r in rows) else 1)


@judge.command("eval")
def judge_eval(ctx: typer.Context,
               gold: Annotated[Path, typer.Option(help="Labelled follow-ups, JSON lines: prompt, response, feedback, "
                                                       "label 1-5 (e.g. benchmarks/gold/followups.jsonl).")],
               template: Annotated[str | None, typer.Option(help="Feedback template (default "
                                                                 "$RMCURATE_LABEL_TEMPLATE or feedback_choice).")] = None,
               cues: Annotated[bool | None, typer.Option("--cues/--no-cues", help="Settle explicit follow-ups by "
                                                         "cue before the judge (default $RMCURATE_LABEL_CUES).")] = None,
               undecided: Annotated[Literal["judge", "neutral"] | None, typer.Option(help="What a turn no cue settles "
                                                             "gets (default $RMCURATE_LABEL_UNDECIDED).")] = None,
               pairs: Annotated[int, typer.Option(help="pair_compare checks (0: none).")] = 40,
               as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False):
    """Score the configured judge (or the embedded one) on a labelled file before trusting it."""
    from flows.judge_eval import GoldError, evaluate_with_judge, load_gold
    from flows.label import LabelSettings
    from judges.embedded import EmbeddedServerError
    from judges.templates import TemplateError, load
    from judges.vllm_http import JudgeUnavailable

    overrides = {k: v for k, v in (("template", template), ("cues", cues), ("undecided", undecided)) if v is not None}
    settings = LabelSettings(**overrides)
    try:
        load(settings.template)
        load_gold(gold)
        r = evaluate_with_judge(ctx.obj, gold, settings, pairs)
    except (GoldError, TemplateError, WarehouseError) as e:
        fail(str(e))
    except (EmbeddedServerError, JudgeUnavailable) as e:
        fail(str(e), code=1)
    if as_json:
        out.print_json(json.dumps(r))
        return
    print_judge_eval(r)


def _f(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def print_judge_eval(r: dict) -> None:
    o = r["overall"]
    out.print(f"judge {r['model']}, template {r['template']}, cues {'on' if r['cues'] else 'off'}, "
              f"undecided -> {r['undecided']}; settled by: "
              + ", ".join(f"{m} {n}" for m, n in sorted(r["methods"].items())), soft_wrap=True)
    t = Table("items", "accuracy", "macro-F1", "always-neutral acc", "always-neutral macro-F1", "ECE",
              title="feedback categories against the gold labels")
    for name, s in [("all", o), *r["strata"].items()]:
        t.add_row(f"{name} ({s['n']})", _f(s["accuracy"]), _f(s["macro_f1"]), _f(s["always_neutral"]["accuracy"]),
                  _f(s["always_neutral"]["macro_f1"]), _f(s["ece"]) + (f" on {s['n_with_probs']}" if s["ece"] else ""))
    out.print(t)
    t = Table("category", "precision", "recall", "F1", "gold", "predicted", title="per category (all items)")
    for c, row in o["per_class"].items():
        t.add_row(str(c), _f(row["precision"]), _f(row["recall"]), _f(row["f1"]), str(row["support"]),
                  str(row["predicted"]))
    out.print(t)
    t = Table("gold \\ predicted", "1", "2", "3", "4", "5", "none", title="confusion matrix")
    for c, row in zip(range(1, 6), o["confusion"]):
        t.add_row(str(c), *map(str, row))
    out.print(t)
    if r["cue_precision"]:
        t = Table("cue", "settled", "correct", "precision", title="the cue stage")
        for rule, row in sorted(r["cue_precision"].items()):
            t.add_row(rule, str(row["settled"]), str(row["correct"]), _f(row["precision"]))
        out.print(t)
    if pc := r.get("pair_compare"):
        out.print(f"pair_compare: {pc['pairs']} pairs (gold reply against a reply of similar length from another "
                  f"conversation), accuracy {_f(pc['accuracy'])} over both orders' answers "
                  f"({_f(pc['accuracy_both_orders_p'])} from their A/B probabilities averaged), the two orders "
                  f"agree on {_f(pc['order_agreement'])}, {pc['failed']} failed", soft_wrap=True)


def hoist_home(args: list[str]) -> list[str]:
    """`rmcurate sql --home DIR ...` as `rmcurate --home DIR sql ...`: --home is the app's option, and
    users put it after the command too. Options only: nothing after `--` moves."""
    end = args.index("--") if "--" in args else len(args)
    out, moved, i = [], [], 0
    while i < end:
        if args[i] == "--home" and i + 1 < end:
            moved += args[i:i + 2]
            i += 2
            continue
        if args[i].startswith("--home="):
            moved.append(args[i])
        else:
            out.append(args[i])
        i += 1
    return moved + out + args[end:]


def cli() -> None:
    """The `rmcurate` entry point: usage errors (an unknown option, a value outside its choices) are
    one line on stderr with status 2, as every other error of ours is."""
    try:
        code = app(args=hoist_home(sys.argv[1:]), prog_name="rmcurate", standalone_mode=False)
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
    sys.exit(code or 0)


if __name__ == "__main__":
    cli()
