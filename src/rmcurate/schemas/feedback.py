"""Contracts of the WildReward stage: judgements, labels and the funnel."""
from datetime import datetime

from pydantic import Field

from rmcurate.schemas.records import _Record


class FeedbackJudgement(_Record):
    """Table `feedback_judgements`: one judge answer about one turn."""

    item_id: str
    kind: str = Field(description="feedback (1-5 satisfaction) | refusal (0-2 verdict) | audit (1-5, about a "
                                  "turn the cues, prefilter or first pass settled; changes nothing)")
    judge_model: str
    template: str
    template_version: int
    call_key: str = Field(description="judge_calls.key: the raw answer")
    raw_category: int | None = Field(None, description="the parsed answer; null when unparseable")
    category_probs: dict[str, float] | None = Field(None, description="probability of each choice, from logprobs")
    confidence: float | None = Field(None, description="probability of the chosen answer")
    from_cache: bool
    run_id: str
    judged_at: datetime


class FeedbackLabel(_Record):
    """Table `feedback_labels`: the final decision about a turn, per pipeline version."""

    item_id: str
    conversation_id: str
    language: str | None = None
    category: int | None = Field(None, description="final 1-5 satisfaction category")
    label: int | None = Field(None, description="ordinal 1-4 (categories 1,2,4,5); null when dropped")
    confidence: float | None = None
    method: str = Field(description="cue | first_pass | judged | mined | refusal_checked | prefiltered | undecided | "
                                          "filtered")
    rule: str | None = Field(None, description="the cue or prefilter rule that settled the turn without a judge")
    mined_from: str | None = Field(None, description="the later item whose label a mined item took")
    kept: bool
    drop_step: str | None = None
    drop_reason: str | None = None
    pipeline_version: str
    run_id: str
    labeled_at: datetime
    context_hash: str | None = Field(None, description="md5 of the turn's history and prompt, set on kept labels by "
                                                       "the natural-pairs pass ('' when the turn has no prompt)")


class FunnelStep(_Record):
    """Table `feedback_funnel`: how many turns survive each step, per run."""

    run_id: str
    step_index: int
    step: str
    n_in: int
    n_dropped: int
    n_changed: int = Field(0, description="labelled or relabelled here without a drop (prefilter, refusal, mining)")
    n_out: int


class LabelWatermark(_Record):
    """Table `label_watermarks`: the label stage of `pipeline_version` has read every conversation of
    the ingests up to `ingest_id`, so the next run starts above it."""

    pipeline_version: str
    ingest_id: int
    run_id: str
    updated_at: datetime


class LabelBacklog(_Record):
    """Table `label_backlog`: conversations below the watermark with turns still waiting on a failed
    judge call, or that a bounded run (max_conversations, max_minutes) did not reach; the next run reads
    them again."""

    pipeline_version: str
    conversation_id: str
    run_id: str
