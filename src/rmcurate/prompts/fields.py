"""How long texts enter a judge prompt. The label and pairs stages and the generative
trainer share these, so a model trained on a prompt is asked the same prompt when served."""


def cut(text: str | None, limit: int) -> str:
    """The text, or its head and tail around a [...] marker when it is over `limit` characters."""
    if not text or len(text) <= limit:
        return text or ""
    half = limit // 2
    return f"{text[:half]}\n[...]\n{text[-half:]}"


def render_conversation(prompt: list[dict], limit: int) -> str:
    """A conversation as one field: ROLE: text blocks, each message cut to `limit`."""
    return "\n\n".join(f"{m['role'].upper()}: {cut(m['content'], limit)}" for m in prompt)
