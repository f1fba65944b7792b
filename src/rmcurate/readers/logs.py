"""Read a per-call log or an analytics feedback file into Chunks.

Per-call sources (gateway, LiteLLM, LangSmith, PostHog) are grouped into conversations over the whole
file (readers/calls.py), so a file is one chunk: split a month of logs into nights. The feedback in
them (LangSmith feedback, PostHog feedback events) and feedback-only files (Segment, Amplitude, Phoenix
annotations, click logs) come out as pending events that the warehouse attaches by the ids they name.
"""
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from rmcurate.readers import analytics, percall
from rmcurate.readers.calls import Call, conversations_of, rows_of
from rmcurate.readers.chunk import CONVERSATIONS, MESSAGES, PENDING_EVENTS, BadRecord, Chunk, Quarantined, cap
from rmcurate.readers.feedback import lowered
from rmcurate.readers.records import iter_records
from rmcurate.readers.textio import BAD_BYTES_MARK

CALL_KINDS = ("gateway", "litellm", "langsmith", "posthog")
FEEDBACK_KINDS = ("segment", "amplitude", "phoenix", "clicks")
NOT_CALLS = {"$ai_span", "$ai_trace", "$ai_embedding"}  # PostHog LLM events that are not model calls


def _raw(value) -> str | None:
    return cap(json.dumps(value, ensure_ascii=False, default=str))


def _records(path: Path, container: str):
    for rec in iter_records(path, container):
        if rec.problem:
            yield rec, None
        elif isinstance(rec.value, dict) and isinstance(rec.value.get("data"), list):  # an API page a line
            for item in rec.value["data"]:
                yield rec, item
        elif isinstance(rec.value, dict) and isinstance(rec.value.get("results"), list):  # PostHog's query API
            for item in rec.value["results"]:
                yield rec, item
        else:
            yield rec, rec.value


def read_calls(path: Path, container: str, kind: str, names: dict[str, str] | None = None,
               batch_size: int = 20_000) -> Iterator[Chunk]:
    names = lowered(names)
    calls: list[Call] = []
    runs: dict[str, dict] = {}  # LangSmith: every run by id, for the thread its chain parents give
    llm_runs: list[tuple[str, dict]] = []
    pending, bad = [], []
    pos = 0
    for rec, value in _records(path, container):
        pos = rec.bytes_read or pos
        where = rec.location
        if rec.problem:
            bad.append(Quarantined(where, rec.problem, rec.raw))
            continue
        if not isinstance(value, dict):
            bad.append(Quarantined(where, f"not a JSON object but {type(value).__name__}", cap(str(value))))
            continue
        try:
            shape = analytics.shape_of(value)
            if kind == "langsmith" and "run_type" in value:
                runs[str(value.get("id"))] = value
                if value.get("run_type") == "llm":
                    llm_runs.append((where, value))
                continue
            if kind == "posthog" and value.get("event") == "$ai_generation":
                calls.append(percall.posthog_call(value, where))
            elif kind == "posthog" and value.get("event") in NOT_CALLS:
                raise BadRecord(f"not a model call ({value['event']}): nothing to store")
            elif kind == "gateway":
                calls.append(percall.gateway_call(value, where))
            elif kind == "litellm":
                calls.append(percall.litellm_call(value, where))
            elif shape is not None and kind in (shape, *FEEDBACK_KINDS, "langsmith", "posthog"):
                pending.append(analytics.pending_row(analytics.feedback_of(value, shape), names))
            else:
                raise BadRecord(f"neither a {kind} call nor feedback")
            if calls and BAD_BYTES_MARK in json.dumps([m.row() for m in calls[-1].request + calls[-1].response],
                                                      ensure_ascii=False):
                calls.pop()
                raise BadRecord("invalid UTF-8 bytes in record")
        except (BadRecord, ValueError) as e:
            bad.append(Quarantined(where, str(e), _raw(value)))
        except RecursionError:
            bad.append(Quarantined(where, "JSON nested too deep", None))
        if kind in FEEDBACK_KINDS and len(pending) + len(bad) >= batch_size:
            yield _chunk([], pending, bad, kind, pos)
            pending, bad = [], []
    for where, run in llm_runs:
        try:
            calls.append(percall.langsmith_call(run, where, _thread(run, runs)))
        except (BadRecord, ValueError) as e:
            bad.append(Quarantined(where, str(e), _raw(run)))
    for run_id, run in runs.items():
        if run.get("run_type") != "llm" and run.get("run_type") not in ("chain", "tool", "retriever", "prompt",
                                                                         "parser", "embedding"):
            bad.append(Quarantined(f"run {run_id}", f"unknown run_type {run.get('run_type')!r}", _raw(run)))
    yield _chunk(calls, pending, bad, kind, pos)


def _thread(run: dict, runs: dict) -> str | None:
    """The thread a LangSmith run belongs to: its own metadata's, else its nearest parent's, else its root's."""
    seen = set()
    while run is not None and id(run) not in seen:
        seen.add(id(run))
        if (thread := percall.langsmith_thread(run)) is not None:
            return thread
        run = runs.get(str(run.get("parent_run_id"))) if run.get("parent_run_id") else None
    return None


def _chunk(calls: list[Call], pending: list, bad: list, kind: str, pos: int) -> Chunk:
    conversations, messages = rows_of(conversations_of(calls, kind), kind) if calls else ([], [])
    return Chunk(conversations=pa.Table.from_pylist(conversations, schema=CONVERSATIONS),
                 messages=pa.Table.from_pylist(messages, schema=MESSAGES),
                 pending_events=pa.Table.from_pylist(pending, schema=PENDING_EVENTS), quarantined=bad,
                 grows=True, bytes_read=pos)
