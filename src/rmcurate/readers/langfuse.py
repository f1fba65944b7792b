"""Langfuse exports: traces (conversations) and scores (the feedback on them), from its public API.

What `GET /api/public/traces` and `GET /api/public/scores` return, saved as files: a page
(`{"data": [...], "meta": {...}}`, pretty-printed or one a line), a JSON array, or JSON lines of
traces or scores; given together as a folder or as files.

- A trace is one model call: `input` holds the messages so far (a list of `{role, content}`, an
  object with `messages`, or the user's text alone) and `output` the reply (a message or text).
- `sessionId` names a conversation (traces without one join by their messages, readers/calls.py). Its traces
  are taken in time order; each adds what its input has that the conversation does not end with
  yet, then its reply: a history repeated in every trace is stored once, and traces that log only
  the new message still build the whole conversation. A session met again (on another API page or
  night) grows: the warehouse appends what the stored conversation lacks. Pages of traces that log
  only the new message must then come oldest first: the API's default order is newest first.
- Each reply keeps its trace id (`messages.source_ref`), so a score finds it in this file, in
  another file of the same ingest, or in one ingested on an earlier night. Scores come out as
  pending events; the warehouse attaches them (warehouse/ingest.py) and quarantines, as unattached,
  a score whose trace it has never loaded.
- A score's `name` maps to an event kind as OpenTelemetry's feedback does (readers/feedback.py):
  thumbs from BOOLEAN, NUMERIC (the sign) or CATEGORICAL scores, copies and other actions by name.
"""
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from rmcurate.readers.calls import Call, conversations_of, rows_of
from rmcurate.readers.chunk import (CONVERSATIONS, MESSAGES, PENDING_EVENTS, BadRecord, Chunk, Quarantined, cap,
                                    time_of)
from rmcurate.readers.feedback import feedback_kind, lowered
from rmcurate.readers.messages import Msg, parse_message, parse_messages, system_prompt
from rmcurate.readers.records import iter_records
from rmcurate.readers.textio import BAD_BYTES_MARK

SOURCE = "langfuse"


def is_trace(keys) -> bool:
    return "id" in keys and ("input" in keys or "output" in keys) and "traceId" not in keys


def is_score(keys) -> bool:
    return "traceId" in keys and "name" in keys and ("value" in keys or "stringValue" in keys)


def input_messages(value) -> list[Msg]:
    """A trace's input as messages; none at all for a call made without one (a greeting)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [Msg("user", value)]
    system = []
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        system = system_prompt(value.get("system"))  # an Anthropic request: its system prompt beside the messages
        value = value["messages"]
    elif isinstance(value, dict) and "role" in value:
        value = [value]
    if not isinstance(value, list):
        raise BadRecord("input: expected the messages, or the user's text")
    return system + parse_messages(value, "input")


def output_messages(value) -> list[Msg]:
    """A trace's reply: one assistant message (text, tool calls or both)."""
    if isinstance(value, str):
        return [Msg("assistant", value)]
    if isinstance(value, list) and value:  # a list of messages: the last one is the reply
        value = value[-1]
    if isinstance(value, dict) and isinstance(value.get("choices"), list) and value["choices"]:
        value = value["choices"][0].get("message") if isinstance(value["choices"][0], dict) else None
    if isinstance(value, dict) and ("content" in value or "tool_calls" in value) and "role" not in value:
        value = {**value, "role": "assistant"}
    if isinstance(value, dict):
        msgs = parse_message(value, "output")
        if msgs[-1].role != "assistant":
            raise BadRecord(f"output is a {msgs[-1].role} message, not a reply")
        return msgs
    raise BadRecord("no output: the trace holds no reply" if value is None else
                    f"output: expected a message or text, got {type(value).__name__}")


def _records(path: Path, container: str) -> Iterator[tuple[str, object, str | None, str | None]]:
    """(location, value, problem, raw) for every trace or score, pages unwrapped."""
    for rec in iter_records(path, container):
        if rec.problem:
            yield rec.location, None, rec.problem, rec.raw
        elif isinstance(rec.value, dict) and isinstance(rec.value.get("data"), list):  # an API page a line
            for i, item in enumerate(rec.value["data"]):
                yield f"{rec.location}, data[{i}]", item, None, None
        else:
            yield rec.location, rec.value, None, None


def read_langfuse(path: Path, container: str, names: dict[str, str] | None = None) -> Iterator[Chunk]:
    names = lowered(names)
    calls: list[Call] = []
    pending, bad = [], []
    for where, value, problem, raw in _records(path, container):
        if problem:
            bad.append(Quarantined(where, problem, raw))
        elif not isinstance(value, dict):
            bad.append(Quarantined(where, f"not a JSON object but {type(value).__name__}", cap(str(value))))
        elif is_score(value):
            try:
                pending.append(_score(value, names))
            except BadRecord as e:
                bad.append(Quarantined(where, str(e), cap(json.dumps(value, ensure_ascii=False, default=str))))
        elif is_trace(value):
            try:
                call = Call(str(value["id"]), input_messages(value.get("input")), output_messages(value.get("output")),
                            key=value.get("sessionId") or None, time=time_of(value.get("timestamp")),
                            user=value.get("userId"), trace_id=str(value["id"]), where=where)
                if BAD_BYTES_MARK in json.dumps([m.row() for m in call.request + call.response], ensure_ascii=False):
                    raise BadRecord("invalid UTF-8 bytes in record")
            except BadRecord as e:
                bad.append(Quarantined(where, str(e), cap(json.dumps(value, ensure_ascii=False, default=str))))
                continue
            calls.append(call)
        else:
            bad.append(Quarantined(where, "neither a Langfuse trace (id, input, output) nor a score "
                                          "(traceId, name, value)", cap(json.dumps(value, default=str))))
    conversations, messages = rows_of(conversations_of(calls, SOURCE, loose="trace"), SOURCE)
    yield Chunk(conversations=pa.Table.from_pylist(conversations, schema=CONVERSATIONS),
                messages=pa.Table.from_pylist(messages, schema=MESSAGES),
                pending_events=pa.Table.from_pylist(pending, schema=PENDING_EVENTS), quarantined=bad, grows=True)


def _score(value: dict, names: dict) -> dict:
    name = value.get("name")
    if not isinstance(name, str):
        raise BadRecord("missing field: name")
    if not value.get("traceId"):
        raise BadRecord(f"score {name!r} names no trace (a session or dataset score): no reply to attach it to")
    ts = time_of(value.get("timestamp")) or time_of(value.get("createdAt"))
    if ts is None:
        raise BadRecord(f"score {name!r}: missing or unparseable timestamp")
    label = value.get("stringValue")
    kind = feedback_kind(name, value.get("value"), label, names)
    score_id = str(value.get("id") or json.dumps(value, sort_keys=True, default=str))
    payload = {k: value[k] for k in ("name", "value", "stringValue", "dataType", "comment", "source",
                                     "observationId") if value.get(k) is not None}
    return {"event_id": hashlib.md5(f"langfuse-score:{score_id}".encode()).hexdigest(),
            "ts": ts,
            "user_id": value.get("userId"), "event": kind, "payload": json.dumps(payload, ensure_ascii=False),
            "trace_ref": str(value["traceId"]), "message_ref": None, "conversation_ref": None, "message_index": None}
