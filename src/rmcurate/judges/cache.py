"""Ask a judge through the call cache: an answered request is never sent again.

The store (warehouse/judge_calls.py) keeps one row per request key. Results
are handed to it as they arrive and written in batches within a second, so a
run killed mid-way loses at most the calls of its last second. Failed calls
are stored too, with their error, and are sent again by the next run; a
rejected one (a 4xx answer, or failed too many runs running) is final.

Every request is scrubbed of personal data and credentials (rules/pii.py, the exports' rules)
before it is keyed, stored in `judge_calls` or sent: a judge at a hosted endpoint sees no more than
an export would carry, whichever stage asked.
"""
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rmcurate.rules.pii import scrub
from rmcurate.schemas.judge import JudgeRequest, JudgeResult


class Backend(Protocol):
    model: str

    def run(self, requests: Sequence[JudgeRequest], keys: Sequence[str],
            on_result: Callable[[int, JudgeResult], None]) -> list[JudgeResult]: ...


class CallStore(Protocol):
    def answered(self, keys: Sequence[str]) -> dict[str, JudgeResult]:
        """The stored ok results among these keys."""

    def save(self, model: str, request: JudgeRequest, result: JudgeResult) -> None:
        """Store one result, replacing an earlier failed row of the same key."""

    def count_hits(self, keys: Sequence[str]) -> None:
        """Record that these keys were answered from the store."""

    def flush(self) -> None:
        """Return once every saved result is stored; raise if one could not be."""


@dataclass
class CallCounts:
    requests: int = 0
    cached: int = 0
    sent: int = 0
    failed: int = 0
    errors: Counter = field(default_factory=Counter)  # failed calls by error, for the stage's verdict

    def add(self, other: "CallCounts") -> None:
        """Count another judge's calls in these (a stage that sends from two threads)."""
        self.requests += other.requests
        self.cached += other.cached
        self.sent += other.sent
        self.failed += other.failed
        self.errors.update(other.errors)

    def failure(self, stage: str, max_share: float) -> str | None:
        """A one-line verdict when more than `max_share` of the calls sent failed, else None."""
        if not self.sent or self.failed / self.sent <= max_share:
            return None
        why = "; ".join(f"{n} x {e}" for e, n in self.errors.most_common(3))
        return f"{stage}: {self.failed} of {self.sent} judge calls failed ({why})"


class CachedJudge:
    """A backend behind the call cache. `run` returns one result per request, in order."""

    def __init__(self, backend: Backend, store: CallStore,
                 on_answer: Callable[[JudgeResult], None] | None = None):
        self.backend = backend
        self.store = store
        self.counts = CallCounts()
        self.on_answer = on_answer  # called with each fresh answer, once stored: a stage's progress

    @property
    def model(self) -> str:
        return self.backend.model

    def run(self, requests: Sequence[JudgeRequest]) -> list[JudgeResult]:
        model = self.model
        requests = [scrubbed(r) for r in requests]
        keys = [r.key(model) for r in requests]
        stored = self.store.answered(keys)
        for r in stored.values():
            r.cached = True
        todo: dict[str, JudgeRequest] = {}  # equal requests in one batch are sent once
        for key, request in zip(keys, requests):
            if key not in stored:
                todo.setdefault(key, request)
        todo_keys = list(todo)
        todo_requests = list(todo.values())

        def save(i: int, result: JudgeResult):
            self.store.save(model, todo_requests[i], result)
            if self.on_answer is not None:
                self.on_answer(result)

        try:
            fresh = dict(zip(todo_keys, self.backend.run(todo_requests, todo_keys, save)))
        finally:
            self.store.flush()  # stored before anyone asks again: the next batch's lookups see them
        if stored:
            self.store.count_hits(list(stored))
        c = self.counts
        c.requests += len(requests)
        c.cached += sum(k in stored for k in keys)
        c.sent += len(todo)
        c.failed += sum(not r.ok for r in fresh.values())
        c.errors.update(r.error or "no error text" for r in fresh.values() if not r.ok)
        return [stored.get(k) or fresh[k] for k in keys]


def scrubbed(request: JudgeRequest) -> JudgeRequest:
    """The request with every message's text scrubbed (the same object when nothing was found)."""
    messages = tuple((role, scrub(text)) for role, text in request.messages)
    return request if messages == request.messages else request.model_copy(update={"messages": messages})
