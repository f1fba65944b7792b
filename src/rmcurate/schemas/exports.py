"""Contracts of exported training sets: the formats, their rows, the `exports` table.

Trainers downstream read these shards without our code, so the row layouts here
are public in the same way table names are.
"""
import json
from datetime import datetime

from pydantic import BaseModel, Field

from rmcurate.schemas.records import _Record

FORMATS = ("trl", "openrlhf", "ordinal", "implicit")
SPLITS = ("train", "test")


class ToolFunction(BaseModel):
    name: str
    arguments: str = Field(description="JSON text, as the chat completions API gives it")


class ToolCall(BaseModel):
    id: str | None = None
    type: str = "function"
    function: ToolFunction


class ExportMessage(BaseModel):
    """An exported message in the conversational shape TRL and Hugging Face chat templates take:
    tool calls as a list, a tool result as a `tool` message with the call's id."""

    role: str
    content: str
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


def export_message(m: dict) -> dict:
    """A stored message (tool calls as JSON text) -> an exported one."""
    calls = m.get("tool_calls")
    if isinstance(calls, str):
        calls = json.loads(calls)
    return {"role": m["role"], "content": m["content"], "tool_calls": calls or None,
            "tool_call_id": m.get("tool_call_id")}


def shown_text(m: dict) -> str:
    """A message as text for a model that reads text: its content, and its tool calls as name(arguments)."""
    calls = m.get("tool_calls")
    if not calls:
        return m["content"]
    try:
        calls = json.loads(calls) if isinstance(calls, str) else calls
        shown = "; ".join(f"{c['function']['name']}({c['function']['arguments']})" for c in calls)
    except (ValueError, KeyError, TypeError):
        shown = str(calls)
    return "\n".join(filter(None, [m["content"], f"[calls {shown}]"]))


class TrlRow(BaseModel):
    """Conversational preference data: TRL's RewardTrainer and DPOTrainer apply the chat template."""

    prompt: list[ExportMessage] = Field(description="history and the user message")
    chosen: list[ExportMessage] = Field(description="one assistant message")
    rejected: list[ExportMessage] = Field(description="one assistant message")


class OpenRlhfRow(BaseModel):
    """OpenRLHF's reward dataset with --apply_chat_template and its default keys (no --prompt_key)."""

    prompt: list[ExportMessage] = Field(description="for reference; chosen and rejected already hold it")
    chosen: list[ExportMessage] = Field(description="the whole conversation ending in the chosen reply")
    rejected: list[ExportMessage] = Field(description="the whole conversation ending in the rejected reply")


class OrdinalRow(BaseModel):
    """WildReward-style rows: a reply, the user's next message, and its 1..4 label."""

    item_id: str
    history: list[ExportMessage]
    prompt: str | None
    steps: list[ExportMessage] = Field(description="tool calls and results between the prompt and the reply")
    response: str
    feedback: str
    label: int = Field(description="1..4: satisfaction categories 1, 2, 4, 5")
    text: str = Field(description="the reward model's input: render(history, prompt, steps, response), no feedback")


class ImplicitRow(BaseModel):
    """One assistant reply in a conversation with logged events: what was done, and who did it."""

    item_id: str
    user_id: str | None = Field(description="the user of the conversation's events")
    prompt: list[ExportMessage] = Field(description="history and the user message")
    response: str
    text: str = Field(description="the reward model's input, rendered as for `ordinal`")
    events: list[str] = Field(description="events on this reply, in time order")
    copied: bool
    clicked: bool
    thumbs_up: bool
    thumbs_down: bool
    regenerated: bool
    shared: bool = False
    acted: bool = Field(description="any positive implicit signal: copy, click, thumbs up, share")
    feedback_label: int | None = Field(None, description="the follow-up label 1..4, when one was kept")
    simulated_preference: float | None = Field(
        None, description="only in a simulated log: the hidden P(preferred), for evaluation, never for training")
    simulated_preferred: bool | None = Field(None, description="only in a simulated log: the hidden preference")
    # Propensity features: how likely a user acts at all, whatever the reply's quality.
    position: int = Field(description="index of the reply in its conversation")
    response_chars: int
    has_code: bool = Field(description="replies with code are copied far more often")
    has_list: bool = Field(False, description="a markdown list or table")
    user_events: int = Field(description="actions the user logged on other replies, across all conversations")
    user_replies: int = Field(description="replies of the user's conversations with events")


ROW_MODELS: dict[str, type[BaseModel]] = {"trl": TrlRow, "openrlhf": OpenRlhfRow, "ordinal": OrdinalRow,
                                          "implicit": ImplicitRow}


class Export(_Record):
    """Table `exports`: one row per export written."""

    export_id: str = Field(description="format:snapshot:seed:written at")
    format: str
    out_dir: str
    snapshot: str = Field(description="the snapshot run id the rows were read from")
    seed: int
    n_rows: int
    n_train: int
    n_test: int
    n_dropped: int = Field(description="removed as duplicates or for straddling the split; reasons in manifest.json")
    manifest_sha256: str
    created_at: datetime


def render(messages: list[dict]) -> str:
    """The reward model's text input: one block per message. Trainer and export share it."""
    return "\n\n".join(f"{m['role'].capitalize()}: {shown_text(m).strip()}" for m in messages)
