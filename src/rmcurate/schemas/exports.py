"""Contracts of exported training sets: the formats, their rows, the `exports` table.

Trainers downstream read these shards without our code, so the row layouts here
are public in the same way table names are.
"""
from datetime import datetime

from pydantic import BaseModel, Field

from rmcurate.schemas.records import ChatMessage, _Record

FORMATS = ("trl", "openrlhf", "ordinal", "implicit")
SPLITS = ("train", "test")


class TrlRow(BaseModel):
    """Conversational preference data: TRL's RewardTrainer and DPOTrainer apply the chat template."""

    prompt: list[ChatMessage] = Field(description="history and the user message")
    chosen: list[ChatMessage] = Field(description="one assistant message")
    rejected: list[ChatMessage] = Field(description="one assistant message")


class OpenRlhfRow(BaseModel):
    """OpenRLHF's reward dataset with --apply_chat_template and its default keys (no --prompt_key)."""

    prompt: list[ChatMessage] = Field(description="for reference; chosen and rejected already hold it")
    chosen: list[ChatMessage] = Field(description="the whole conversation ending in the chosen reply")
    rejected: list[ChatMessage] = Field(description="the whole conversation ending in the rejected reply")


class OrdinalRow(BaseModel):
    """WildReward-style rows: a reply, the user's next message, and its 1..4 label."""

    item_id: str
    history: list[ChatMessage]
    prompt: str | None
    response: str
    feedback: str
    label: int = Field(description="1..4: satisfaction categories 1, 2, 4, 5")
    text: str = Field(description="the reward model's input: render(history, prompt, response), no feedback")


class ImplicitRow(BaseModel):
    """One assistant reply in a conversation with logged events: what was done, and who did it."""

    item_id: str
    user_id: str | None = Field(description="the user of the conversation's events")
    prompt: list[ChatMessage] = Field(description="history and the user message")
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
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content'].strip()}" for m in messages)
