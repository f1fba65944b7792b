"""The `vllm` backend: any OpenAI-compatible /v1/chat/completions server.

Each endpoint gets `max_in_flight` workers pulling from one shared queue, so
a faster endpoint takes more of the work and none is flooded. A retryable
failure (connection error, timeout, 429, 5xx) puts the request back on the
queue after an exponential backoff with jitter, and rests every worker of
that endpoint, backing off further while it keeps failing, so a dead endpoint
does not use up the attempts of requests another endpoint could answer.

Calls go through aiohttp: against a judge that answers at once, httpx's
connection pool spent 1.7 ms of CPU a call on 2 cores (580 calls/s at 32 in
flight), aiohttp 0.14 ms (6,000 calls/s), so a fast judge is not held back
by its client. `probe` (one GET) stays on httpx.
"""
import asyncio
import json
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import aiohttp
import httpx

from rmcurate.schemas.judge import JudgeRequest, JudgeResult, body_json  # noqa: F401 - the stored body

RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
# The request itself is wrong (too long for the context, malformed): no run will do better,
# so the result is 'rejected' and the cache never sends it again. 401, 403 and 404 are the
# server's or our configuration's fault: 'failed', sent again next run.
REJECTED_STATUS = {400, 413, 422}


class JudgeUnavailable(RuntimeError):
    """No endpoint answered a simple request (used by ping and model lookup)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _error_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")


def parse_completion(data: dict) -> dict:
    """The fields we keep from a chat completion response."""
    choice = data["choices"][0]
    top = None
    content_lp = (choice.get("logprobs") or {}).get("content") or []
    if content_lp:
        top = {}
        for alt in content_lp[0].get("top_logprobs") or []:
            top[alt["token"]] = max(alt["logprob"], top.get(alt["token"], float("-inf")))
    usage = data.get("usage") or {}
    return {"text": choice["message"].get("content"), "finish_reason": choice.get("finish_reason"),
            "top_logprobs": top, "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens")}


class HttpJudge:
    """Sends chat requests to one or several base URLs (e.g. http://host:8000)."""

    def __init__(self, urls: Sequence[str], model: str | None = None, *, max_in_flight: int = 32,
                 timeout_s: float = 120.0, retries: int = 3, backoff_s: float = 0.5, backoff_max_s: float = 8.0,
                 api_key: str | None = None, deadline_s: float | None = None):
        if not urls:
            raise ValueError("HttpJudge needs at least one base URL")
        self.urls = [u.rstrip("/") for u in urls]
        self.max_in_flight = max_in_flight
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._model = model
        self.http_requests = 0  # every POST attempted, for tests and benchmarks
        # A stage's whole budget, counted from now: past it, what is not answered fails at once
        # ("stage deadline"), so a hanging endpoint costs one night a bounded wait, not all of it.
        self.deadline_s = deadline_s
        self.deadline = time.monotonic() + deadline_s if deadline_s else None

    @property
    def model(self) -> str:
        """The served model id; asked of the first endpoint that answers when not given."""
        if self._model is None:
            rows = self.ping()
            answered = [r for r in rows if r["model"]]
            if not answered:
                raise JudgeUnavailable("no judge endpoint answered: "
                                       + "; ".join(f"{r['endpoint']}: {r['error']}" for r in rows))
            self._model = answered[0]["model"]
        return self._model

    def ping(self, timeout_s: float = 10.0) -> list[dict]:
        """For each endpoint: its model and the latency of GET /v1/models, or the error."""
        return [probe(url, self.headers, timeout_s) for url in self.urls]

    def run(self, requests: Sequence[JudgeRequest], keys: Sequence[str] | None = None,
            on_result: Callable[[int, JudgeResult], None] | None = None) -> list[JudgeResult]:
        """Send every request; results come back in order. `on_result(i, result)` fires as each finishes."""
        if not requests:
            return []
        keys = keys or [r.key(self.model) for r in requests]
        return asyncio.run(self._run(list(requests), list(keys), on_result))

    async def _run(self, requests, keys, on_result) -> list[JudgeResult]:
        model = self.model
        results: list[JudgeResult | None] = [None] * len(requests)
        attempts = [0] * len(requests)
        started = [_now()] * len(requests)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(len(requests)):
            queue.put_nowait(i)
        remaining = len(requests)
        done = asyncio.Event()

        def finish(i: int, result: JudgeResult):
            nonlocal remaining
            if results[i] is not None:
                return
            result.attempts, result.started_at, result.finished_at = attempts[i], started[i], _now()
            results[i] = result
            try:
                if on_result:
                    on_result(i, result)
            except Exception as e:  # noqa: BLE001 - the caller's callback (a store write) must not stall the batch
                result.status, result.error = "failed", f"result callback failed: {_error_line(e)}"
            finally:
                remaining -= 1
                if remaining == 0:
                    done.set()

        # Per endpoint: consecutive retryable failures, and when its workers may pick work again.
        failures = {url: 0 for url in self.urls}
        resume_at = {url: 0.0 for url in self.urls}
        loop = asyncio.get_running_loop()

        def backoff(n: int) -> float:
            return min(self.backoff_max_s, self.backoff_s * 2 ** (n - 1)) * random.uniform(0.5, 1.5)

        async def worker(client: httpx.AsyncClient, url: str):
            while True:
                if (wait := resume_at[url] - loop.time()) > 0:
                    await asyncio.sleep(wait)
                i = await queue.get()
                attempts[i] += 1
                if attempts[i] == 1:
                    started[i] = _now()
                try:
                    result, retryable = await self._post(client, url, requests[i].body(model), keys[i])
                except Exception as e:  # noqa: BLE001 - a surprise fails this call, never the worker
                    result, retryable = JudgeResult(key=keys[i], status="failed", endpoint=url,
                                                    error=f"client error: {_error_line(e)}"), False
                if result.ok:
                    failures[url] = 0
                if result.ok or not retryable or attempts[i] > self.retries:
                    finish(i, result)
                else:  # back off twice: the request waits, and so does the whole endpoint
                    failures[url] += 1
                    resume_at[url] = max(resume_at[url], loop.time() + backoff(failures[url]))
                    loop.call_later(backoff(attempts[i]), queue.put_nowait, i)

        connector = aiohttp.TCPConnector(limit=self.max_in_flight * len(self.urls))
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=self.headers,
                                         trust_env=True) as client:  # proxies from the environment, as httpx
            workers = [asyncio.create_task(worker(client, url))
                       for url in self.urls for _ in range(min(self.max_in_flight, len(requests)))]
            left = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
            try:
                await asyncio.wait_for(done.wait(), left)
            except TimeoutError:
                for i, r in enumerate(results):
                    if r is None:  # no await below: no worker can finish `i` meanwhile
                        state = "in flight or waiting to retry" if attempts[i] else "not sent"
                        finish(i, JudgeResult(key=keys[i], status="failed",
                                              error=f"stage deadline of {self.deadline_s:g} s reached ({state})"))
            finally:
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
        return results  # type: ignore[return-value]

    async def _post(self, client, url: str, body: dict, key: str) -> tuple[JudgeResult, bool]:
        """One attempt: (result, whether a failure is worth retrying)."""
        self.http_requests += 1
        t0 = time.perf_counter()
        try:
            async with client.post(f"{url}/v1/chat/completions", json=body) as r:
                status, text = r.status, await r.text(errors="replace")  # as httpx: odd bytes never fail a call
        except TimeoutError:  # aiohttp's timeouts are TimeoutErrors
            return JudgeResult(key=key, status="failed", endpoint=url, latency_s=time.perf_counter() - t0,
                               error=f"timed out after {self.timeout_s:g} s"), True
        except aiohttp.ClientError as e:  # refused, reset, disconnected, a broken response
            return JudgeResult(key=key, status="failed", endpoint=url, latency_s=time.perf_counter() - t0,
                               error=_error_line(e)), True
        latency = time.perf_counter() - t0
        if status != 200:
            detail = text.strip().splitlines()[0][:300] if text.strip() else ""
            return JudgeResult(key=key, status="rejected" if status in REJECTED_STATUS else "failed",
                               endpoint=url, latency_s=latency, error=f"HTTP {status}: {detail}".rstrip(": ")), \
                status in RETRYABLE_STATUS or status >= 500
        try:
            fields = parse_completion(json.loads(text))
        except (ValueError, KeyError, IndexError, TypeError) as e:
            return JudgeResult(key=key, status="failed", endpoint=url, latency_s=latency,
                               error=f"unreadable response: {_error_line(e)}"), False
        return JudgeResult(key=key, status="ok", endpoint=url, latency_s=latency, **fields), False


def probe(url: str, headers: dict | None = None, timeout_s: float = 10.0) -> dict:
    t0 = time.perf_counter()
    try:
        r = httpx.get(f"{url}/v1/models", headers=headers or {}, timeout=timeout_s)
        r.raise_for_status()
        model = r.json()["data"][0]["id"]
        return {"endpoint": url, "model": model, "latency_s": time.perf_counter() - t0, "error": None}
    except (httpx.HTTPError, KeyError, IndexError, ValueError) as e:
        return {"endpoint": url, "model": None, "latency_s": None, "error": _error_line(e)}
