"""OpenTelemetry GenAI spans in OTLP/JSON: conversations, and the feedback recorded on them.

The collector's file exporter writes one ExportTraceServiceRequest a line ({"resourceSpans": ...}).
A span is a model call when it has `gen_ai.input.messages` and `gen_ai.output.messages` (each
message `{"role", "parts": [{"type": "text", "content"}]}`); `gen_ai.conversation.id` groups the
calls of one conversation (the trace id stands in without it). Every call repeats the history, so
a conversation is stored once, from its longest call; each call's reply is the message after its
input. User feedback arrives as `gen_ai.evaluation.result` events on the call: its
`gen_ai.evaluation.name` maps to an event kind (readers/feedback.py, overridable with
RMCURATE_SOURCES_FEEDBACK_NAMES); an unmapped name is a quarantine row, not a silent drop.

The file's calls are grouped in memory before anything is written: fine for a night of logs,
not for a month in one file.
"""
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from rmcurate.readers.chunk import CONVERSATIONS, EVENTS, MESSAGES, BadRecord, Chunk, Quarantined, cap
from rmcurate.readers.feedback import feedback_kind, lowered
from rmcurate.readers.records import iter_records

ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system", "model": "assistant"}


def value_of(any_value: dict):
    """An OTLP AnyValue as plain Python."""
    if not isinstance(any_value, dict):
        return None
    if "stringValue" in any_value:
        return any_value["stringValue"]
    if "intValue" in any_value:
        return int(any_value["intValue"])
    if "doubleValue" in any_value:
        return float(any_value["doubleValue"])
    if "boolValue" in any_value:
        return bool(any_value["boolValue"])
    if "arrayValue" in any_value:
        return [value_of(v) for v in any_value["arrayValue"].get("values", [])]
    if "kvlistValue" in any_value:
        return {kv["key"]: value_of(kv.get("value")) for kv in any_value["kvlistValue"].get("values", [])}
    return None


def attributes(items) -> dict:
    return {kv["key"]: value_of(kv.get("value")) for kv in items or [] if isinstance(kv, dict) and "key" in kv}


def messages_of(value, field: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise BadRecord(f"{field} is not JSON") from None
    if not isinstance(value, list):
        raise BadRecord(f"{field}: expected a list of messages")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or m.get("role") not in {*ROLES, "tool"}:
            raise BadRecord(f"{field}.{i}: unknown role {m.get('role') if isinstance(m, dict) else m!r}")
        texts = []
        for part in m.get("parts") or []:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind in ("tool_call", "tool_call_response", "function_call") or m["role"] == "tool":
                raise BadRecord(f"tool calls are not stored yet ({field}.{i})")
            if kind == "text" and isinstance(part.get("content"), str):
                texts.append(part["content"])
        out.append((ROLES[m["role"]], "\n".join(texts)))
    return out


def _time(nanos) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(nanos) / 1e9, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def read_otel(path: Path, container: str, batch_size: int = 20_000,
              names: dict[str, str] | None = None) -> Iterator[Chunk]:
    names = lowered(names)
    calls: dict[str, list] = {}  # conversation id -> [(start, input, output, model, span, location)]
    bad: list[Quarantined] = []
    order: list[str] = []
    size = 0
    for rec in iter_records(path, container):
        size = rec.bytes_read or size
        if rec.problem:
            bad.append(Quarantined(rec.location, rec.problem, rec.raw))
            continue
        if not isinstance(rec.value, dict) or not isinstance(rec.value.get("resourceSpans"), list):
            bad.append(Quarantined(rec.location, "not an OTLP trace export (no resourceSpans)", cap(str(rec.value))))
            continue
        for r in rec.value["resourceSpans"]:
            for scope in (r or {}).get("scopeSpans") or []:
                for span in (scope or {}).get("spans") or []:
                    attrs = attributes(span.get("attributes"))
                    if "gen_ai.input.messages" not in attrs and "gen_ai.output.messages" not in attrs:
                        continue  # not a model call (an HTTP or tool span): nothing to read
                    where = f"{rec.location}, span {span.get('spanId')}"
                    try:
                        inp = messages_of(attrs.get("gen_ai.input.messages", "[]"), "gen_ai.input.messages")
                        out = messages_of(attrs.get("gen_ai.output.messages", "[]"), "gen_ai.output.messages")
                    except BadRecord as e:
                        bad.append(Quarantined(where, str(e), cap(json.dumps(span)[:4000])))
                        continue
                    key = str(attrs.get("gen_ai.conversation.id") or span.get("traceId") or where)
                    if key not in calls:
                        calls[key] = []
                        order.append(key)
                    model = attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model")
                    calls[key].append((int(span.get("startTimeUnixNano") or 0), inp, out, model, span, where))
    yield _chunk(calls, order, bad, names, size)


def _chunk(calls: dict, order: list[str], bad: list[Quarantined], names: dict, size: int) -> Chunk:
    conversations, messages, events = [], [], []
    for row, key in enumerate(order):
        spans = sorted(calls[key], key=lambda c: c[0])
        longest = max(spans, key=lambda c: len(c[1]) + len(c[2]))  # its history holds the others'
        transcript = longest[1] + longest[2]
        cid = key
        conversations.append({"conversation_id": cid, "source": "otel", "source_id": key, "model": longest[3],
                              "created_at": _time(spans[0][0]), "n_messages": len(transcript), "source_row": row})
        messages += [{"conversation_id": cid, "message_index": i, "role": r, "content": t, "source_row": row}
                     for i, (r, t) in enumerate(transcript)]
        for start, inp, out, _, span, where in spans:
            for n, ev in enumerate(span.get("events") or []):
                if ev.get("name") != "gen_ai.evaluation.result":
                    continue
                attrs = attributes(ev.get("attributes"))
                name = str(attrs.get("gen_ai.evaluation.name") or "")
                try:
                    kind = feedback_kind(name, attrs.get("gen_ai.evaluation.score.value"),
                                         attrs.get("gen_ai.evaluation.score.label"), names)
                except BadRecord as e:
                    bad.append(Quarantined(f"{where}, event {n}", str(e), cap(json.dumps(ev))))
                    continue
                event_id = hashlib.md5(f"otel:{span.get('traceId')}:{span.get('spanId')}:{n}".encode()).hexdigest()
                payload = {k.removeprefix("gen_ai.evaluation."): v for k, v in attrs.items()}
                events.append({"event_id": event_id, "ts": _time(ev.get("timeUnixNano")) or _time(start),
                               "user_id": None, "conversation_id": cid, "message_index": len(inp),
                               "event": kind, "payload": json.dumps(payload, ensure_ascii=False)})
    return Chunk(conversations=pa.Table.from_pylist(conversations, schema=CONVERSATIONS),
                 messages=pa.Table.from_pylist(messages, schema=MESSAGES),
                 events=pa.Table.from_pylist(events, schema=EVENTS), quarantined=bad, bytes_read=size)
