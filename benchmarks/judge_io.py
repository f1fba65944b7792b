"""Can the pipeline feed a GPU server? Judge I/O measured against an instant fake judge.

    python -m benchmarks.judge_io [--requests 3000] [--table-rows 1000000] [--store-rows 20000]

1. Cache-store throughput, results/s written into `judge_calls` with --table-rows rows already
   there: the batched, keyed store (warehouse/judge_calls.py) against the per-row DELETE + INSERT
   + COMMIT it replaced (no key index), both in this run. Goal: >= 2,000/s.
2. Requests/s through the full path (HttpJudge + CachedJudge + DuckDB store) against the fake
   OpenAI-compatible server (benchmarks/fake_judge.py, uvicorn + starlette, its own process),
   as a ratio to a bare httpx loop with the same bodies and concurrency. Goal: >= 0.9.
3. The per-request work the writer does around a call, on real turns of the bundled sample:
   rendering the label template, the cache key and the HTTP body, and parsing an answer. Printed
   per request and as a ratio to the bare httpx rate of part 2: far above 1, it is not worth
   sending to Dask workers (a task's round trip costs more than the work).
"""
import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from rmcurate.judges.cache import CachedJudge
from rmcurate.judges.vllm_http import HttpJudge
from rmcurate.prompts.templates import load
from rmcurate.schemas.judge import JudgeResult, body_json
from rmcurate.warehouse import connect
from rmcurate.warehouse.judge_calls import DuckCallStore

from benchmarks.fake_judge import MODEL, serving

IN_FLIGHT = 32


def requests(n: int, tag: str):
    t = load("feedback_choice")
    return [t.render(prompt=f"How do I sort a list? ({tag})", response="Use sorted(xs), it returns a new list.",
                     feedback=f"thanks, that works {i}") for i in range(n)]


def fill(con, n: int) -> None:
    """n answered calls, as a warehouse that has judged for months holds."""
    con.execute("""INSERT INTO judge_calls (key, model, template, template_version, request, status, text,
                                            attempts, hits, started_at, finished_at)
                   SELECT 'old-' || i, 'm', 'feedback_choice', 1, '{}', 'ok', '3', 1, 0, now(), now()
                   FROM range(?) r(i)""", [n])
    con.execute("CHECKPOINT")


def result_for(request, i: int) -> JudgeResult:
    now = datetime.now(UTC)
    return JudgeResult(key=request.key(MODEL) + str(i), status="ok", text="3", finish_reason="stop",
                       top_logprobs={"3": -0.1, "2": -2.5}, prompt_tokens=200, completion_tokens=1,
                       latency_s=0.01, endpoint="http://x", attempts=1, started_at=now, finished_at=now)


def per_row_store(con, n: int, reqs) -> float:
    """The store before: one DELETE + INSERT + COMMIT per result, on a table with no key index."""
    con.execute("CREATE TABLE calls_unkeyed AS SELECT * FROM judge_calls")
    cols = [c for (c,) in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = "
                                      "'calls_unkeyed' ORDER BY column_index").fetchall()]
    insert = (f"INSERT INTO calls_unkeyed ({', '.join(cols)}) VALUES ("
              + ", ".join("map(?::VARCHAR[], ?::DOUBLE[])" if c == "top_logprobs" else "?" for c in cols) + ")")
    t0 = time.perf_counter()
    for i in range(n):
        r, req = result_for(reqs[i % len(reqs)], i), reqs[i % len(reqs)]
        values = {**r.__dict__, "model": MODEL, "template": req.template, "template_version": req.template_version,
                  "request": body_json(req, MODEL), "hits": 0, "run_id": None, "failures": None}
        params = []
        for c in cols:
            if c == "top_logprobs":
                params += [list(r.top_logprobs), list(r.top_logprobs.values())]
            else:
                params.append(values[c])
        con.execute("BEGIN")
        con.execute("DELETE FROM calls_unkeyed WHERE key = ?", [r.key])
        con.execute(insert, params)
        con.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    con.execute("DROP TABLE calls_unkeyed")
    return n / elapsed


def batched_store(con, n: int, reqs) -> float:
    store = DuckCallStore(con, "bench")
    t0 = time.perf_counter()
    for i in range(n):
        store.save(MODEL, reqs[i % len(reqs)], result_for(reqs[i % len(reqs)], i))
    store.flush()
    return n / (time.perf_counter() - t0)


