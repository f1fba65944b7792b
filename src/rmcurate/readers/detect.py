"""Tell a file's format from its content, not its name."""
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from rmcurate.readers.analytics import shape_of
from rmcurate.readers.chunk import FormatError
from rmcurate.readers.langfuse import is_score, is_trace
from rmcurate.readers.records import first_csv_record, first_of_object, split_array
from rmcurate.readers.textio import broken, open_source, skip_bom

EMPTY_ARRAY = re.compile(rb"\[\s*\]\s*")
LOOK_AHEAD = 10  # records tried before a file is called unrecognizable

KINDS = ("wildchat", "lmsys", "sharegpt", "openai", "anthropic", "otel", "langfuse", "gateway", "litellm",
         "langsmith", "posthog", "events", "segment", "amplitude", "phoenix", "clicks")
FEEDBACK_ONLY = ("events", "segment", "amplitude", "phoenix", "clicks")


@dataclass(frozen=True)
class Format:
    kind: str  # one of KINDS, or empty
    container: str  # parquet | json (an array) | jsonl | object (one JSON document) | empty

    @property
    def name(self) -> str:
        return self.kind if self.kind == "empty" else f"{self.kind}-{self.container}"


def kind_of(keys) -> str | None:
    keys = set(keys)
    if "conversation_hash" not in keys and {"conversation_id", "conversation"} <= keys:
        return "lmsys"  # LMSYS-Chat-1M: WildChat's shape, keyed by conversation_id
    if {"conversation_hash", "conversation"} & keys:
        return "wildchat"
    if "conversations" in keys:
        return "sharegpt"
    if {"request", "response"} <= keys or {"request_body", "response_body"} <= keys:
        return "gateway"  # an OpenAI-compatible gateway's log: a request and its response a record
    if "messages" in keys and "response" in keys:
        return "litellm"  # LiteLLM's standard logging payload: a call's messages and its response
    if "messages" in keys:
        return "anthropic" if {"system", "anthropic_version"} & keys else "openai"
    if {"resourceSpans", "resourceLogs"} & keys:
        return "otel"  # OTLP/JSON trace or log export: GenAI spans and events
    if ("span_kind" in keys or "context" in keys or "context.span_id" in keys) and (
            "attributes" in keys or any(str(k).startswith("attributes.") for k in keys)):
        return "otel"  # spans as Phoenix exports them (OpenInference attributes)
    if {"run_type", "inputs"} <= keys:
        return "langsmith"
    if is_trace(keys) or is_score(keys):
        return "langfuse"  # its public API's traces or scores
    if {"event", "ts"} <= keys and "distinct_id" not in keys and "type" not in keys:
        return "events"
    return shape_of(keys)  # analytics feedback: segment, amplitude, posthog, langsmith feedback, phoenix, clicks


def _first_text_record(path: Path) -> tuple[str, object]:
    """(container, first record that parses), looking past broken records near the start."""
    with open_source(path) as f:
        skip_bom(f)
        head = f.read(65536).lstrip(b" \t\r\n")
        if not head and (why := broken(f)):  # nothing decompressed at all: not an empty file
            raise FormatError(f"{path}: {why}")
        if not head or EMPTY_ARRAY.fullmatch(head):
            return "empty", None
        if head.startswith(b"["):
            for _, (_, raw) in zip(range(LOOK_AHEAD), split_array(path)):
                value = _loads(raw)
                if isinstance(value, dict):
                    return "json", value
            return "json", None
    if head.startswith(b"{"):
        with open_source(path) as f:
            skip_bom(f)
            lines = (line for line in f if line.strip())
            for _, line in zip(range(LOOK_AHEAD), lines):
                value = _loads(line.rstrip().removesuffix(b","))  # a record may be followed by a comma
                if isinstance(value, dict):
                    return "jsonl", value
        # Not one record a line: one JSON document, pretty-printed (an API page, an OTLP export).
        first = first_of_object(path)
        return ("object", first) if first is not None else ("jsonl", None)
    first = first_csv_record(path)
    return ("csv", first) if first is not None else ("unknown", None)


def _loads(raw: bytes | None):
    try:
        return json.loads(raw) if raw is not None else None
    except (ValueError, RecursionError):
        return None


def detect(path: Path, kind: str | None = None) -> Format:
    """The file's format; `kind` forces wildchat/sharegpt/events. Raises FormatError."""
    if kind is not None and kind not in KINDS:
        raise FormatError(f"unknown --format {kind!r}: choose one of {', '.join(KINDS)}")
    if path.stat().st_size == 0:
        return Format("empty", "empty")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"PAR1":
        container = "parquet"
        try:
            found = kind_of(pq.read_schema(path).names)
        except Exception as e:  # noqa: BLE001 - any reader error means "not readable Parquet"
            raise FormatError(f"{path}: unreadable Parquet file ({e})") from None
    else:
        container, first = _first_text_record(path)
        if container == "empty":  # whitespace only, or an empty array: nothing to read, nothing wrong
            return Format("empty", "empty")
        if container == "unknown":
            raise FormatError(f"{path}: unrecognized format (not Parquet, a JSON array, JSON lines or CSV)")
        if isinstance(first, dict) and isinstance(first.get("data"), list) and first["data"]:
            first = first["data"][0]  # an API page a line: its records tell the kind
        found = kind_of(first) if isinstance(first, dict) else None
    if kind is None and found is None:
        raise FormatError(f"{path}: cannot tell which of {', '.join(KINDS)} this {container} file holds; "
                          "use --format")
    return Format(kind or found, container)


def feedback_only(path: Path) -> bool:
    """Whether the file holds feedback on replies (an event log, analytics events, Langfuse scores, LangSmith
    feedback) and no conversations. An ingest loads such files after the others, so feedback finds the
    replies given beside it."""
    try:
        fmt = detect(path)
        if fmt.kind not in ("langfuse", "langsmith", "posthog") or fmt.container == "parquet":
            return fmt.kind in FEEDBACK_ONLY
        _, first = _first_text_record(path)
    except (FormatError, OSError):
        return False
    if isinstance(first, dict) and isinstance(first.get("data"), list) and first["data"]:
        first = first["data"][0]
    if fmt.kind == "posthog":
        return isinstance(first, dict) and first.get("event") != "$ai_generation"
    return isinstance(first, dict) and (is_score(first) or "run_type" not in first and fmt.kind == "langsmith")
