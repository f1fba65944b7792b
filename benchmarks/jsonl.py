"""JSON-lines ingest speed, as ratios against DuckDB's own `read_json` of the same file into a table.

    python -m benchmarks.jsonl [--sizes 20000 1000000] [--formats openai gateway] [--repeat 3]

For each size and format a JSON-lines file is generated from the bundled sample's real conversations
(new ids, cached under bench-data/): `openai` is one conversation a record, `gateway` one model call a
record (the request's messages and the response: each conversation of k replies is k records). Each is
loaded in fresh processes, alternating: a bare DuckDB `CREATE TABLE t AS SELECT * FROM read_json(...)`
(the baseline) and rmcurate's ingest of the file into a new warehouse. Both times are measured inside
the process, from before the first import of the loading code: the interpreter's own start-up and
rmcurate's imports are reported apart (`startup_s`, what `rmcurate ingest` pays once per command).
Target (issue 38): ingest <= 1.5x the baseline at 20k and 1M records. Medians of --repeat runs.
"""
import argparse
import json
import os
import time
from pathlib import Path
from statistics import median

from benchmarks import ingest as ingest_bench

DATA = Path(os.environ.get("RMCURATE_BENCH_DATA", "bench-data"))
MAX_CHARS = 2000  # a message longer than this is cut, so 1M records stay a few GB


def generate(path: Path, fmt: str, n: int) -> Path:
    if path.exists():
        return path
    from benchmarks.corpus import base_conversations

    base = [[(r, c[:MAX_CHARS]) for r, c in conv if c.strip()] for conv in base_conversations()]
    base = [c for c in base if any(r == "assistant" for r, _ in c) and c[0][0] == "user"]
    tmp = path.with_suffix(".part")
    written, i = 0, 0
    with open(tmp, "w") as f:
        while written < n:
            conv = base[i % len(base)]
            msgs = [{"role": r, "content": c} for r, c in conv]
            if fmt == "openai":
                f.write(json.dumps({"id": f"conv-{i}", "model": "gpt-4o", "messages": msgs}) + "\n")
                written += 1
            else:
                for k, m in enumerate(msgs):
                    if m["role"] != "assistant" or written >= n:
                        continue
                    f.write(json.dumps({"id": f"req-{i}-{k}", "request": {"model": "gpt-4o", "messages": msgs[:k]},
                                        "response": {"id": f"cmpl-{i}-{k}", "choices": [{"message": m}]}}) + "\n")
                    written += 1
            i += 1
    tmp.rename(path)
    return path


def worker(mode: str, path: Path, home: Path) -> None:
    if mode != "startup":
        return ingest_bench.worker(mode, path, home, reader="read_json")
    start = time.perf_counter()
    import rmcurate.readers.read  # noqa: F401 - what an ingest imports before it reads
    import rmcurate.warehouse.ingest  # noqa: F401 - the same
    print(json.dumps({"seconds": time.perf_counter() - start}))


def measure(mode: str, path: Path) -> tuple[float, float]:
    return ingest_bench.measure(mode, path, module="benchmarks.jsonl")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 1_000_000])
    ap.add_argument("--formats", nargs="+", default=["openai", "gateway"], choices=["openai", "gateway"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the generated files under bench-data/")
    ap.add_argument("--worker", nargs=3, metavar=("MODE", "PATH", "HOME"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]), Path(args.worker[2]))
        return
    DATA.mkdir(exist_ok=True)
    startup = median(measure("startup", Path("-"))[0] for _ in range(args.repeat))
    results = []
    for n in args.sizes:
        for fmt in args.formats:
            path = generate(DATA / f"{fmt}-{n}.jsonl", fmt, n)
            base, ours, rss = [], [], []
            for _ in range(args.repeat):
                base.append(measure("baseline", path)[0])
                s, r = measure("ingest", path)
                ours.append(s)
                rss.append(r)
            row = {"format": fmt, "records": n, "mb": round(path.stat().st_size / 2**20), "baseline_s": round(median(base), 2),
                   "ingest_s": round(median(ours), 2), "ratio": round(median(ours) / median(base), 2),
                   "peak_rss_mib": round(max(rss)), "startup_s": round(startup, 2)}
            print(json.dumps(row), flush=True)
            results.append(row)
            if not args.keep:
                path.unlink()
    worst = max(r["ratio"] for r in results)
    print(f"worst ratio {worst:.2f}x against DuckDB's read_json (target 1.5x)")


if __name__ == "__main__":
    main()