async def bare_loop(url: str, bodies: list[dict], in_flight: int = IN_FLIGHT) -> float:
    """The ceiling: plain httpx, the same bodies, the same concurrency, nothing done with the answers."""
    sem = asyncio.Semaphore(in_flight)
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        async def one(body):
            async with sem:
                r = await client.post(f"{url}/v1/chat/completions", json=body)
                r.raise_for_status()
                r.json()
        t0 = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        return len(bodies) / (time.perf_counter() - t0)


async def bare_aiohttp(url: str, bodies: list[dict], in_flight: int = IN_FLIGHT) -> float:
    """The same ceiling with aiohttp, the client the judge backend uses."""
    import aiohttp

    sem = asyncio.Semaphore(in_flight)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight)) as client:
        async def one(body):
            async with sem:
                async with client.post(f"{url}/v1/chat/completions", json=body) as r:
                    r.raise_for_status()
                    await r.json()
        t0 = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        return len(bodies) / (time.perf_counter() - t0)


def build_and_parse(n: int, tmp: Path) -> float:
    """Seconds per request: render, key, body and parse, as the label stage does, on real turns."""
    from rmcurate.readers import detect
    from rmcurate.rules.feedback.labels import parse_category
    from rmcurate.stages.label import cut
    from rmcurate.stages.sources import sample_file
    from rmcurate.warehouse import ingest_file

    con = connect(tmp / "turns")
    sample = sample_file(tmp / "turns", 2000)
    ingest_file(con, sample, detect(sample))
    turns = [dict(zip(("prompt", "response", "feedback"), r)) for r in
             con.execute("SELECT prompt, response, feedback FROM turns ORDER BY item_id LIMIT ?", [n]).fetchall()]
    con.close()
    template = load("feedback_choice")
    answers = ["4", "The user is satisfied: 5", "3"]
    t0 = time.perf_counter()
    for i, t in enumerate(turns):
        request = template.render(**{f: cut(t.get(f), 1500) for f in template.fields})
        request.key(MODEL), request.body(MODEL)
        parse_category(answers[i % 3], template.choices)
    return (time.perf_counter() - t0) / len(turns)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--table-rows", type=int, default=1_000_000)
    ap.add_argument("--store-rows", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--per-row", type=int, default=300, help="results written by the old per-row store")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rmcurate-bench-judge-io-"))
    try:
        con = connect(tmp / "store")
        fill(con, args.table_rows)
        reqs = requests(64, "store")
        before = per_row_store(con, args.per_row, reqs)
        after = batched_store(con, args.store_rows, reqs)
        con.close()
        print(f"cache store, {args.table_rows:,} rows already stored: per-row {before:,.0f} results/s, "
              f"batched {after:,.0f} results/s ({after / before:.0f}x; goal >= 2,000/s)")

        with serving() as url:
            asyncio.run(bare_loop(url, [r.body(MODEL) for r in requests(200, "warm")]))  # warm the server
            rates = {"bare": [], "bare_aio": [], "client": [], "full": []}
            for k in range(args.rounds):  # interleaved, medians: 2 cores make single runs noisy
                reqs = requests(args.requests, f"round {k}")
                rates["bare"].append(asyncio.run(bare_loop(url, [r.body(MODEL) for r in reqs])))
                rates["bare_aio"].append(asyncio.run(bare_aiohttp(url, [r.body(MODEL) for r in reqs])))
                t0 = time.perf_counter()
                HttpJudge([url], MODEL, max_in_flight=IN_FLIGHT).run(reqs)
                rates["client"].append(args.requests / (time.perf_counter() - t0))
                con = connect(tmp / f"path-{k}")
                judge = CachedJudge(HttpJudge([url], MODEL, max_in_flight=IN_FLIGHT), DuckCallStore(con, "bench"))
                t0 = time.perf_counter()
                results = judge.run(reqs)
                rates["full"].append(args.requests / (time.perf_counter() - t0))
                con.close()
                assert all(r.ok for r in results) and judge.counts.sent == args.requests
        bare, aio, client, full = (statistics.median(rates[k]) for k in ("bare", "bare_aio", "client", "full"))
        print(f"requests/s against an instant judge, {IN_FLIGHT} in flight, {args.requests:,} requests, median of "
              f"{args.rounds}: bare httpx {bare:,.0f}, bare aiohttp {aio:,.0f}; our client (aiohttp) {client:,.0f} "
              f"({client / aio:.2f} of bare aiohttp), client + DuckDB cache {full:,.0f} ({full / aio:.2f}; "
              f"goal >= 0.9; {full / bare:.2f} of bare httpx)")
        each = build_and_parse(5000, tmp)
        print(f"render + cache key + body + parse, real sample turns: {each * 1e6:.0f} us a request, "
              f"{1 / each:,.0f}/s on one core ({1 / each / bare:.0f}x the bare httpx rate)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
