"""OpenAI-style chat records: {"messages": [{"role": ..., "content": ...}], "id"?, "user"?, "model"?}.

What teams log from the chat completions API and what Hugging Face chat datasets hold, as JSON
lines, a JSON array or Parquet. `content` is a string or a list of parts, whose text parts are
joined; `developer` is the newer name of `system`. Tool calls and tool results have no place in
the messages table yet: a conversation holding them is quarantined with that reason, not cut.
"""
import json
from datetime import UTC, datetime

from rmcurate.readers.chunk import BadRecord
from rmcurate.readers.sharegpt import conversation_id
from rmcurate.readers.textio import BAD_BYTES_MARK

ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
TOOL_ROLES = {"tool", "function", "ipython"}


def text_of(content, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif not (isinstance(part, dict) and isinstance(part.get("type"), str)):
                raise BadRecord(f"bad value for {where}.{i}: expected a text part")
        return "\n".join(texts)  # images and audio parts carry no text to judge
    raise BadRecord(f"bad value for {where}: expected a string or a list of parts, got {type(content).__name__}")


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


def parse_openai(value: object, row: int) -> tuple[dict, list[dict]]:
    """One record -> (conversation row, message rows). Raises BadRecord."""
    if not isinstance(value, dict):
        raise BadRecord(f"not a JSON object but {type(value).__name__}")
    messages = value.get("messages")
    if not isinstance(messages, list):
        raise BadRecord("missing field: messages" if messages is None else
                        f"bad value for messages: expected a list, got {type(messages).__name__}")
    pairs = []
    for i, m in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(m, dict):
            raise BadRecord(f"bad value for {where}: expected an object")
        role = m.get("role")
        if role in TOOL_ROLES or (role == "assistant" and m.get("content") is None and
                                  (m.get("tool_calls") or m.get("function_call"))):
            raise BadRecord(f"tool calls are not stored yet ({where} is a {role} message)")
        if role not in ROLES:
            raise BadRecord(f"unknown role {role!r} in {where}" if role is not None else f"missing field: {where}.role")
        if "content" not in m:
            raise BadRecord(f"missing field: {where}.content")
        pairs.append((ROLES[role], text_of(m["content"] if m["content"] is not None else "", f"{where}.content")))
    source_id = _optional_str(value.get("id", value.get("conversation_id")), "id")
    user = _optional_str(value.get("user"), "user")
    model = _optional_str(value.get("model"), "model")
    if BAD_BYTES_MARK in json.dumps([source_id, user, model, pairs], ensure_ascii=False):
        raise BadRecord("invalid UTF-8 bytes in record")
    cid = conversation_id("openai", source_id, pairs)
    conversation = {"conversation_id": cid, "source": "openai", "source_id": source_id, "model": model,
                    "created_at": _created(value.get("created")), "n_messages": len(pairs), "user_hash": user,
                    "source_row": row}
    return conversation, [{"conversation_id": cid, "message_index": i, "role": role, "content": content,
                           "source_row": row} for i, (role, content) in enumerate(pairs)]
