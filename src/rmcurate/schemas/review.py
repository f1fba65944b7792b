"""The review loop's two tables: what is queued for people to review, and what they said."""
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QueuedItem(_Record):
    """Table `review_queue`: one row per turn queued for review, however many strategies picked it."""

    item_id: str
    strategy: str = Field(description="random | uncertain | disagree | similar | imported: the first that picked it")
    priority: float = Field(description="the page shows the lowest first (strategies interleaved)")
    pipeline_version: str
    queued_at: datetime


class Review(_Record):
    """Table `reviews`: one person's category for one turn. A review never changes `feedback_labels`;
    views and exports read a reviewed item's latest category first."""

    review_id: str
    item_id: str
    category: int | None = Field(None, description="1-5 as the label stage's categories; null when skipped")
    skipped: bool = False
    note: str | None = None
    reviewer: str
    reviewed_at: datetime
    strategy: str | None = Field(None, description="the queue strategy that brought the item")
    label_category: int | None = Field(None, description="the label's category the reviewer saw")
    label_method: str | None = Field(None, description="cue | first_pass | judged | ... : the method of that label")
    label_confidence: float | None = None
    pipeline_version: str


class ReviewedLabel(_Record):
    """View `reviewed_labels`: each label beside its latest review, and the decision exports use."""

    item_id: str
    conversation_id: str
    pipeline_version: str
    category: int | None
    label: int | None
    kept: bool
    method: str
    reviewed_category: int | None = Field(description="the latest review's category; null when not reviewed")
    reviewer: str | None
    reviewed_at: datetime | None
    final_category: int | None = Field(description="the reviewer's category first, else the label stage's")
    final_label: int | None = Field(description="ordinal 1-4 of final_category (3: null)")
    final_kept: bool | None = Field(description="in the ordinal labels: a review of 3 drops, any other keeps")
