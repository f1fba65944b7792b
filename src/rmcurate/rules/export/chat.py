"""Prompts every chat template accepts: what TRL, OpenRLHF and strict templates need of a pair's prompt.

Templates that check roles (Llama, Mistral, Gemma) want an optional system message, then user and
assistant messages alternating, starting and ending with the user before the reply. Logged chats
do not always look so: ShareGPT conversations that the assistant opens, two user messages in a
row, empty messages. The repair keeps what the user said and drops only what no template can
place; a prompt left with no user message is a drop with its reason.

Tool traffic stays, in the shape tool-aware templates take: an assistant message with `tool_calls`
followed by the `tool` messages that answer it counts as the assistant's side of the alternation, and
a prompt may end on tool results (the reply reads them). A tool result whose call is not in the prompt
is removed.
"""


def _said(m: dict) -> bool:
    return bool(m["content"] and m["content"].strip()) or bool(m.get("tool_calls")) or m["role"] == "tool"


def trainable_prompt(prompt: list[dict]) -> tuple[list[dict] | None, str | None, str | None]:
    """(repaired prompt, what was repaired or None, None) or (None, None, drop reason)."""
    repairs = []
    msgs = [m for m in prompt if _said(m)]
    if len(msgs) < len(prompt):
        repairs.append("empty messages removed")
    called = {c.get("id") for m in msgs for c in m.get("tool_calls") or [] if isinstance(c, dict)}
    answered = [m for m in msgs if m["role"] != "tool" or (  # a result without an id answers any call
        m["tool_call_id"] in called if m.get("tool_call_id") else bool(called))]
    if len(answered) < len(msgs):
        repairs.append("tool results without their call removed")
        msgs = answered
    system = [msgs.pop(0)] if msgs and msgs[0]["role"] == "system" else []
    if any(m["role"] == "system" for m in msgs):
        return None, None, "a system message inside the conversation"
    lead = 0
    while lead < len(msgs) and msgs[lead]["role"] in ("assistant", "tool"):
        lead += 1
    if lead:  # the assistant opened the conversation (a greeting): no template places it before a user
        msgs = msgs[lead:]
        repairs.append("opening assistant messages removed")
    if not msgs:
        return None, None, "prompt has no user message"
    merged: list[dict] = []
    for m in msgs:
        plain = m["role"] in ("user", "assistant") and not m.get("tool_calls")
        last = merged[-1] if merged else None
        if plain and last is not None and last["role"] == m["role"] and not last.get("tool_calls"):
            merged[-1] = {**last, "content": last["content"] + "\n\n" + m["content"]}
            if "consecutive messages of one role merged" not in repairs:
                repairs.append("consecutive messages of one role merged")
        else:
            merged.append(dict(m))
    if merged[-1]["role"] not in ("user", "tool"):
        return None, None, "prompt does not end with a user message"
    return system + merged, "; ".join(repairs) or None, None
