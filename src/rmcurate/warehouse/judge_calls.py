"""The judge call cache, stored in table `judge_calls` (see schemas/judging.py).

Results arrive on the judge client's event loop faster than one transaction each could keep
up with (3 to 21 ms a row with DELETE + INSERT). `save` only queues the row; a writer thread
upserts them in batches (every `batch_rows` results or `flush_s` seconds) through the table's
primary key, on its own cursor. `flush` returns once everything queued is written (the cache calls
it at the end of every batch of requests), and raises what the writer met, so a stage never
goes on past a lost write. The writer sleeps until a batch is full or a second has passed: woken
for every result (a queue.Queue), it took the GIL from the client's event loop 400 times a second,
and the full path ran at 0.86 of bare httpx against 0.96 now (benchmarks/judge_io.py, 2 cores).
"""
import threading
from collections.abc import Sequence

import pyarrow as pa

from rmcurate.schemas import arrow_schema
from rmcurate.schemas.judge import JudgeRequest, JudgeResult, body_json
from rmcurate.schemas.judging import JudgeCall
from rmcurate.schemas.tables import TABLES

_SCHEMA = arrow_schema(JudgeCall)
_COLS = _SCHEMA.names
_RESULT_COLS = ["key", "status", "text", "finish_reason", "top_logprobs", "prompt_tokens", "completion_tokens",
                "latency_s", "endpoint", "error", "attempts", "started_at", "finished_at"]
# A failed call is sent again next run; after this many failed runs in a row it is given up
# ("rejected") with its last error, so a request no endpoint can answer is not sent for ever.
GIVE_UP_AFTER = 3


def _upsert_sql(give_up_after: int) -> str:
    """Upsert a batch: a failure counts on from the key's earlier failures and is given up at the limit."""
    plain = [c for c in _COLS if c not in ("status", "error", "failures")]
    return f"""
        INSERT OR REPLACE INTO {TABLES.judge_calls} ({', '.join(plain)}, status, error, failures)
        SELECT {', '.join(f'b.{c}' for c in plain)},
               CASE WHEN b.status = 'failed' AND coalesce(j.failures, 0) + 1 >= {give_up_after} THEN 'rejected'
                    ELSE b.status END,
               CASE WHEN b.status = 'failed' AND coalesce(j.failures, 0) + 1 >= {give_up_after}
                    THEN b.error || ' (failed ' || (coalesce(j.failures, 0) + 1) || ' runs running: given up)'
                    ELSE b.error END,
               CASE WHEN b.status = 'ok' THEN NULL
                    WHEN b.status = 'failed' THEN coalesce(j.failures, 0) + 1 ELSE 1 END
        FROM batch b LEFT JOIN {TABLES.judge_calls} j ON j.key = b.key"""


