"""RMBoost pairs per minute, and the share of generations that survive validation.

    python -m benchmarks.pairs [--url URL] [--seeds 100]

Labels the first 300 bundled ShareGPT conversations, then generates pairs for
up to --seeds labelled turns. With the embedded server it uses the embedded
settings (seeds up to 1,200 characters, y2 bounded to 600); with --url
(e.g. a `vllm serve` on a GPU) the defaults.
"""
import argparse
import atexit
import shutil
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from rmcurate.judges.cache import CachedJudge
from rmcurate.judges.embedded import SERVED_MODEL, EmbeddedServer
from rmcurate.judges.vllm_http import HttpJudge
from rmcurate.readers import detect
from rmcurate.settings import LabelSettings, PairSettings
from rmcurate.stages.common import EMBEDDED_FIELD_MAX_CHARS
from rmcurate.stages.label import label_feedback
from rmcurate.stages.pairs import EMBEDDED, synthesize_pairs
from rmcurate.stages.sources import sample_file
from rmcurate.warehouse import connect, ingest_file
from rmcurate.warehouse.judge_calls import DuckCallStore


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url")
    ap.add_argument("--seeds", type=int, default=100)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="rmcurate-bench-pairs-"))
    atexit.register(shutil.rmtree, home, True)  # the disk is small: leave nothing behind
    con = connect(home)
    sample = sample_file(home, 300)
    ingest_file(con, sample, detect(sample))
    server = EmbeddedServer(home) if not args.url else None
    with server or nullcontext():
        backend = HttpJudge([args.url or server.url], SERVED_MODEL if server else None, max_in_flight=32)
        judge = CachedJudge(backend, DuckCallStore(con))
        embedded = backend.model == SERVED_MODEL
        label_feedback(con, judge, "bench", LabelSettings(field_max_chars=EMBEDDED_FIELD_MAX_CHARS) if embedded
                       else LabelSettings())
        settings = PairSettings(max_seeds=args.seeds, **(EMBEDDED if embedded else {}))
        t0 = time.perf_counter()
        result = synthesize_pairs(con, judge, "bench", settings)
        minutes = (time.perf_counter() - t0) / 60
    con.close()
    tried = result.n_kept + sum(result.drops.values())
    print(f"{result.n_seeds} seeds, {tried} generations in {minutes * 60:.0f}s: {result.n_kept / minutes:.1f} pairs/min, "
          f"{result.n_kept / max(1, tried):.0%} survive validation ({'embedded' if embedded else backend.model})")
    for reason, n in sorted(result.drops.items(), key=lambda x: -x[1]):
        print(f"  dropped {n}: {reason}")


if __name__ == "__main__":
    main()
