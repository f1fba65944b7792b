"""Feedback from analytics and tracing tools, keyed by the app's own ids.

Each shape is read into one `Feedback` (a name, a value and/or label, the ids it names), then the
feedback names (readers/feedback.py, overridable with RMCURATE_SOURCES_FEEDBACK_NAMES) give the event
kind. The event attaches in the warehouse by the ids it names, in this order: a message id (the app's
message id, a call/run/span/generation id: `messages.source_ref`), a trace id (the trace's last reply:
`messages.trace_ref`), then a conversation id (ours, or the app's: `conversations.source_id`) with a
message index where one is given.

| shape | told by | name | value / label | ids |
|---|---|---|---|---|
| click/copy logs (JSON, CSV) | `event` + a time | `event` | `value`/`rating`, `label` | `conversation_id`, `message_id`, `message_index` |
| Segment `track` | `type` = track | `event` | `properties.value`/`rating`/`score`, `label` | in `properties` |
| Amplitude export | `event_type` | `event_type` | in `event_properties` | in `event_properties` |
| PostHog events | `distinct_id` + `event` | `event`; `$ai_metric_name` | `$ai_metric_value`, `$survey_response` | `$ai_trace_id`, in `properties` |
| LangSmith feedback | `run_id` + `key` | `key` | `score`, `value` | `run_id`, `trace_id` |
| Phoenix span annotations | `span_id` + `name` | `name` | `result.score`, `result.label` | `span_id` |
"""
import hashlib
import json
from dataclasses import dataclass

from rmcurate.readers.chunk import BadRecord, str_or_none, time_of
from rmcurate.readers.feedback import feedback_kind

CONVERSATION_KEYS = ("conversation_id", "conversationId", "chat_id", "chatId", "thread_id", "threadId",
                     "session_id", "sessionId", "$ai_session_id")
MESSAGE_KEYS = ("message_id", "messageId", "response_id", "responseId", "generation_id", "generationId",
                "run_id", "span_id", "$ai_span_id", "$ai_generation_id", "call_id")
TRACE_KEYS = ("trace_id", "traceId", "$ai_trace_id")
VALUE_KEYS = ("value", "rating", "score", "stars", "$ai_metric_value", "$survey_response")
LABEL_KEYS = ("label", "sentiment", "direction", "vote", "thumbs")


@dataclass
class Feedback:
    event_id: str
    ts: object
    name: str
    value: object = None
    label: object = None
    user_id: str | None = None
    conversation_ref: str | None = None
    message_ref: str | None = None
    trace_ref: str | None = None
    message_index: int | None = None
    payload: dict | None = None


def shape_of(keys) -> str | None:
    """Which analytics shape a record's keys are, or None."""
    keys = set(keys)
    if "type" in keys and "event" in keys and ({"userId", "anonymousId", "messageId"} & keys):
        return "segment"
    if "event_type" in keys and ({"event_properties", "user_id", "device_id", "event_time"} & keys):
        return "amplitude"
    if "distinct_id" in keys and "event" in keys:
        return "posthog"
    if {"run_id", "key"} <= keys and ({"score", "value", "correction", "comment"} & keys):
        return "langsmith"
    if "span_id" in keys and "name" in keys and ({"result", "annotator_kind", "result.label", "result.score"} & keys):
        return "phoenix"
    if "event" in keys and ({"ts", "timestamp", "time", "event_time"} & keys):
        return "clicks"
    return None


def _props(value, name: str) -> dict:
    props = value.get(name)
    if isinstance(props, str):
        try:
            props = json.loads(props)
        except ValueError:
            raise BadRecord(f"bad value for {name}: not JSON") from None
    return props if isinstance(props, dict) else {}


def _pick(keys, *places):
    for place in places:
        for k in keys:
            if isinstance(place, dict) and place.get(k) not in (None, ""):
                return place[k]
    return None


def _id(value, shape: str, *parts) -> str:
    given = next((p for p in parts if p not in (None, "")), None)
    raw = f"{shape}:{given}" if given is not None else f"{shape}:" + json.dumps(value, sort_keys=True, default=str)
    return hashlib.md5(raw.encode()).hexdigest()


def _index(value) -> int | None:
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRecord(f"bad value for message_index: {value!r}") from None


def _refs(*places) -> dict:
    return {"conversation_ref": str_or_none(_pick(CONVERSATION_KEYS, *places)),
            "message_ref": str_or_none(_pick(MESSAGE_KEYS, *places)), "trace_ref": str_or_none(_pick(TRACE_KEYS, *places)),
            "message_index": _index(_pick(("message_index", "messageIndex"), *places))}


