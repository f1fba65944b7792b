"""ShareGPT conversations: {"id": ..., "conversations": [{"from": ..., "value": ...}]}.

Function-calling datasets in this shape (Glaive, ToolACE, xLAM exports) add `function_call` turns (the
value a JSON call, `{"name", "arguments"}`) and `observation`/`function_response`/`tool` turns (the
result): stored as an assistant tool call and a tool message, as every reader stores tools.
"""
import hashlib
import json

from rmcurate.readers.chunk import BadRecord
from rmcurate.readers.messages import tool_call
from rmcurate.readers.textio import BAD_BYTES_MARK

# Speaker names seen in real ShareGPT dumps, mapped to our roles.
SPEAKERS = {
    "human": "user", "user": "user",
    "gpt": "assistant", "chatgpt": "assistant", "bing": "assistant", "bard": "assistant",
    "assistant": "assistant", "model": "assistant",
    "system": "system",
}
TOOL_SPEAKERS = {"observation", "function_response", "tool", "ipython"}


def conversation_id(source: str, source_id: str | None, messages: list[tuple[str, str]]) -> str:
    """Stable id for sources without a hash: the same record always gets the same id.

    The source's own id is not enough: ShareGPT reuses ids for different
    conversations, so the messages are part of the key.
    """
    key = json.dumps([source, source_id, messages], ensure_ascii=False, separators=(",", ":"))
    return hashlib.md5(key.encode("utf-8")).hexdigest()


def parse_sharegpt(value: object, row: int) -> tuple[dict, list[dict]]:
    """One ShareGPT record -> (conversation row, message rows). Raises BadRecord."""
    if not isinstance(value, dict):
        raise BadRecord(f"not a JSON object but {type(value).__name__}")
    if "conversations" not in value:
        raise BadRecord("missing field: conversations")
    turns = value["conversations"]
    if not isinstance(turns, list):
        raise BadRecord(f"bad value for conversations: expected a list, got {type(turns).__name__}")
    source_id = value.get("id")
    if isinstance(source_id, int) and not isinstance(source_id, bool):
        source_id = str(source_id)
    if source_id is not None and not isinstance(source_id, str):
        raise BadRecord(f"bad value for id: expected a string, got {type(source_id).__name__}")
    pairs, extra = [], []  # extra: (message index, tool calls JSON) of function_call turns
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise BadRecord(f"bad value for conversations.{i}: expected an object")
        if "from" not in turn or "value" not in turn:
            missing = "from" if "from" not in turn else "value"
            raise BadRecord(f"missing field: conversations.{i}.{missing}")
        speaker, content = turn["from"], turn["value"]
        if not isinstance(content, str):
            raise BadRecord(f"bad value for conversations.{i}.value: expected a string")
        speaker = speaker.lower() if isinstance(speaker, str) else speaker
        if speaker == "function_call":
            extra.append(_call(content, i, len(pairs)))
            pairs.append(("assistant", ""))
            continue
        if speaker in TOOL_SPEAKERS:
            pairs.append(("tool", content))
            continue
        role = SPEAKERS.get(speaker) if isinstance(speaker, str) else None
        if role is None:
            raise BadRecord(f"unknown speaker {speaker!r} in conversations.{i}")
        pairs.append((role, content))
    if BAD_BYTES_MARK in json.dumps([source_id, pairs], ensure_ascii=False):
        raise BadRecord("invalid UTF-8 bytes in record")
    calls = dict(extra)
    keys = [(r, t, calls[k], None) if k in calls else (r, t) for k, (r, t) in enumerate(pairs)]
    cid = conversation_id("sharegpt", source_id, keys)
    conversation = {
        "conversation_id": cid, "source": "sharegpt", "source_id": source_id,
        "n_messages": len(pairs), "source_row": row,
    }
    messages = [
        {"conversation_id": cid, "message_index": i, "role": role, "content": content, "source_row": row,
         **({"tool_calls": calls[i]} if i in calls else {})}
        for i, (role, content) in enumerate(pairs)
    ]
    return conversation, messages


def _call(value: str, i: int, index: int) -> tuple[int, str]:
    """A function_call turn's value -> (message index, tool calls JSON in the chat-template shape)."""
    try:
        call = json.loads(value)
    except ValueError:
        raise BadRecord(f"bad value for conversations.{i}.value: a function_call that is not JSON") from None
    calls = call if isinstance(call, list) else [call]
    if not all(isinstance(c, dict) and c.get("name") for c in calls):
        raise BadRecord(f"bad value for conversations.{i}.value: a function_call without a name")
    return index, json.dumps([tool_call(c.get("id"), c["name"], c.get("arguments", c.get("parameters", {})))
                              for c in calls], ensure_ascii=False)
