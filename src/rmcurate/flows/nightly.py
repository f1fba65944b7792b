"""The nightly refresh: ingest what is new, label feedback, build pairs, snapshot,
export training sets, and prove them with a short training run."""
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import httpx
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import deployment, flow_run
from prefect.states import Failed
from prefect.tasks import exponential_backoff

from rmcurate.flows.scaleout import (Parsed, cluster, parse_ahead, partitioned_embed, partitioned_screen,
                                      partitioned_signatures, task_runner)
from rmcurate.judges.backends import shared_judge
from rmcurate.settings import FlowSettings, JudgeSettings, PairSettings, TrainSettings
from rmcurate.stages.common import StageFailed
from rmcurate.stages.export import export_all
from rmcurate.stages.label import PIPELINE_VERSION, label_with_judge
from rmcurate.stages.pairs import has_seeds, pairs_with_judge
from rmcurate.stages.sources import SAMPLE_SIZE, inbox_files, sample_file, simulated_events_file
from rmcurate.stages.summaries import funnel_rows, label_line, pair_drop_rows, pairs_rows, report_rows
from rmcurate.stages.train import train_exports
from rmcurate.warehouse import WarehouseBusy, connect, ingest_path, resolve_home
from rmcurate.warehouse.feedback import pending_conversations
from rmcurate.warehouse.runlock import nightly_lock
from rmcurate.warehouse.runs import finish_run, start_run
from rmcurate.warehouse.snapshot import write_snapshot

TRANSIENT = (WarehouseBusy, httpx.TransportError, ConnectionError)


def transient(task, task_run, state) -> bool:
    """Retry only what may pass: a bad file or a failed judge stage would fail the same way again."""
    try:
        state.result()
    except TRANSIENT:
        return True
    except BaseException:  # noqa: BLE001 - any other failure is for good
        pass
    return False


def with_retries(t, settings: FlowSettings, timeout_s: float | None = None):
    delays = exponential_backoff(backoff_factor=settings.retry_delay_s)(settings.retries) if settings.retries else 0
    return t.with_options(retries=settings.retries, retry_delay_seconds=delays, retry_condition_fn=transient,
                          timeout_seconds=timeout_s or None)


@task(name="ingest", cache_policy=NO_CACHE)
def ingest_task(home: Path, path: Path, kind: str | None = None, chunks: Parsed | None = None) -> dict:
    """`chunks`: the file as a worker parsed it; None to read it here."""
    con = connect(home)
    try:
        result = ingest_path(con, path, kind, chunks=chunks)  # one bad inbox file must not stop the night
    finally:
        con.close()
    if result.reason:
        get_run_logger().error(result.reason)
        return asdict(result)
    get_run_logger().info("%s: %s read, %s loaded, %s duplicate, %s quarantined (%s)", path.name,
                          result.n_read, result.n_loaded, result.n_duplicate, result.n_quarantined, result.status)
    return asdict(result)


@task(name="snapshot")
def snapshot_task(home: Path, run_id: str) -> str:
    con = connect(home)
    try:
        return str(write_snapshot(con, home, run_id))
    finally:
        con.close()


def judge_needed(home: Path) -> bool:
    """Whether this run has turns to label or pair seeds waiting (so a judge must be up)."""
    con = connect(home)
    try:
        return bool(pending_conversations(con, PIPELINE_VERSION)) or has_seeds(con, PairSettings())
    finally:
        con.close()


@task(name="label_feedback")
def label_task(home: Path, run_id: str, judge: JudgeSettings, address: str | None = None) -> dict:
    """WildReward labels for new turns; `address`: the Dask cluster that screens them."""
    from prefect.artifacts import create_table_artifact

    rows = FlowSettings().partition_rows
    result = label_with_judge(home, run_id, judge_settings=judge,
                              screener_for=lambda settings: partitioned_screen(address, settings, rows),
                              embed=partitioned_embed(address, rows))
    create_table_artifact(key="feedback-funnel", table=funnel_rows(result["funnel"]),
                          description=f"Feedback funnel, run {run_id}")
    create_table_artifact(key="feedback-labels", table=result["histogram"],
                          description="Kept ordinal labels, all runs")
    get_run_logger().info(label_line(result))
    return result


@task(name="synthesize_pairs")
def pairs_task(home: Path, run_id: str, judge: JudgeSettings) -> dict:
    """RMBoost pairs from newly labelled turns, plus natural pairs."""
    from prefect.artifacts import create_table_artifact

    result = pairs_with_judge(home, run_id, judge_settings=judge)
    create_table_artifact(key="pairs", table=pairs_rows(result), description=f"Pairs, run {run_id}")
    if drops := pair_drop_rows(result):
        create_table_artifact(key="pair-drops", table=drops, description=f"Dropped generations, run {run_id}")
    get_run_logger().info("pairs: %s seeds, %s rmboost pairs kept, %s natural, %s pending",
                          result["n_seeds"], result["n_kept"], result["n_natural"], result["n_pending"])
    return result


