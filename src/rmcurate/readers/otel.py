"""OpenTelemetry GenAI traces and logs in OTLP/JSON: model calls, and the feedback recorded on them.

The collector's file exporter writes one export request a line (`{"resourceSpans": ...}` or
`{"resourceLogs": ...}`). A span is a model call in any of the conventions instrumentations write:

- OTel GenAI attributes: `gen_ai.input.messages` / `gen_ai.output.messages` (parts: text, tool_call,
  tool_call_response, reasoning) and `gen_ai.system_instructions`;
- OpenInference (Arize Phoenix): `llm.input_messages.N.message.*` / `llm.output_messages.N.message.*`,
  flattened or nested;
- OpenLLMetry (Traceloop): `gen_ai.prompt.N.*` / `gen_ai.completion.N.*`;
- the older OTel GenAI events: `gen_ai.system.message`, `gen_ai.user.message`,
  `gen_ai.assistant.message`, `gen_ai.tool.message` and `gen_ai.choice`, as span events or as log
  records (grouped by their span), and the oldest `gen_ai.content.prompt`/`gen_ai.content.completion`.

Calls become conversations by readers/calls.py: `gen_ai.conversation.id` (or OpenInference's
`session.id`, OpenLLMetry's association properties) names the conversation; without one, calls are
joined by their messages. A reply keeps its span id (`messages.source_ref` 'otel:<span id>') and trace
id. User feedback arrives as `gen_ai.evaluation.result` events on the call: its name maps to an event
kind (readers/feedback.py). A span that looks like a model call (an LLM span kind, a chat operation)
but holds no messages any convention gives is a quarantine row; tool, HTTP and retrieval spans are not
calls and are passed over.
"""
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from rmcurate.readers.calls import Call, conversations_of, rows_of
from rmcurate.readers.chunk import CONVERSATIONS, MESSAGES, PENDING_EVENTS, BadRecord, Chunk, Quarantined, cap, time_of
from rmcurate.readers.feedback import feedback_kind, lowered
from rmcurate.readers.messages import Msg, parse_message, parse_messages, system_prompt
from rmcurate.readers.records import iter_records

SOURCE = "otel"
CONVERSATION_KEYS = ("gen_ai.conversation.id", "session.id", "traceloop.association.properties.session_id",
                     "traceloop.association.properties.conversation_id",
                     "traceloop.association.properties.thread_id")
MESSAGE_EVENTS = {"gen_ai.system.message": "system", "gen_ai.user.message": "user",
                  "gen_ai.assistant.message": "assistant", "gen_ai.tool.message": "tool"}
CALL_OPERATIONS = {"chat", "text_completion", "generate_content"}


def value_of(any_value: dict):
    """An OTLP AnyValue as plain Python."""
    if not isinstance(any_value, dict):
        return None
    if "_plain" in any_value:  # a Phoenix export's attribute, already plain JSON
        return any_value["_plain"]
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


def _json(value, field: str):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise BadRecord(f"{field} is not JSON") from None
    return value


def otel_messages(value, field: str) -> list[Msg]:
    """New-convention messages: `{"role", "parts": [...]}` each (or OpenAI-style messages)."""
    value = _json(value, field)
    if not isinstance(value, list):
        raise BadRecord(f"{field}: expected a list of messages")
    return [m for i, raw in enumerate(value) for m in parse_message(
        {**raw, "content": raw["parts"]} if isinstance(raw, dict) and "parts" in raw else raw, f"{field}.{i}")]


def unflatten(attrs: dict, prefix: str) -> list[dict]:
    """Attributes `prefix.N.a.b` (flattened, as OpenInference and OpenLLMetry write them) or `prefix` as a
    list (Phoenix's nested export) -> one nested dict per index N, in order."""
    if isinstance(attrs.get(prefix), list):
        return [_nest(d) if isinstance(d, dict) else {} for d in attrs[prefix]]
    out: dict[int, dict] = {}
    for key, v in attrs.items():
        if not key.startswith(prefix + "."):
            continue
        head, _, rest = key[len(prefix) + 1:].partition(".")
        if head.isdigit() and rest:
            out.setdefault(int(head), {})[rest] = v
    return [_nest(out[i]) for i in sorted(out)]


