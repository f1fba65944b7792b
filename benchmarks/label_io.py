"""Does the label stage keep a fast judge busy? `rmcurate label` against an instant fake judge.

    python -m benchmarks.label_io [--conversations 4000] [--in-flight 32]

A home holds the first N bundled conversations; `rmcurate label` runs on it as a user runs it, with
RMCURATE_JUDGE_URLS pointed at benchmarks/fake_judge.py (its own process, answers at once), and
every turn no cue settles goes to the judge. Printed, as ratios to a bare httpx loop that sends the
same request bodies (read back from judge_calls) at the same concurrency, in the same run, and to a
bare aiohttp loop (the client the judge backend now uses, about 10x less CPU a call than httpx):
- the call window: judge calls per second from the first call sent to the last answer (judge_calls'
  started_at and finished_at), that is how busy the stage kept the judge while it was labelling;
- the whole command: calls per second over `rmcurate label` from start to exit (Python, the
  warehouse, MiniLM for mining, the report).
Goal (issue 31): the window >= 0.6 of bare httpx on a night of at least 5,000 calls.
"""
import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rmcurate.stages.sources import sample_file
from rmcurate.warehouse import connect

from benchmarks.fake_judge import serving
from benchmarks.judge_io import bare_aiohttp, bare_loop

RMCURATE = [sys.executable, "-m", "rmcurate.cli"]  # PYTHONPATH picks the tree measured


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conversations", type=int, default=4000)
    ap.add_argument("--in-flight", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3, help="bare httpx rounds (median)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rmcurate-bench-label-io-"))
    try:
        home = root / "home"
        sample = sample_file(home, args.conversations)
        subprocess.run([*RMCURATE, "--home", str(home), "ingest", str(sample)], check=True, capture_output=True)
        with serving() as url:
            env = {**os.environ, "RMCURATE_JUDGE_URLS": url, "RMCURATE_JUDGE_MAX_IN_FLIGHT": str(args.in_flight)}
            t0 = time.perf_counter()
            run = subprocess.run([*RMCURATE, "--home", str(home), "label"], env=env, capture_output=True, text=True)
            command_s = time.perf_counter() - t0
            if run.returncode != 0:
                sys.exit(f"rmcurate label failed: {run.stderr.strip()[-2000:]}")
            con = connect(home, read_only=True)
            n, window_s = con.execute("""SELECT count(*), epoch(max(finished_at) - min(started_at))
                                         FROM judge_calls""").fetchone()
            bodies = [json.loads(b) for (b,) in con.execute("SELECT request FROM judge_calls ORDER BY key").fetchall()]
            (turns,) = con.execute("SELECT count(*) FROM feedback_labels").fetchone()
            con.close()
            bare = statistics.median(asyncio.run(bare_loop(url, bodies, args.in_flight)) for _ in range(args.rounds))
            bare_aio = statistics.median(asyncio.run(bare_aiohttp(url, bodies, args.in_flight))
                                         for _ in range(args.rounds))
        window, whole = n / window_s, n / command_s
        print(f"{args.conversations:,} conversations, {turns:,} turns labelled, {n:,} judge calls, "
              f"{args.in_flight} in flight")
        print(f"bare loops, same bodies (median of {args.rounds}): httpx {bare:,.0f} calls/s, "
              f"aiohttp (the backend's client) {bare_aio:,.0f} calls/s")
        print(f"call window: {window:,.0f} calls/s over {window_s:.1f} s ({window / bare:.2f} of bare httpx, "
              f"goal >= 0.6; {window / bare_aio:.2f} of bare aiohttp)")
        print(f"whole command: {whole:,.0f} calls/s over {command_s:.1f} s ({whole / bare:.2f} of bare httpx, "
              f"{whole / bare_aio:.2f} of bare aiohttp)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
