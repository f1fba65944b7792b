"""Assistant replies as units: where they sit in a conversation, what they hold."""
import re

CODE = re.compile(r"```|^(?: {4}|\t)\S", re.M)
LIST_OR_TABLE = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,3}[.)])\s+\S|^\s*\|.*\|\s*$", re.M)


def has_code(text: str) -> bool:
    """A fenced or indented code block: replies with code are copied far more, whatever their quality."""
    return bool(CODE.search(text))


def has_list(text: str) -> bool:
    """A markdown list or table: structured replies are copied and clicked more, too."""
    return bool(LIST_OR_TABLE.search(text))


def replies_of(conversations: dict[str, list[dict]]) -> list[dict]:
    """Non-empty assistant replies of {conversation_id: messages in order}, with the user message before
    each and its position (0 for a conversation's first assistant message, as the implicit export counts)."""
    out = []
    for cid, messages in conversations.items():
        position, last_user = 0, ""
        for m in messages:
            if m["role"] == "user":
                last_user = m["content"]
            elif m["role"] == "assistant":
                if m["content"].strip():
                    out.append({"conversation_id": cid, "message_index": m["message_index"], "prompt": last_user,
                                "response": m["content"], "position": position})
                position += 1
    return out
