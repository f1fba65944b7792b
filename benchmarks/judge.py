"""Judge throughput and cache speed, as ratios measured in the same run.

    python -m benchmarks.judge [--url URL] [--requests 128] [--cache-requests 500] [--max-chars 300]

Without --url it starts the embedded vLLM CPU server (make judge-setup). The
requests are the feedback_choice template over real turns of the bundled
ShareGPT sample, each text cut to --max-chars (300: a prompt of about 250
tokens; on 2 CPU cores prefill dominates, and longer texts mostly measure it).
1. Throughput at 1, 8, 32 and 64 requests in flight, as a ratio to 1 in flight.
2. The cache: 500 requests through the DuckDB call cache, twice. The second
   run must make zero HTTP calls; its time is printed as a ratio to the first.
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
from rmcurate.prompts.templates import load
from rmcurate.readers import detect
from rmcurate.stages.sources import sample_file
from rmcurate.warehouse import connect, ingest_file
from rmcurate.warehouse.judge_calls import DuckCallStore

LEVELS = (1, 8, 32, 64)


def real_turns(home: Path, n: int, max_chars: int, conversations: int = 2000) -> list[dict]:
    con = connect(home)
    sample = sample_file(home, conversations)
    ingest_file(con, sample, detect(sample))
    rows = con.execute("""SELECT left(coalesce(prompt, ''), $1), left(response, $1), left(feedback, $1)
                          FROM turns ORDER BY item_id LIMIT $2""", [max_chars, n]).fetchall()
    con.close()
    if len(rows) < n:
        raise SystemExit(f"only {len(rows)} turns in the first {conversations} conversations, asked for {n}")
    return [dict(zip(("prompt", "response", "feedback"), r)) for r in rows]


def throughput(url: str, model: str, requests, in_flight: int) -> float:
    judge = HttpJudge([url], model, max_in_flight=in_flight)
    t0 = time.perf_counter()
    results = judge.run(requests)
    elapsed = time.perf_counter() - t0
    failed = sum(not r.ok for r in results)
    if failed:
        raise SystemExit(f"{failed} of {len(results)} requests failed at {in_flight} in flight")
    return len(requests) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="an OpenAI-compatible server to measure instead of the embedded one")
    ap.add_argument("--requests", type=int, default=128, help="requests per concurrency level (1 in flight: a quarter)")
    ap.add_argument("--cache-requests", type=int, default=500)
    ap.add_argument("--max-chars", type=int, default=300, help="cut each prompt, reply and feedback to this")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="rmcurate-bench-judge-"))
    atexit.register(shutil.rmtree, home, True)  # the disk is small: leave nothing behind
    template = load("feedback_choice")
    turns = real_turns(home, args.requests * 2 + args.cache_requests, args.max_chars)
    server = EmbeddedServer(home) if not args.url else None
    with server or nullcontext():
        url = args.url or server.url
        model = SERVED_MODEL if server else HttpJudge([url]).model
        requests = [template.render(**t) for t in turns]
        # CPU kernels warm up per batch shape: one untimed pass over the last prompts first.
        HttpJudge([url], model, max_in_flight=32).run(requests[-64:])
        rates = {}
        for level in LEVELS:  # each level gets unseen prompts: no prefix-cache advantage
            start = (level != 1) * args.requests
            batch = requests[start:start + (args.requests // 4 if level == 1 else args.requests)]
            rates[level] = throughput(url, model, batch, level)
            print(f"{level:>3} in flight: {rates[level]:6.1f} req/s  ratio {rates[level] / rates[1]:.2f}x", flush=True)

        cache_requests = requests[args.requests * 2:]
        con = connect(home)
        backend = HttpJudge([url], model, max_in_flight=32)
        judge = CachedJudge(backend, DuckCallStore(con))
        t0 = time.perf_counter()
        judge.run(cache_requests)
        first = time.perf_counter() - t0
        calls_before = backend.http_requests
        t0 = time.perf_counter()
        judge.run(cache_requests)
        second = time.perf_counter() - t0
        con.close()
        second_calls = backend.http_requests - calls_before
        print(f"cache: {len(cache_requests)} requests: first run {first:.2f}s ({calls_before} HTTP calls), "
              f"second run {second:.3f}s ({second_calls} HTTP calls), ratio {second / first:.4f}", flush=True)
        if second_calls:
            raise SystemExit("the second run made HTTP calls: the cache missed")


if __name__ == "__main__":
    main()
