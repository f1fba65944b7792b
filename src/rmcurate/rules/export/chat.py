"""Prompts every chat template accepts: what TRL, OpenRLHF and strict templates need of a pair's prompt.

Templates that check roles (Llama, Mistral, Gemma) want an optional system message, then user and
assistant messages alternating, starting and ending with the user before the reply. Logged chats
do not always look so: ShareGPT conversations that the assistant opens, two user messages in a
row, empty messages, tool traffic. The repair keeps what the user said and drops only what no template
can place; a prompt left with no user message is a drop with its reason. A pair's prompt holds roles
and text only (the pairs table), so its tool results are dropped with the tool calls (empty messages)
they answer; the warehouse keeps both.
"""


def trainable_prompt(prompt: list[dict]) -> tuple[list[dict] | None, str | None, str | None]:
    """(repaired prompt, what was repaired or None, None) or (None, None, drop reason)."""
    repairs = []
    if any(m["role"] == "tool" for m in prompt):
        prompt = [m for m in prompt if m["role"] != "tool"]
        repairs.append("tool results removed")
    msgs = [m for m in prompt if m["content"] and m["content"].strip()]
    if len(msgs) < len(prompt):
        repairs.append("empty messages removed")
    system = [msgs.pop(0)] if msgs and msgs[0]["role"] == "system" else []
    if any(m["role"] == "system" for m in msgs):
        return None, None, "a system message inside the conversation"
    lead = 0
    while lead < len(msgs) and msgs[lead]["role"] == "assistant":
        lead += 1
    if lead:  # the assistant opened the conversation (a greeting): no template places it before a user
        msgs = msgs[lead:]
        repairs.append("opening assistant messages removed")
    if not msgs:
        return None, None, "prompt has no user message"
    merged: list[dict] = []
    for m in msgs:
        if merged and merged[-1]["role"] == m["role"]:
            merged[-1] = {"role": m["role"], "content": merged[-1]["content"] + "\n\n" + m["content"]}
            if "consecutive messages of one role merged" not in repairs:
                repairs.append("consecutive messages of one role merged")
        else:
            merged.append({"role": m["role"], "content": m["content"]})
    if merged[-1]["role"] != "user":
        return None, None, "prompt does not end with a user message"
    return system + merged, "; ".join(repairs) or None, None
