"""A whole night with 1% new data on a large warehouse, against the first night.

    python -m benchmarks.nightly [--conversations 100000] [--new-share 0.01]

Night 1 ingests the first 99% of --conversations synthetic WildChat conversations
(benchmarks/wildchat_gen.py) and runs the nightly; night 2 adds the other 1%. Printed:
each night's wall time and the snapshot's bytes written, as ratios of night 2 to night 1 (goal: <= 0.10 of the time),
and the most memory Arrow held during night 2 against the size of its ordinal export.

What it leaves out, so the figure is the pipeline's own cost: the judge answers nothing
(undecided turns stay neutral, and the judge URL is the instant fake server, which no call
reaches), no RMBoost seeds, no training. Those scale with what is new by construction: judge
calls go only to unlabelled turns and the trainer reuses a model when its export is unchanged.
"""
import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

TMP = Path(tempfile.mkdtemp(prefix="rmcurate-bench-nightly-"))
os.environ.setdefault("PREFECT_HOME", str(TMP / "prefect"))  # before prefect is imported
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.update(RMCURATE_LABEL_UNDECIDED="neutral", RMCURATE_PAIRS_MAX_SEEDS="0", RMCURATE_TRAIN_ENABLED="false")

from rmcurate.flows.nightly import nightly  # noqa: E402

from benchmarks.export import ArrowPeak, in_memory_bytes  # noqa: E402
from benchmarks.fake_judge import serving  # noqa: E402
from benchmarks.wildchat_gen import generate  # noqa: E402

STAGES = ("ingest", "label_feedback", "synthesize_pairs", "snapshot", "export")


def stage_seconds(flow_run_id: str) -> dict[str, float]:
    """Seconds each stage's Prefect tasks ran in this flow run, read from Prefect's own records."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    out = dict.fromkeys(STAGES, 0.0)
    for run in runs:
        name = run.name.rsplit("-", 1)[0]
        if name in out:
            out[name] += run.total_run_time.total_seconds()
    return out


def night(home: Path, sources: list[Path]) -> tuple[float, dict]:
    t0 = time.perf_counter()
    with ArrowPeak() as peak:
        result = nightly(home=str(home), sources=[str(s) for s in sources])
    seconds = time.perf_counter() - t0
    manifest = json.loads((Path(result["snapshot"]) / "manifest.json").read_text())
    return seconds, {"labelled": result["labels"]["n_labelled"], "kept": result["labels"]["n_kept"],
                     "snapshot_bytes": manifest["bytes_written"], "stages": stage_seconds(result["prefect_flow_run_id"]),
                     "exported": {fmt: e["n_rows"] for fmt, e in result["exports"].items()},
                     "arrow_peak": peak.peak, "ordinal_bytes": in_memory_bytes(Path(result["exports"]["ordinal"]["out_dir"]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conversations", type=int, default=100_000)
    ap.add_argument("--new-share", type=float, default=0.01)
    args = ap.parse_args()
    try:
        cut = int(args.conversations * (1 - args.new_share))
        first = generate(TMP / "night1.parquet", cut, seed=1)
        second = generate(TMP / "night2.parquet", args.conversations - cut, seed=2, first=cut)
        home = TMP / "home"
        with serving() as url:
            os.environ["RMCURATE_JUDGE_URLS"] = url
            t1, n1 = night(home, [first])
            t2, n2 = night(home, [first, second])
        print(f"{args.conversations:,} conversations, {args.conversations - cut:,} new on night 2 "
              f"({args.new_share:.0%}), {os.cpu_count()} cores:")
        print(f"  night 1: {t1:7.1f} s, {n1['labelled']:,} turns labelled, snapshot {n1['snapshot_bytes'] / 1e6:.1f} MB")
        print(f"  night 2: {t2:7.1f} s ({t2 / t1:.3f}), {n2['labelled']:,} turns labelled, snapshot "
              f"{n2['snapshot_bytes'] / 1e6:.2f} MB ({n2['snapshot_bytes'] / n1['snapshot_bytes']:.3f}); "
              "goal <= 0.10 of night 1's time")
        for stage in STAGES:
            a, b = n1["stages"][stage], n2["stages"][stage]
            print(f"  {stage:16s} {a:7.1f} s -> {b:6.1f} s" + (f" ({b / a:.2f})" if a else ""))
        print(f"  kept labels after night 2: {n1['kept'] + n2['kept']:,}; rows exported each night: "
              + ", ".join(f"{fmt} {n:,}" for fmt, n in n2["exported"].items()))
        print(f"  Arrow memory at its peak during night 2: {n2['arrow_peak'] / 1e6:.0f} MB; the ordinal export's rows "
              f"take {n2['ordinal_bytes'] / 1e6:.0f} MB in memory ({n2['arrow_peak'] / n2['ordinal_bytes']:.2f}): "
              "exports stream")
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
