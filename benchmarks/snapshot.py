"""Snapshot cost of a night with 1% new data, against the first night's.

    python -m benchmarks.snapshot [--conversations 17000] [--new-share 0.01]

Loads 99% of the first --conversations bundled ShareGPT conversations and snapshots (the first
night), then the other 1% and snapshots again: wall time and bytes written by the second as
ratios to the first (goal: <= 10% time). Unchanged partitions are hard links (warehouse/snapshot.py).
"""
import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from rmcurate.readers import detect
from rmcurate.stages.sources import sample_file
from rmcurate.warehouse import connect, ingest_file
from rmcurate.warehouse.snapshot import write_snapshot


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conversations", type=int, default=17_000)
    ap.add_argument("--new-share", type=float, default=0.01)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rmcurate-bench-snapshot-"))
    try:
        home = tmp / "home"
        records = json.loads(sample_file(home, args.conversations).read_text())
        cut = int(len(records) * (1 - args.new_share))
        nights = []
        for night, part in enumerate((records[:cut], records[cut:]), 1):
            path = tmp / f"night{night}.json"
            path.write_text(json.dumps(part))
            con = connect(home)
            ingest_file(con, path, detect(path))
            t0 = time.perf_counter()
            snap = write_snapshot(con, home, f"2026010{night}T000000Z")
            nights.append((time.perf_counter() - t0, json.loads((snap / "manifest.json").read_text())))
            con.close()
        (t1, m1), (t2, m2) = nights
        print(f"{len(records):,} conversations, {len(records) - cut:,} new on night 2 ({args.new_share:.0%}):")
        print(f"  night 1: snapshot {t1:.1f} s, {m1['bytes_written'] / 1e6:.1f} MB written")
        print(f"  night 2: snapshot {t2:.1f} s ({t2 / t1:.2f}), {m2['bytes_written'] / 1e6:.2f} MB written "
              f"({m2['bytes_written'] / m1['bytes_written']:.3f}), {m2['bytes_shared'] / 1e6:.1f} MB linked; "
              "goal <= 0.10 of night 1's time")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
