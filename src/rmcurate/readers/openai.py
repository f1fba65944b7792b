"""Chat records, one a conversation: OpenAI-style `{"messages": [...], "id"?, "user"?, "model"?}` and
Anthropic Messages `{"system"?, "messages": [...]}` with content blocks.

What teams log from the chat completions and messages APIs and what Hugging Face chat datasets hold,
as JSON lines, a JSON array or Parquet. Messages are read by readers/messages.py: text parts joined,
tool calls and tool results kept as messages, refusals as the reply's text, images counted. A
top-level `system` (Anthropic) is the first message. A message's own `id` is kept (`source_ref`
'<source>:<id>'), so feedback that names it finds it.
"""
import json
from datetime import UTC, datetime

from rmcurate.readers.chunk import BadRecord
from rmcurate.readers.messages import parse_messages, system_prompt
from rmcurate.readers.sharegpt import conversation_id
from rmcurate.readers.textio import BAD_BYTES_MARK


def _optional_str(value, field: str) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is not None and not isinstance(value, str):
        raise BadRecord(f"bad value for {field}: expected a string, got {type(value).__name__}")
    return value


def _created(value) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1e11:
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return t if t.tzinfo else t.replace(tzinfo=UTC)
    return None


def is_anthropic(value: dict) -> bool:
    """An Anthropic Messages record: a top-level system prompt, or content blocks only Anthropic writes."""
    if "system" in value or "anthropic_version" in value:
        return True
    messages = value.get("messages")
    return isinstance(messages, list) and any(
        isinstance(m, dict) and isinstance(m.get("content"), list) and any(
            isinstance(b, dict) and b.get("type") in ("tool_use", "tool_result", "thinking") for b in m["content"])
        for m in messages[:4])


def parse_openai(value: object, row: int, source: str = "openai") -> tuple[dict, list[dict]]:
    """One record -> (conversation row, message rows). Raises BadRecord."""
    if not isinstance(value, dict):
        raise BadRecord(f"not a JSON object but {type(value).__name__}")
    msgs = system_prompt(value.get("system")) + parse_messages(value.get("messages"), "messages")
    source_id = _optional_str(value.get("id", value.get("conversation_id")), "id")
    user = _optional_str(value.get("user"), "user")
    model = _optional_str(value.get("model"), "model")
    keys = [m.key() for m in msgs]
    if BAD_BYTES_MARK in json.dumps([source_id, user, model, [m.row() for m in msgs]], ensure_ascii=False):
        raise BadRecord("invalid UTF-8 bytes in record")
    cid = conversation_id(source, source_id, keys)
    conversation = {"conversation_id": cid, "source": source, "source_id": source_id, "model": model,
                    "created_at": _created(value.get("created")), "n_messages": len(msgs), "user_hash": user,
                    "source_row": row}
    rows = []
    for i, m in enumerate(msgs):
        r = m.row()
        if r["source_ref"] is not None:
            r["source_ref"] = f"{source}:{r['source_ref']}"
        rows.append({"conversation_id": cid, "message_index": i, **r, "source_row": row})
    return conversation, rows


def parse_anthropic(value: object, row: int) -> tuple[dict, list[dict]]:
    return parse_openai(value, row, "anthropic")
