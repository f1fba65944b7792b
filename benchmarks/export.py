"""Export throughput: rows/s per format, against DuckDB copying the same rows to Parquet.

    python -m benchmarks.export [--conversations 20000]

Builds a warehouse from synthetic WildChat-schema data with a label and a pair for
every turn and events on a fifth of the replies, snapshots it, then times each
format's export. The baseline is the bare DuckDB COPY of the format's source rows
(the floor: no scrubbing, dedup, split or manifest), measured in the same run. Then each
format is exported twice more from the same snapshot, as a night with nothing new would:
- "from the cache": every row comes from the export cache (warehouse/exports/row_cache.py)
  and every shard is written again (the shard index is removed first);
- "linked": the shards are hard links to the first export's files (warehouse/exports/shards.py).
The peak of Arrow's memory during the export from the cache is printed in windows of rows (an
export streams a window at a time, so the peak stays a few windows whatever the export's size)
and as a share of the export's rows in memory.
"""
import argparse
import atexit
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rmcurate.readers import detect
from rmcurate.schemas.exports import FORMATS
from rmcurate.warehouse import connect, ingest_file
from rmcurate.warehouse.exports import export
from rmcurate.warehouse.exports.row_cache import WINDOW
from rmcurate.warehouse.exports.rows import PAIR_FILTER, open_snapshot
from rmcurate.warehouse.snapshot import write_snapshot

from benchmarks.wildchat_gen import generate

SNAPSHOT = "bench"
SOURCE_SQL = {  # the rows each format starts from, as plain DuckDB reads them
    "trl": f"SELECT * FROM pairs WHERE {PAIR_FILTER}",
    "openrlhf": f"SELECT * FROM pairs WHERE {PAIR_FILTER}",
    "ordinal": "SELECT l.*, t.history, t.prompt, t.response, t.feedback FROM feedback_labels l "
               "JOIN turns t USING (item_id) WHERE l.kept",
    "implicit": "SELECT m.*, e.event FROM messages m JOIN events e USING (conversation_id, message_index)",
}


def build(home: Path, n: int, max_chars: int | None = None) -> None:
    """A snapshot with a label and a pair for every turn; `max_chars` keeps pair texts short (trainer bench)."""
    con = connect(home)
    data = generate(home / "wildchat.parquet", n, seed=3)
    ingest_file(con, data, detect(data))
    con.execute("""INSERT INTO feedback_labels (item_id, conversation_id, category, label, method, kept,
                                                pipeline_version, run_id, labeled_at)
                   SELECT item_id, conversation_id, 5, 1 + hash(item_id) % 4, 'judged', true, 'bench', 'bench', now()
                   FROM turns""")
    con.execute("""INSERT INTO pairs (pair_id, prompt, chosen, rejected, origin, source_item_id, pipeline_version,
                                      run_id, created_at)
                   SELECT md5(item_id), history || [{'role': 'user', 'content': coalesce(prompt, '')}], response,
                          left(response, length(response) // 2), 'rmboost', item_id, 'bench', 'bench', now()
                   FROM turns""")
    if max_chars:
        con.execute(f"""UPDATE pairs SET prompt = [{{'role': 'user', 'content': left(prompt[-1].content, {max_chars // 2})}}],
                               chosen = left(chosen, {max_chars}), rejected = left(chosen, {max_chars // 2})""")
    con.execute("""INSERT INTO events (event_id, ts, user_id, conversation_id, message_index, event,
                                       conversation_known, ingest_id)
                   SELECT md5(conversation_id || message_index), now(), 'u' || hash(conversation_id) % 500,
                          conversation_id, message_index, 'copy', true, 0
                   FROM messages WHERE role = 'assistant' AND hash(conversation_id || message_index) % 5 = 0""")
    write_snapshot(con, home, SNAPSHOT)
    con.close()


class ArrowPeak:
    """The most memory Arrow held at once while the block ran, above what it held before (`peak`),
    sampled every 5 ms."""

    def __enter__(self):
        self.base = self.top = pa.total_allocated_bytes()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch)
        self._thread.start()
        return self

    def _watch(self):
        while not self._done.wait(0.005):
            self.top = max(self.top, pa.total_allocated_bytes())

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.peak = self.top - self.base


def in_memory_bytes(out: Path) -> int:
    """What the export's rows take in memory when read whole."""
    return sum(pq.read_table(p).nbytes for p in sorted((out / "data").glob("*.parquet")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conversations", type=int, default=20_000)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="rmcurate-bench-export-"))
    atexit.register(shutil.rmtree, home, True)  # the disk is small: leave nothing behind
    build(home, args.conversations)
    snap = open_snapshot(home / "snapshots" / SNAPSHOT)
    con = connect(home)
    print(f"export of {args.conversations:,} synthetic conversations, snapshot {SNAPSHOT}")
    for fmt in FORMATS:
        t0 = time.perf_counter()
        snap.execute(f"COPY ({SOURCE_SQL[fmt]}) TO '{home / (fmt + '-baseline.parquet')}' "
                     "(FORMAT parquet, COMPRESSION zstd)")
        base = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = export(con, home, fmt, home / "out" / fmt, snapshot=SNAPSHOT)
        took = time.perf_counter() - t0
        (next((home / "cache" / "exports").glob(f"{fmt}-*")) / "shards.json").unlink()
        t0 = time.perf_counter()
        with ArrowPeak() as peak:
            export(con, home, fmt, home / "again" / fmt, snapshot=SNAPSHOT)
        again = time.perf_counter() - t0
        t0 = time.perf_counter()
        export(con, home, fmt, home / "linked" / fmt, snapshot=SNAPSHOT)
        linked = time.perf_counter() - t0
        size = in_memory_bytes(home / "out" / fmt)
        print(f"  {fmt:9s} {r.n_rows + r.n_dropped:7,} rows read, {r.n_dropped:5,} dropped: {took:6.2f} s, "
              f"{(r.n_rows + r.n_dropped) / took:8,.0f} rows/s; DuckDB COPY {base:5.2f} s; ratio {took / base:5.1f}x")
        window = size * WINDOW / max(r.n_rows, 1)  # what one window of rows takes
        print(f"  {'':9s} again from the cache {again:5.2f} s ({again / took:.2f} of the first), Arrow peak "
              f"{peak.peak / 1e6:5.1f} MB: {peak.peak / window:.1f} windows of "
              f"{WINDOW:,} rows, {peak.peak / size:.2f} of the export's {size / 1e6:.1f} MB; "
              f"linked {linked:5.2f} s ({linked / took:.2f})")
    con.close()


if __name__ == "__main__":
    main()