class DuckCallStore:
    """judges.cache.CallStore on a warehouse connection, written in batches by a writer thread."""

    def __init__(self, con, run_id: str | None = None, batch_rows: int = 512, flush_s: float = 1.0,
                 give_up_after: int = GIVE_UP_AFTER):
        self.con, self.run_id = con, run_id  # run_id: the run the calls are made for (the report's cost table)
        self.batch_rows, self.flush_s = batch_rows, flush_s
        self._upsert = _upsert_sql(give_up_after)
        self._give_up_after = give_up_after
        self._pending: list[tuple] = []  # saved, not yet taken by the writer
        self._writer: tuple[threading.Thread, threading.Event] | None = None  # the writer, and its stop
        self._ready = threading.Condition()  # guards _pending and _writer
        self._error: BaseException | None = None
        self.rows_written = 0

    def for_thread(self) -> "DuckCallStore":
        """The same store on its own connection (a cursor), for calls made from another thread; the
        caller closes `.con` when done."""
        return DuckCallStore(self.con.cursor(), self.run_id, self.batch_rows, self.flush_s, self._give_up_after)

    def answered(self, keys: Sequence[str]) -> dict[str, JudgeResult]:
        """Final answers among these keys: ok, or rejected (given up, never sent again)."""
        if not keys:
            return {}
        rows = self.con.execute(f"""
            SELECT {', '.join(_RESULT_COLS)} FROM {TABLES.judge_calls}
            WHERE status IN ('ok', 'rejected') AND key IN (SELECT unnest(?::VARCHAR[]))""",
                                [list(set(keys))]).fetchall()
        out = {}
        for row in rows:
            r = JudgeResult(**dict(zip(_RESULT_COLS, row)))
            r.top_logprobs = dict(r.top_logprobs) if r.top_logprobs is not None else None
            out[r.key] = r
        return out

    def save(self, model: str, request: JudgeRequest, result: JudgeResult) -> None:
        """Queue one result for the writer (returns at once). The writer is woken only when a batch is
        full: waking it for every result cost the client's event loop a GIL hand-off each time."""
        self._raise_writer_error()
        row = (model, request, result)  # made into a row by the writer: no JSON on the client's event loop
        with self._ready:
            if self._writer is None:
                stop = threading.Event()
                self._writer = (threading.Thread(target=self._write_loop, args=(stop,), name="judge-call-writer",
                                                 daemon=True), stop)
                self._writer[0].start()
            self._pending.append(row)
            if len(self._pending) >= self.batch_rows:
                self._ready.notify()

    def flush(self) -> None:
        """Write everything queued, stop the writer (it holds a cursor, so the file stays open while it
        lives) and raise what it met. The next save starts a new one."""
        with self._ready:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer[1].set()
                self._ready.notify_all()
        if writer is not None:
            writer[0].join()
        self._raise_writer_error()

    close = flush

    def count_hits(self, keys: Sequence[str]) -> None:
        self.con.execute(f"UPDATE {TABLES.judge_calls} SET hits = hits + 1 WHERE key IN (SELECT unnest(?::VARCHAR[]))",
                         [list(set(keys))])

    def _raise_writer_error(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"judge call cache: a batch write failed ({self._error})") from self._error

    def _write_loop(self, stop: threading.Event) -> None:
        cur = self.con.cursor()  # its own connection to the same database: safe beside the caller's
        try:
            while True:
                with self._ready:  # a batch is full, a second has passed, or flush() asks
                    self._ready.wait_for(lambda: stop.is_set() or len(self._pending) >= self.batch_rows,
                                         timeout=self.flush_s)
                    rows, self._pending = self._pending, []
                    stopping = stop.is_set()
                if rows and self._error is None:
                    try:
                        self._write(cur, rows)
                    except Exception as e:  # noqa: BLE001 - kept for flush() to raise in the stage's thread
                        self._error = e
                if stopping:
                    return
        finally:
            cur.close()

    def _row(self, model: str, request: JudgeRequest, result: JudgeResult) -> dict:
        row = {**{c: getattr(result, c) for c in _RESULT_COLS}, "model": model, "template": request.template,
               "template_version": request.template_version, "request": body_json(request, model), "hits": 0,
               "run_id": self.run_id, "failures": None}
        if row["top_logprobs"] is not None:
            row["top_logprobs"] = list(row["top_logprobs"].items())
        return row

    def _write(self, cur, queued: list[tuple]) -> None:
        # one row per key in a statement: the newest result wins
        latest = {r["key"]: r for r in (self._row(*q) for q in queued)}
        cur.register("batch", pa.Table.from_pylist(list(latest.values()), schema=_SCHEMA))
        try:
            cur.execute("BEGIN")
            try:
                cur.execute(self._upsert)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        finally:
            cur.unregister("batch")
        self.rows_written += len(latest)


def judge_stats(con) -> list[tuple]:
    """Per model and template: calls stored, ok, failed, cache hits, tokens, mean latency."""
    return con.execute(f"""
        SELECT model, template || ' v' || template_version AS template, count(*) AS calls,
               count(*) FILTER (status = 'ok') AS ok, count(*) FILTER (status <> 'ok') AS failed,
               sum(hits) AS cache_hits, coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
               coalesce(sum(completion_tokens), 0) AS completion_tokens,
               round(avg(latency_s) FILTER (status = 'ok'), 3) AS mean_latency_s
        FROM {TABLES.judge_calls} GROUP BY ALL ORDER BY model, template""").fetchall()


def run_costs(con, run_id: str) -> list[tuple]:
    """Per model and template: the calls this run sent (not cache hits), their tokens and latency."""
    return con.execute(f"""
        SELECT model, template || ' v' || template_version AS template, count(*) AS calls,
               count(*) FILTER (status <> 'ok') AS failed,
               coalesce(sum(prompt_tokens), 0) AS prompt_tokens, coalesce(sum(completion_tokens), 0) AS completion_tokens,
               round(median(latency_s), 3) AS p50_latency_s, round(quantile_cont(latency_s, 0.95), 3) AS p95_latency_s,
               round(sum(latency_s), 1) AS judge_seconds
        FROM {TABLES.judge_calls} WHERE run_id = ? GROUP BY ALL ORDER BY model, template""", [run_id]).fetchall()