def feedback_of(value: dict, shape: str) -> Feedback:
    """One analytics record -> Feedback. Raises BadRecord."""
    if shape == "segment":
        props = _props(value, "properties")
        return Feedback(_id(value, shape, value.get("messageId")), value.get("timestamp") or value.get("sentAt"),
                        str(value.get("event")), _pick(VALUE_KEYS, props), _pick(LABEL_KEYS, props),
                        str_or_none(value.get("userId") or value.get("anonymousId")), **_refs(props, value), payload=props)
    if shape == "amplitude":
        props = _props(value, "event_properties")
        return Feedback(_id(value, shape, value.get("uuid"), value.get("$insert_id"), value.get("insert_id")),
                        value.get("event_time") or value.get("client_event_time"), str(value.get("event_type")),
                        _pick(VALUE_KEYS, props), _pick(LABEL_KEYS, props), str_or_none(value.get("user_id")),
                        **_refs(props, value), payload=props)
    if shape == "posthog":
        props = _props(value, "properties")
        name = str(value.get("event"))
        if name == "$ai_metric":
            name = str(props.get("$ai_metric_name") or name)
        label = _pick(LABEL_KEYS, props)
        if value.get("event") == "$ai_feedback":
            label = props.get("$ai_feedback_text", label)
        return Feedback(_id(value, shape, value.get("uuid")), value.get("timestamp"), name, _pick(VALUE_KEYS, props),
                        label, str_or_none(value.get("distinct_id")), **_refs(props), payload=props)
    if shape == "langsmith":
        score, label = value.get("score"), value.get("value")
        refs = {"conversation_ref": None, "message_ref": str_or_none(value.get("run_id")),
                "trace_ref": str_or_none(value.get("trace_id")), "message_index": None}
        return Feedback(_id(value, shape, value.get("id")), value.get("created_at") or value.get("modified_at"),
                        str(value.get("key")), score, label if isinstance(label, str) else None, None, **refs,
                        payload={k: value.get(k) for k in ("key", "score", "value", "comment", "correction")
                                 if value.get(k) is not None})
    if shape == "phoenix":
        result = value.get("result") if isinstance(value.get("result"), dict) else \
            {"label": value.get("result.label"), "score": value.get("result.score")}
        refs = {"conversation_ref": None, "message_ref": str_or_none(value.get("span_id")), "trace_ref": None,
                "message_index": None}
        return Feedback(_id(value, shape, value.get("id")), value.get("created_at") or value.get("updated_at"),
                        str(value.get("name")), result.get("score"), result.get("label"), None, **refs,
                        payload={"annotator_kind": value.get("annotator_kind"), **result})
    name = value.get("event")
    return Feedback(_id(value, shape, value.get("event_id"), value.get("id")),
                    _pick(("ts", "timestamp", "time", "event_time"), value), str(name),
                    _pick(VALUE_KEYS, value), _pick(LABEL_KEYS, value), str_or_none(value.get("user_id")), **_refs(value),
                    payload=value.get("payload") if isinstance(value.get("payload"), dict) else None)


def pending_row(fb: Feedback, names: dict[str, str]) -> dict:
    """A PENDING_EVENTS row: the kind by the feedback names. Raises BadRecord."""
    ts = time_of(fb.ts) if not hasattr(fb.ts, "tzinfo") else fb.ts
    if isinstance(fb.ts, str) and ts is None and " " in fb.ts:  # Amplitude's "2024-05-01 10:00:00.123000"
        ts = time_of(fb.ts.replace(" ", "T"))
    if ts is None:
        raise BadRecord(f"feedback {fb.name!r}: missing or unparseable time {fb.ts!r}")
    if not (fb.message_ref or fb.trace_ref or fb.conversation_ref):
        raise BadRecord(f"feedback {fb.name!r} names no conversation, message or trace: nothing to attach it to")
    kind = feedback_kind(fb.name, _number(fb.value), fb.label, names)
    return {"event_id": fb.event_id, "ts": ts, "user_id": fb.user_id, "event": kind,
            "payload": json.dumps({"name": fb.name, **(fb.payload or {})}, ensure_ascii=False, default=str),
            "message_ref": fb.message_ref, "trace_ref": fb.trace_ref, "conversation_ref": fb.conversation_ref,
            "message_index": fb.message_index}


def _number(value):
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return value