def _nest(flat: dict) -> dict:
    """{'message.role': 'user', 'message.tool_calls.0.tool_call.id': 'x'} -> nested dicts and lists."""
    root: dict = {}
    for key, v in flat.items():
        node, parts = root, key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = v
    return _lists(root)


def _lists(node):
    if isinstance(node, dict):
        node = {k: _lists(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


def _openinference(d: dict, where: str) -> list[Msg]:
    m = d.get("message", d)
    contents = m.get("contents")
    content = m.get("content")
    if content is None and isinstance(contents, list):
        content = [{"type": c.get("message_content", {}).get("type", "text"),
                    "text": c.get("message_content", {}).get("text")} for c in contents if isinstance(c, dict)]
    calls = [_nest(c).get("tool_call", c) for c in m.get("tool_calls") or [] if isinstance(c, dict)]
    return parse_message({"role": m.get("role"), "content": content, "tool_calls": calls or None,
                          "tool_call_id": m.get("tool_call_id"), "name": m.get("name")}, where)


def _openllmetry(d: dict, where: str) -> list[Msg]:
    content = d.get("content")
    if isinstance(content, str) and content.startswith("[{"):
        try:
            content = json.loads(content)  # content parts, JSON-encoded
        except ValueError:
            pass
    return parse_message({"role": d.get("role"), "content": content, "tool_calls": d.get("tool_calls"),
                          "tool_call_id": d.get("tool_call_id")}, where)


def _event_messages(events: list[dict], where: str) -> tuple[list[Msg], list[Msg]] | None:
    """The older GenAI events (span events or log records, as (name, attributes)) -> (input, output)."""
    inp, out, seen = [], [], False
    for n, (name, attrs) in enumerate(events):
        at = f"{where}, event {n} ({name})"
        body = attrs.get("gen_ai.event.content")
        body = {**attrs, **_json(body, at)} if isinstance(body, str) else attrs
        if name in MESSAGE_EVENTS:
            seen = True
            m = {k: _json(v, at) if k == "tool_calls" else v for k, v in body.items()}
            inp += parse_message({**m, "role": MESSAGE_EVENTS[name], "content": m.get("content"),
                                  "tool_call_id": m.get("id") if name == "gen_ai.tool.message" else None,
                                  "id": None}, at)
        elif name == "gen_ai.choice":
            seen = True
            msg = _json(body.get("message"), at) or {}
            msg = {k: _json(v, at) if k == "tool_calls" else v for k, v in msg.items()}
            out += parse_message({"role": "assistant", **msg}, at)
        elif name == "gen_ai.content.prompt":
            seen = True
            inp += parse_messages(_json(body.get("gen_ai.prompt"), at), at)
        elif name == "gen_ai.content.completion":
            seen = True
            out += parse_messages(_json(body.get("gen_ai.completion"), at), at)[-1:]
    return (inp, out) if seen else None


def call_of(attrs: dict, events: list[tuple[str, dict]], where: str) -> tuple[list[Msg], list[Msg]] | None:
    """(request, response) of a span in whichever convention it uses; None when it is not a model call.
    Raises BadRecord for a model call this reader cannot read."""
    if "gen_ai.input.messages" in attrs or "gen_ai.output.messages" in attrs:
        system = system_prompt(_json(attrs.get("gen_ai.system_instructions"), "gen_ai.system_instructions")) \
            if attrs.get("gen_ai.system_instructions") else []
        return (system + otel_messages(attrs.get("gen_ai.input.messages", "[]"), "gen_ai.input.messages"),
                otel_messages(attrs.get("gen_ai.output.messages", "[]"), "gen_ai.output.messages"))
    if any(k.startswith(("llm.input_messages", "llm.output_messages")) for k in attrs):
        return ([m for i, d in enumerate(unflatten(attrs, "llm.input_messages"))
                 for m in _openinference(d, f"llm.input_messages.{i}")],
                [m for i, d in enumerate(unflatten(attrs, "llm.output_messages"))
                 for m in _openinference(d, f"llm.output_messages.{i}")])
    if any(k.startswith(("gen_ai.prompt.", "gen_ai.completion.")) for k in attrs):
        return ([m for i, d in enumerate(unflatten(attrs, "gen_ai.prompt")) for m in _openllmetry(d, f"gen_ai.prompt.{i}")],
                [m for i, d in enumerate(unflatten(attrs, "gen_ai.completion"))
                 for m in _openllmetry(d, f"gen_ai.completion.{i}")])
    if (found := _event_messages(events, where)) is not None:
        return found
    if attrs.get("gen_ai.operation.name") in CALL_OPERATIONS or attrs.get("openinference.span.kind") == "LLM" \
            or attrs.get("llm.request.type") in ("chat", "completion"):
        raise BadRecord("a model call span with no messages in any convention this reader knows "
                        "(content capture may be off)")
    return None


def _time(nanos) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(nanos) / 1e9, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def flat(value, prefix: str = "") -> dict:
    """Nested attributes (Phoenix's span export: {"llm": {"input_messages": [...]}}) -> dotted keys; lists of
    messages stay lists (unflatten reads them)."""
    if not isinstance(value, dict):
        return {prefix: value}
    out = {}
    for k, v in value.items():
        key = f"{prefix}.{k}" if prefix else k
        out.update(flat(v, key) if isinstance(v, dict) else {key: v})
    return out


def phoenix_span(value: dict) -> tuple[dict, list] | None:
    """A span as Phoenix exports it (`context.span_id`, `span_kind`, `attributes` nested or as
    `attributes.*` columns) -> an OTLP-shaped span; None for any other record."""
    context = value.get("context") if isinstance(value.get("context"), dict) else {}
    span_id = context.get("span_id", value.get("context.span_id", value.get("span_id")))
    attrs = flat(value["attributes"]) if isinstance(value.get("attributes"), dict) else {
        k.removeprefix("attributes."): v for k, v in value.items() if k.startswith("attributes.")}
    if span_id is None or not attrs:
        return None
    start = time_of(value.get("start_time"))
    return ({"traceId": context.get("trace_id", value.get("context.trace_id")), "spanId": span_id,
             "startTimeUnixNano": int(start.timestamp() * 1e9) if start else None,
             "attributes": [{"key": k, "value": {"stringValue": v} if isinstance(v, str) else
                             {"arrayValue": {"values": []}, "_plain": v}} for k, v in attrs.items()]}, [])


def _spans(value: dict):
    """(span dict, span events as (name, attributes)) of one export request, spans or log records."""
    if not ({"resourceSpans", "resourceLogs"} & set(value)):
        if (span := phoenix_span(value)) is not None:
            yield span
        return
    for r in value.get("resourceSpans") or []:
        for scope in (r or {}).get("scopeSpans") or []:
            for span in (scope or {}).get("spans") or []:
                if isinstance(span, dict):
                    yield span, [(ev.get("name"), attributes(ev.get("attributes")), ev)
                                 for ev in span.get("events") or [] if isinstance(ev, dict)]
    groups: dict[tuple, tuple[dict, list]] = {}
    for r in value.get("resourceLogs") or []:
        for scope in (r or {}).get("scopeLogs") or []:
            for rec in (scope or {}).get("logRecords") or []:
                if not isinstance(rec, dict):
                    continue
                attrs = attributes(rec.get("attributes"))
                name = rec.get("eventName") or attrs.get("event.name")
                body = value_of(rec.get("body"))
                if isinstance(body, dict):
                    attrs = {**attrs, **body}
                key = (rec.get("traceId"), rec.get("spanId") or id(rec))
                span, events = groups.setdefault(key, ({"traceId": rec.get("traceId"), "spanId": rec.get("spanId"),
                                                        "startTimeUnixNano": rec.get("timeUnixNano"),
                                                        "attributes": []}, []))
                if name == "gen_ai.client.inference.operation.details":
                    span["attributes"] = rec.get("attributes") or []
                    if isinstance(body, dict):
                        span["attributes"] = span["attributes"] + [{"key": k, "value": {"stringValue": json.dumps(v)}}
                                                                   for k, v in body.items()]
                else:
                    events.append((name, attrs, {"timeUnixNano": rec.get("timeUnixNano")}))
    yield from groups.values()


def read_otel(path: Path, container: str, batch_size: int = 20_000,
              names: dict[str, str] | None = None) -> Iterator[Chunk]:
    names = lowered(names)
    calls: list[Call] = []
    pending, bad = [], []
    size = spans = 0
    for rec in iter_records(path, container):
        size = rec.bytes_read or size
        if rec.problem:
            bad.append(Quarantined(rec.location, rec.problem, rec.raw))
            continue
        if not isinstance(rec.value, dict) or not ({"resourceSpans", "resourceLogs"} & set(rec.value)
                                                   or phoenix_span(rec.value)):
            bad.append(Quarantined(rec.location, "not an OTLP export (no resourceSpans or resourceLogs) nor a "
                                                 "Phoenix span", cap(str(rec.value))))
            continue
        for span, events in _spans(rec.value):
            spans += 1
            attrs = attributes(span.get("attributes"))
            where = f"{rec.location}, span {span.get('spanId')}"
            try:
                found = call_of(attrs, [(n, a) for n, a, _ in events], where)
                if found is None:
                    continue  # not a model call (an HTTP, tool or retrieval span): nothing to read
                inp, out = found
                if not out:
                    raise BadRecord("a model call with no output: there is no reply to store")
            except (BadRecord, ValueError) as e:
                bad.append(Quarantined(where, str(e), cap(json.dumps(span, default=str)[:4000])))
                continue
            key = next((str(attrs[k]) for k in CONVERSATION_KEYS if attrs.get(k)), None)
            model = attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model") or attrs.get("llm.model_name")
            span_id = str(span.get("spanId") or where)
            calls.append(Call(span_id, inp, out, key=key, time=_time(span.get("startTimeUnixNano")), model=model,
                              user=attrs.get("user.id"), trace_id=span.get("traceId"), where=where))
            for n, (name, ev_attrs, ev) in enumerate(events):
                if name != "gen_ai.evaluation.result":
                    continue
                try:
                    kind = feedback_kind(str(ev_attrs.get("gen_ai.evaluation.name") or ""),
                                         ev_attrs.get("gen_ai.evaluation.score.value"),
                                         ev_attrs.get("gen_ai.evaluation.score.label"), names)
                except BadRecord as e:
                    bad.append(Quarantined(f"{where}, event {n}", str(e), cap(json.dumps(ev, default=str))))
                    continue
                payload = {k.removeprefix("gen_ai.evaluation."): v for k, v in ev_attrs.items()}
                pending.append({"event_id": hashlib.md5(f"otel:{span.get('traceId')}:{span_id}:{n}".encode()).hexdigest(),
                                "ts": _time(ev.get("timeUnixNano")) or _time(span.get("startTimeUnixNano")),
                                "user_id": None, "event": kind, "payload": json.dumps(payload, ensure_ascii=False),
                                "message_ref": span_id, "trace_ref": None, "conversation_ref": None,
                                "message_index": None})
    if spans and not (calls or pending or bad):  # not "empty": the file holds spans, none of them a model call
        bad.append(Quarantined("whole file", f"no model call among {spans} spans: none carries GenAI "
                                             "(gen_ai.*) or OpenInference (llm.*) messages", None))
    conversations, messages = rows_of(conversations_of(calls, SOURCE), SOURCE, named=True)
    yield Chunk(conversations=pa.Table.from_pylist(conversations, schema=CONVERSATIONS),
                messages=pa.Table.from_pylist(messages, schema=MESSAGES),
                pending_events=pa.Table.from_pylist(pending, schema=PENDING_EVENTS), quarantined=bad,
                bytes_read=size, grows=True)
