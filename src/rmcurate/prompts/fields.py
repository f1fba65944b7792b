"""How long texts enter a judge prompt. The label and pairs stages and the generative
trainer share these, so a model trained on a prompt is asked the same prompt when served."""
from rmcurate.schemas.exports import shown_text


def cut(text: str | None, limit: int) -> str:
    """The text, or its head and tail around a [...] marker when it is over `limit` characters."""
    if not text or len(text) <= limit:
        return text or ""
    half = limit // 2
    return f"{text[:half]}\n[...]\n{text[-half:]}"


def render_conversation(prompt: list[dict], limit: int) -> str:
    """A conversation as one field: ROLE: text blocks, each message cut to `limit`; a tool call is shown
    as the call (name and arguments)."""
    return "\n\n".join(f"{m['role'].upper()}: {cut(shown_text(m), limit)}" for m in prompt)
