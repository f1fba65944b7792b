"""rmcurate at WildChat's size: N real conversations (benchmarks/corpus.py), a first night and a
night with 1% new, each command as a user runs it.

    python -m benchmarks.scale -n 100000 [--label-minutes 3] [--keep]

Per step: wall time, the command's peak RSS, the warehouse's size, and the most temporary disk
(home/tmp, <warehouse>.tmp, *.partial) seen while it ran, sampled every 0.2 s. Then `count(*)` and
a `group by` on every documented table and view through `rmcurate sql`. The label stage runs with
the embedded default (cues + first pass, the 135M judge never asked) under a time budget
(RMCURATE_LABEL_MAX_MINUTES): a first night over a million conversations is a backfill of hours,
so the figure to read is its rate and when its first labels landed. Prints one JSON document;
the tables in docs/benchmarks.md are from it. Deletes its home and corpus unless --keep.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.corpus import base_conversations, write

DATA = Path(os.environ.get("RMCURATE_BENCH_DATA", "bench-data")) / "scale"
TABLES = ["conversations", "messages", "replies", "turns", "reply_evidence", "events", "quarantine", "ingests",
          "feedback_labels", "feedback_judgements", "judge_calls", "pairs"]
GROUP_BY = {"turns": "language", "reply_evidence": "position", "messages": "role", "replies": "position",
            "conversations": "model", "feedback_labels": "method"}


def du(path: Path) -> int:
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def temp_bytes(home: Path) -> int:
    return (du(home / "tmp") + du(home / "warehouse.duckdb.tmp") + du(home / "warehouse.duckdb.wal")
            + sum(du(p) for p in home.glob("**/*.partial")))


def run(step: str, home: Path, *args: str, env: dict | None = None, timeout: float = 3600) -> dict:
    """One rmcurate command: seconds, peak RSS (its process tree's largest), peak temp disk."""
    peak_tmp, done = [0], threading.Event()

    def watch():
        while not done.wait(0.2):
            peak_tmp[0] = max(peak_tmp[0], temp_bytes(home))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "rmcurate.cli", *args, "--home", str(home)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    first_label = []

    def read_err():
        for line in proc.stderr:
            if "label_feedback:" in line and not first_label:
                first_label.append(round(time.monotonic() - t0, 1))
            err.append(line)

    err: list[str] = []
    reader = threading.Thread(target=read_err, daemon=True)
    reader.start()
    try:
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        done.set()
    reader.join(5)
    seconds = time.monotonic() - t0
    row = {"step": step, "seconds": round(seconds, 1), "peak_rss_gb": round(usage.ru_maxrss / 1e6, 2),
           "peak_temp_gb": round(peak_tmp[0] / 1e9, 2), "warehouse_gb": round(du(home / "warehouse.duckdb") / 1e9, 2),
           "exit": os.waitstatus_to_exitcode(status)}
    if first_label:
        row["first_progress_line_s"] = first_label[0]
    if row["exit"] != 0:
        row["error"] = "".join(err)[-600:]
    row["stdout_tail"] = out[-400:]
    print(json.dumps({k: v for k, v in row.items() if k != "stdout_tail"}), file=sys.stderr, flush=True)
    return row


def sql(home: Path, query: str) -> dict:
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "rmcurate.cli", "sql", query, "--home", str(home), "--format", "csv"],
                       capture_output=True, text=True)
    return {"query": query, "seconds": round(time.monotonic() - t0, 2), "exit": r.returncode,
            "answer": r.stdout.strip().splitlines()[1:3] if r.returncode == 0 else r.stderr.strip()[-300:]}


def labelled(home: Path) -> dict:
    r = sql(home, "SELECT count(*) AS labels, count(DISTINCT run_id) AS runs FROM feedback_labels")
    b = sql(home, "SELECT count(*) FROM label_backlog")
    return {"labels": r["answer"], "backlog": b["answer"]}


def night(name: str, home: Path, corpus: Path, label_minutes: float) -> list[dict]:
    env = {"RMCURATE_LABEL_MAX_MINUTES": str(label_minutes)}
    steps = [run(f"{name}: ingest", home, "ingest", str(corpus)),
             run(f"{name}: status", home, "status"),
             run(f"{name}: label", home, "label", env=env)]
    steps[-1]["after"] = labelled(home)
    steps += [run(f"{name}: snapshot", home, "snapshot"),
              run(f"{name}: pairs", home, "pairs", env={"RMCURATE_PAIRS_MAX_SEEDS": "16"}),
              run(f"{name}: snapshot", home, "snapshot"),
              run(f"{name}: export ordinal", home, "export", "--format", "ordinal", "--out", str(home / "exports-bench" / name))]
    return steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=100_000, help="conversations on the first night")
    ap.add_argument("--label-minutes", type=float, default=3.0, help="the label stage's budget per night")
    ap.add_argument("--keep", action="store_true", help="keep the corpus and the home")
    ap.add_argument("--keep-corpus", action="store_true", help="keep the corpus, delete the home")
    args = ap.parse_args()
    folder = DATA / f"n{args.n}"
    home = folder / "home"
    shutil.rmtree(home, ignore_errors=True)
    t0 = time.monotonic()
    base = base_conversations()
    # The same n gives the same bytes: a corpus kept from an earlier run (--keep) is used again.
    first, second = folder / "night1.parquet", folder / "night2.parquet"
    if not first.exists():
        write(first, args.n, 0, base)
    if not second.exists():
        write(second, max(1, args.n // 100), args.n, base)
    report = {"conversations": args.n, "corpus_seconds": round(time.monotonic() - t0, 1),
              "corpus_gb": round(du(first) / 1e9, 2), "cores": os.cpu_count(), "steps": []}
    try:
        report["steps"] += night("night 1", home, first, args.label_minutes)
        report["queries"] = [sql(home, f"SELECT count(*) FROM {t}") for t in TABLES]
        report["queries"] += [sql(home, f"SELECT {c}, count(*) FROM {t} GROUP BY 1 ORDER BY 2 DESC LIMIT 2")
                              for t, c in GROUP_BY.items()]
        report["steps"] += night("night 2 (1% new)", home, second, args.label_minutes)
        report["home_gb"] = round(du(home) / 1e9, 2)
    finally:
        for s in report["steps"]:
            s.pop("stdout_tail", None)
        print(json.dumps(report, indent=1))
        shutil.rmtree(home if args.keep_corpus else folder, ignore_errors=True) if not args.keep else None


if __name__ == "__main__":
    main()
