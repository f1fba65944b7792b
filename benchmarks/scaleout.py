"""The partitioned stages on 1 and 2 local Dask workers, against this process alone.

    python -m benchmarks.scaleout [--conversations 17000] [--files 8] [--workers 1,2]

Three stages of flows/scaleout.py on real bundled ShareGPT conversations:
  parse   the conversations split into --files JSON files, each parsed by a `parse_file` task
          (the Arrow chunks come back to this process, as they do for the nightly's writer);
  screen  every turn of them through language detection and the rule filters, a
          `screen_turns` task per 1,000 turns;
  embed   the follow-ups the first pass and mining embed (MiniLM), an `embed_feedback` task per
          1,000 texts (each worker loads the model once, before the clock: a first call warms it).
Each is timed in this process (no cluster) and on a local cluster of each --workers size,
started before the clock; printed as seconds and as a ratio to one worker.
"""
import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

# Named here, made in main(): a Dask worker imports this module again and would leave an empty folder.
TMP = Path(tempfile.gettempdir()) / f"rmcurate-bench-scaleout-{os.getpid()}"
os.environ.setdefault("PREFECT_HOME", str(TMP / "prefect"))  # before prefect is imported
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry calls from the bench

from prefect import flow  # noqa: E402
from prefect.utilities.annotations import unmapped  # noqa: E402

from rmcurate.flows.scaleout import (  # noqa: E402
    cluster,
    embed_partition,
    parse_file,
    parts,
    screen_partition,
    task_runner,
)
from rmcurate.rules.feedback.embed import Embedder  # noqa: E402
from rmcurate.readers import detect  # noqa: E402
from rmcurate.readers.read import read  # noqa: E402
from rmcurate.rules.feedback.screen import screen  # noqa: E402
from rmcurate.settings import (
    FlowSettings,  # noqa: E402
    LabelSettings,  # noqa: E402
)
from rmcurate.stages.label import PIPELINE_VERSION
from rmcurate.stages.sources import sample_file  # noqa: E402
from rmcurate.warehouse import connect, ingest_file  # noqa: E402
from rmcurate.warehouse.feedback import pending_conversations, turns_of  # noqa: E402


def parse_here(files):
    return sum(len(list(read(f, detect(f)))) for f in files)


def screen_here(turns, settings):
    return len(screen(turns, settings))


def parse_there(runner, files):
    futures = [runner.submit(parse_file, parameters={"path": str(f), "fmt": detect(f)}) for f in files]
    return sum(len(f.result()) for f in futures)


def screen_there(runner, turns, settings):
    futures = runner.map(screen_partition, parameters={"turns": parts(turns, 1000), "settings": unmapped(settings)})
    return sum(len(f.result()) for f in futures)


def embed_there(runner, texts):
    futures = runner.map(embed_partition, parameters={"texts": parts(texts, 1000)})
    return sum(len(f.result()) for f in futures)


def load_turns(home: Path) -> list[dict]:
    con = connect(home)
    try:
        return turns_of(con, pending_conversations(con, PIPELINE_VERSION), PIPELINE_VERSION)
    finally:
        con.close()


@flow(name="bench-scaleout")
def bench(files: list[str], home: str, workers: list[int]) -> dict:
    """The flow run the tasks belong to (its parameters stay small: Prefect stores them)."""
    files, turns, settings = [Path(f) for f in files], load_turns(Path(home)), LabelSettings()
    texts = [t["feedback"] for t in turns]
    timings = {"turns": len(turns)}
    embed = Embedder()
    embed(texts[:8])  # the model loaded before the clock, as on a worker below
    t0 = time.perf_counter()
    parse_here(files)
    t1 = time.perf_counter()
    screen_here(turns, settings)
    t2 = time.perf_counter()
    embed(texts)
    timings["this process"] = (t1 - t0, t2 - t1, time.perf_counter() - t2)
    for n in workers:
        with cluster(FlowSettings(workers=n)) as address, task_runner(address) as runner:
            embed_there(runner, texts[:8 * n])  # each worker's model loaded before the clock
            t0 = time.perf_counter()
            parse_there(runner, files)
            t1 = time.perf_counter()
            screen_there(runner, turns, settings)
            t2 = time.perf_counter()
            embed_there(runner, texts)
            timings[f"{n} worker{'s' if n > 1 else ''}"] = (t1 - t0, t2 - t1, time.perf_counter() - t2)
    return timings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conversations", type=int, default=17_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    TMP.mkdir()
    try:
        home = TMP / "home"
        source = sample_file(home, args.conversations)
        records = json.loads(source.read_text())
        files = []
        for i in range(args.files):
            files.append(TMP / f"part-{i}.json")
            files[-1].write_text(json.dumps(records[i::args.files]))
        con = connect(home)
        ingest_file(con, source, detect(source))
        con.close()
        workers = [int(w) for w in args.workers.split(",")]
        timings = bench([str(f) for f in files], str(home), workers)
        n_turns = timings.pop("turns")
        base = timings[f"{workers[0]} worker{'s' if workers[0] > 1 else ''}"]
        print(f"{len(records):,} conversations in {args.files} files, {n_turns:,} turns, {os.cpu_count()} cores:")
        print(f"  {'':<14} {'parse s':>8} {'ratio':>6} {'screen s':>9} {'ratio':>6} {'embed s':>8} {'ratio':>6}")
        for name, (p, s, e) in timings.items():
            print(f"  {name:<14} {p:>8.1f} {p / base[0]:>6.2f} {s:>9.1f} {s / base[1]:>6.2f} {e:>8.1f} "
                  f"{e / base[2]:>6.2f}")
        print(f"  (ratio: to {workers[0]} worker{'s' if workers[0] > 1 else ''}; the cluster adds pickling and "
              "a Prefect task run per partition)")
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
