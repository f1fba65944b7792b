"""The judge call cache, stored in table `judge_calls` (see schemas/judging.py)."""
from collections.abc import Sequence

from judges.vllm_http import body_json
from judges.request import JudgeRequest, JudgeResult
from schemas.tables import TABLES
from warehouse.ddl import columns

_COLS = columns(TABLES.judge_calls)
_RESULT_COLS = ["key", "status", "text", "finish_reason", "top_logprobs", "prompt_tokens", "completion_tokens",
                "latency_s", "endpoint", "error", "attempts", "started_at", "finished_at"]
_INSERT = (f"INSERT INTO {TABLES.judge_calls} ({', '.join(_COLS)}) VALUES ("
           + ", ".join("map(?::VARCHAR[], ?::DOUBLE[])" if c == "top_logprobs" else "?" for c in _COLS) + ")")


class DuckCallStore:
    """judges.cache.CallStore on a warehouse connection."""

    def __init__(self, con):
        self.con = con

    def answered(self, keys: Sequence[str]) -> dict[str, JudgeResult]:
        if not keys:
            return {}
        rows = self.con.execute(f"""
            SELECT {', '.join(_RESULT_COLS)} FROM {TABLES.judge_calls}
            WHERE status = 'ok' AND key IN (SELECT unnest(?::VARCHAR[]))""", [list(set(keys))]).fetchall()
        out = {}
        for row in rows:
            r = JudgeResult(**dict(zip(_RESULT_COLS, row)))
            r.top_logprobs = dict(r.top_logprobs) if r.top_logprobs is not None else None
            out[r.key] = r
        return out

    def save(self, model: str, request: JudgeRequest, result: JudgeResult) -> None:
        values = {**{c: getattr(result, c) for c in _RESULT_COLS}, "model": model, "template": request.template,
                  "template_version": request.template_version, "request": body_json(request, model), "hits": 0}
        params = []
        for c in _COLS:
            if c == "top_logprobs":
                lp = values[c]
                params += [list(lp) if lp is not None else None, list(lp.values()) if lp is not None else None]
            else:
                params.append(values[c])
        self.con.execute("BEGIN")
        try:
            self.con.execute(f"DELETE FROM {TABLES.judge_calls} WHERE key = ?", [result.key])
            self.con.execute(_INSERT, params)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def count_hits(self, keys: Sequence[str]) -> None:
        self.con.execute(f"UPDATE {TABLES.judge_calls} SET hits = hits + 1 WHERE key IN (SELECT unnest(?::VARCHAR[]))",
                         [list(set(keys))])


def judge_stats(con) -> list[tuple]:
    """Per model and template: calls stored, ok, failed, cache hits, tokens, mean latency."""
    return con.execute(f"""
        SELECT model, template || ' v' || template_version AS template, count(*) AS calls,
               count(*) FILTER (status = 'ok') AS ok, count(*) FILTER (status = 'failed') AS failed,
               sum(hits) AS cache_hits, coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
               coalesce(sum(completion_tokens), 0) AS completion_tokens,
               round(avg(latency_s) FILTER (status = 'ok'), 3) AS mean_latency_s
        FROM {TABLES.judge_calls} GROUP BY ALL ORDER BY model, template""").fetchall()
