"""Contracts of preference pairs: RMBoost's synthetic ones and natural ones."""
from datetime import datetime

from pydantic import Field

from rmcurate.schemas.records import ChatMessage, _Record


class Pair(_Record):
    """Table `pairs`: one (chosen, rejected) pair of replies to the same prompt."""

    pair_id: str = Field(description="sha256 of origin, prompt, chosen and rejected")
    prompt: list[ChatMessage] = Field(description="history and the user message, in order")
    chosen: str
    rejected: str
    origin: str = Field(description="rmboost | natural")
    intended_label: str | None = Field(None, description="rmboost: y2 written better or worse than y1")
    aspects: list[str] | None = None
    generator_model: str | None = None
    template: str | None = None
    template_version: int | None = None
    seed: int | None = None
    source_item_id: str = Field(description="the turn whose reply is y1 (natural: the chosen reply)")
    other_item_id: str | None = Field(None, description="natural: the turn of the rejected reply")
    verification: str | None = Field(None, description="agree | disagree | split | failed; null when not run")
    verifier_model: str | None = Field(None, description="the model that verified it (pair_compare, both orders)")
    verifier_p_chosen: float | None = Field(
        None, description="the verifier's P(chosen better) from its A/B logprobs, both orders averaged")
    pipeline_version: str
    run_id: str
    created_at: datetime


class PairAttempt(_Record):
    """Table `pair_attempts`: every RMBoost generation, kept or dropped with its reason."""

    source_item_id: str
    seed: int
    intended_label: str
    aspects: list[str]
    call_key: str | None = Field(None, description="judge_calls.key of the generation")
    kept: bool
    drop_reason: str | None = None
    pair_id: str | None = None
    pipeline_version: str
    run_id: str
    created_at: datetime
