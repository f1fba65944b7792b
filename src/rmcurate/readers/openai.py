"""Chat records, one a conversation: OpenAI-style `{"messages": [...], "id"?, "user"?, "model"?}` and
Anthropic Messages `{"system"?, "messages": [...]}` with content blocks.

What teams log from the chat completions and messages APIs and what Hugging Face chat datasets hold,
as JSON lines, a JSON array or Parquet. Messages are read by readers/messages.py: text parts joined,
tool calls and tool results kept as messages, refusals as the reply's text, images counted. A
top-level `system` (Anthropic) is the first message. A message's own `id` is kept (`source_ref`
'<source>:<id>'), so feedback that names it finds it.
"""
from rmcurate.readers.chunk import BadRecord, time_of
from rmcurate.readers.messages import parse_messages, system_prompt
from rmcurate.readers.sharegpt import conversation_id
from rmcurate.readers.textio import BAD_BYTES_MARK


def _optional_str(value, field: str) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is not None and not isinstance(value, str):
        raise BadRecord(f"bad value for {field}: expected a string, got {type(value).__name__}")
    return value


PLAIN_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}


def _plain(messages) -> list[tuple[str, str]] | None:
    """(role, text) when every message is only a role and a string, the common case, read without the
    general message reader (a third of a JSON-lines ingest's time went there); else None."""
    if type(messages) is not list:
        return None
    out = []
    for m in messages:
        if type(m) is not dict or len(m) != 2 or type(m.get("content")) is not str or m.get("role") not in PLAIN_ROLES:
            return None
        out.append((PLAIN_ROLES[m["role"]], m["content"]))
    return out


def parse_openai(value: object, row: int, source: str = "openai") -> tuple[dict, list[dict]]:
    """One record -> (conversation row, message rows). Raises BadRecord."""
    if not isinstance(value, dict):
        raise BadRecord(f"not a JSON object but {type(value).__name__}")
    source_id = _optional_str(value.get("id", value.get("conversation_id")), "id")
    user = _optional_str(value.get("user"), "user")
    model = _optional_str(value.get("model"), "model")
    plain = _plain(value.get("messages")) if value.get("system") is None else None
    if plain is not None:
        keys = plain
        rows = [{"role": r, "content": t} for r, t in plain]
        texts = [t for _, t in plain]
    else:
        msgs = system_prompt(value.get("system")) + parse_messages(value.get("messages"), "messages")
        keys = [m.key() for m in msgs]
        rows = [m.row() for m in msgs]
        texts = [v for r in rows for v in (r["content"], r["tool_calls"], r["reasoning"], r["tool_call_id"])
                 if v is not None]
        for r in rows:
            if r["source_ref"] is not None:
                r["source_ref"] = f"{source}:{r['source_ref']}"
    if any(BAD_BYTES_MARK in t for t in [*texts, source_id or "", user or "", model or ""]):
        raise BadRecord("invalid UTF-8 bytes in record")
    cid = conversation_id(source, source_id, keys)
    conversation = {"conversation_id": cid, "source": source, "source_id": source_id, "model": model,
                    "created_at": time_of(value.get("created")), "n_messages": len(rows), "user_hash": user,
                    "source_row": row}
    for i, r in enumerate(rows):
        r.update(conversation_id=cid, message_index=i, source_row=row)
    return conversation, rows


def parse_anthropic(value: object, row: int) -> tuple[dict, list[dict]]:
    return parse_openai(value, row, "anthropic")
