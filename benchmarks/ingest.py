"""Ingest speed and memory, as ratios against DuckDB's own bare load of the same file.

    python -m benchmarks.ingest [--sizes 100000 400000]

For each size: a WildChat-schema Parquet file is generated (cached under
bench-data/), then loaded twice in fresh processes: once by a bare DuckDB
`CREATE TABLE AS SELECT * FROM read_parquet(...)` (the baseline) and once by
`rmcurate`'s ingest, alternating, `--repeat` times; the medians are compared
because the baseline alone varies by 2x from run to run on a small machine.
Target: ingest time <= 1.3x the baseline, quarantined rows included (--messy); peak RSS flat in the
input size.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from benchmarks.wildchat_gen import generate

DATA = Path(os.environ.get("RMCURATE_BENCH_DATA", "bench-data"))


def worker(mode: str, parquet: Path, home: Path, reader: str = "read_parquet") -> None:
    """One timed load in this process: DuckDB's bare `reader` of the file (the baseline) or rmcurate's ingest."""
    start = time.perf_counter()
    if mode == "baseline":
        import duckdb

        con = duckdb.connect(str(home / "baseline.duckdb"))
        con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}('{parquet}')")
        con.close()
    else:
        from rmcurate.readers import detect
        from rmcurate.warehouse import connect, ingest_file

        con = connect(home)
        result = ingest_file(con, parquet, detect(parquet))
        con.close()
        assert result.n_loaded + result.n_quarantined == result.n_read, result
    print(json.dumps({"seconds": time.perf_counter() - start}))


def measure(mode: str, parquet: Path, module: str = "benchmarks.ingest") -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one run of `module --worker mode` in a fresh process."""
    home = Path(tempfile.mkdtemp(prefix=f"rmcurate-bench-{mode}-"))
    try:
        proc = subprocess.Popen([sys.executable, "-m", module, "--worker", mode, str(parquet), str(home)],
                                stdout=subprocess.PIPE)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        if status != 0:
            raise SystemExit(f"{mode} run failed with status {status}")
        return json.loads(out)["seconds"], usage.ru_maxrss / 1024
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 400_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--messy", action="store_true", help="real WildChat's shapes: greetings first, two questions "
                    "in a row, 2%% of conversations quarantined")
    ap.add_argument("--worker", nargs=3, metavar=("MODE", "PARQUET", "HOME"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        mode, parquet, home = args.worker
        return worker(mode, Path(parquet), Path(home))
    rows = []
    for n in args.sizes:
        path = DATA / f"wildchat-{'messy-' if args.messy else ''}{n}.parquet"
        if not path.exists():
            print(f"generating {path} ...", flush=True)
            generate(path, n, messy=args.messy)
        runs = [(measure("baseline", path), measure("ingest", path)) for _ in range(args.repeat)]
        base_s, base_rss = median(b[0] for b, _ in runs), max(b[1] for b, _ in runs)
        ours_s, ours_rss = median(o[0] for _, o in runs), max(o[1] for _, o in runs)
        rows.append((n, path.stat().st_size / 2**20, base_s, ours_s, ours_rss, base_rss))
        print(f"{n:>8,} conversations ({rows[-1][1]:.0f} MiB), median of {args.repeat}: "
              f"baseline {base_s:.1f}s, ingest {ours_s:.1f}s, "
              f"ratio {ours_s / base_s:.2f} (target <= 1.3); peak RSS ingest {ours_rss:.0f} MiB, "
              f"baseline {base_rss:.0f} MiB", flush=True)
    if len(rows) > 1:
        (n0, *_, rss0, _), (n1, *_, rss1, _) = rows[0], rows[-1]
        print(f"peak RSS growth from {n0:,} to {n1:,} conversations: {rss1 / rss0:.2f}x "
              f"for {n1 / n0:.0f}x the input (target: flat, ~1.0x)")


if __name__ == "__main__":
    main()