@task(name="export")
def export_task(home: Path, run_id: str, address: str | None = None) -> dict:
    """Every format from this run's snapshot, under exports/<run_id>/; `address`: the Dask cluster
    that computes the MinHash signatures."""
    exports = export_all(home, run_id, sign=partitioned_signatures(address, FlowSettings().partition_rows))
    for fmt, e in exports.items():
        get_run_logger().info("export %s: %s rows (%s train, %s test, %s dropped) in %s", fmt, e["n_rows"],
                              e["n_train"], e["n_test"], e["n_dropped"], e["out_dir"])
    return exports


@task(name="train")
def train_task(home: Path, run_id: str, exports: dict) -> dict:
    """A bounded training run per objective, then the night's report (labels, pairs, exports, metrics)."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from rmcurate.warehouse.report import write_feedback_report

    settings = TrainSettings()
    results = train_exports(home, run_id, settings) if settings.enabled else {}
    tables = report_rows(exports, results)
    for title, rows in tables.items():
        if rows:
            create_table_artifact(key="trainer-metrics" if "Trainer" in title else "exports", table=rows,
                                  description=title)
    con = connect(home)
    try:
        report = write_feedback_report(con, home, run_id, extra=tables)
    finally:
        con.close()
    create_markdown_artifact(key="feedback-report", markdown=f"Report: `{report}`")
    for objective, m in results.items():
        if "skipped" in m:
            get_run_logger().warning("train %s skipped: %s", objective, m["skipped"])
        else:
            get_run_logger().info("train %s: test %s (before %s, length baseline %s)", objective, m["test"],
                                  m["test_before"], m["length_baseline"])
    return {"results": results, "report": str(report)}


@flow(name="nightly")
def nightly(home: str | None = None, sources: list[str] | None = None, sample_size: int = SAMPLE_SIZE) -> dict:
    """Ingest `sources` (default: the bundled ShareGPT sample) plus everything in the inbox."""
    root = resolve_home(home)
    with nightly_lock(root):  # a second run on the same home stops here, naming the one that holds it
        return night(root, sources, sample_size)


def night(root: Path, sources: list[str] | None, sample_size: int):
    # The bundled sample has no event log: a simulated one (named so in the export's manifest)
    # exercises the implicit path and lets the report score it against a known truth.
    paths = [Path(s) for s in sources] if sources else [sample_file(root, sample_size),
                                                         simulated_events_file(root, sample_size)]
    paths += inbox_files(root)
    fs = FlowSettings()
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    failures: list[str] = []
    # Parsing, screening and MinHash may spread over a Dask cluster (flows/scaleout.py); this process stays
    # the one writer: DuckDB allows a single writing process.
    with cluster(fs) as address:
        ingests = ingest_all(root, paths, fs, address)
        prefect_run = {"flow_run_id": flow_run.id, "flow_run_name": flow_run.name, "deployment_id": deployment.id}
        with_retries(record_start, fs)(root, run_id, prefect_run)
        # Without a configured judge, label and pairs share one embedded server.
        with shared_judge(root, judge_needed(root)) as judge:
            timeout = fs.llm_stage_timeout_s
            labels = settled(with_retries(label_task, fs, timeout)(root, run_id, judge, address, return_state=True),
                             failures)
            pairs = settled(with_retries(pairs_task, fs, timeout)(root, run_id, judge, return_state=True), failures)
        # A judge stage that failed too many calls still wrote what it could: the night goes on to
        # snapshot, export and train on that, and the run is marked failed at the end.
        snapshot = with_retries(snapshot_task, fs)(root, run_id)
        exports = with_retries(export_task, fs)(root, run_id, address)
    trained = train_task(root, run_id, exports)
    with_retries(record_finish, fs)(root, run_id, failures)
    result = {"home": str(root), "run_id": run_id, "prefect_flow_run_id": prefect_run["flow_run_id"], "ingests": ingests,
              "labels": labels, "pairs": pairs, "snapshot": snapshot, "exports": exports, "train": trained,
              "failures": failures}
    if failures:
        return Failed(message="; ".join(failures), data=result)
    return result


def ingest_all(root: Path, paths: list[Path], fs: FlowSettings, address: str | None) -> list[dict]:
    """Each file's ingest, in order; with a cluster, every new file is parsed there meanwhile."""
    ingest = with_retries(ingest_task, fs)
    if address is None:
        return [ingest(root, p) for p in paths]
    with task_runner(address) as runner:
        con = connect(root)
        try:
            parsed = parse_ahead(runner, con, paths)
        finally:
            con.close()
        return [ingest(root, p, chunks=parsed.get(p)) for p in paths]


@task(name="record_start")
def record_start(home: Path, run_id: str, prefect_run: dict) -> None:
    """The `runs` row: our run id beside Prefect's flow-run id, so either finds the other."""
    con = connect(home)
    try:
        start_run(con, run_id, **prefect_run)
    finally:
        con.close()


@task(name="record_finish")
def record_finish(home: Path, run_id: str, failures: list[str]) -> None:
    con = connect(home)
    try:
        finish_run(con, run_id, failures)
    finally:
        con.close()


def settled(state, failures: list[str]) -> dict:
    """A judge task's summary; a StageFailed task's message goes to `failures`, other errors raise."""
    value = state.result(raise_on_failure=False)
    if isinstance(value, StageFailed):
        failures.append(str(value))
        return value.result
    if isinstance(value, BaseException):
        raise value
    return value
