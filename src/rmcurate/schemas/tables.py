"""Table names are public: users write SQL against them."""
from dataclasses import dataclass

from pydantic import BaseModel

from rmcurate.schemas.exports import Export
from rmcurate.schemas.feedback import FeedbackJudgement, FeedbackLabel, FunnelStep, LabelBacklog, LabelWatermark
from rmcurate.schemas.judging import JudgeCall
from rmcurate.schemas.pairs import Pair, PairAttempt
from rmcurate.schemas.records import Conversation, Event, Ingest, Message, QuarantineRecord, Reply, ReplyEvidence, TurnItem
from rmcurate.schemas.review import QueuedItem, Review, ReviewedLabel
from rmcurate.schemas.runs import NightlyRun


@dataclass(frozen=True)
class Tables:
    conversations: str = "conversations"
    messages: str = "messages"
    replies: str = "replies"  # written with its messages: warehouse/replies.py
    turns: str = "turns"  # a view over replies and messages, see warehouse/sql/turns.sql
    reply_evidence: str = "reply_evidence"  # a view: warehouse/sql/reply_evidence.sql
    events: str = "events"
    quarantine: str = "quarantine"
    ingests: str = "ingests"
    judge_calls: str = "judge_calls"
    feedback_judgements: str = "feedback_judgements"
    feedback_labels: str = "feedback_labels"
    feedback_funnel: str = "feedback_funnel"
    label_watermarks: str = "label_watermarks"
    label_backlog: str = "label_backlog"
    pairs: str = "pairs"
    pair_attempts: str = "pair_attempts"
    exports: str = "exports"
    runs: str = "runs"
    review_queue: str = "review_queue"  # warehouse/reviews.py: what people are asked to review
    reviews: str = "reviews"  # what they said; never changes feedback_labels
    reviewed_labels: str = "reviewed_labels"  # a view: labels with their latest review, warehouse/sql/reviewed_labels.sql


TABLES = Tables()

# Stored tables and the model each one is derived from.
STORED: dict[str, type[BaseModel]] = {
    TABLES.conversations: Conversation,
    TABLES.messages: Message,
    TABLES.replies: Reply,
    TABLES.events: Event,
    TABLES.quarantine: QuarantineRecord,
    TABLES.ingests: Ingest,
    TABLES.judge_calls: JudgeCall,
    TABLES.feedback_judgements: FeedbackJudgement,
    TABLES.feedback_labels: FeedbackLabel,
    TABLES.feedback_funnel: FunnelStep,
    TABLES.label_watermarks: LabelWatermark,
    TABLES.label_backlog: LabelBacklog,
    TABLES.pairs: Pair,
    TABLES.pair_attempts: PairAttempt,
    TABLES.exports: Export,
    TABLES.runs: NightlyRun,
    TABLES.review_queue: QueuedItem,
    TABLES.reviews: Review,
}
# Tables keyed for upserts (INSERT OR REPLACE) and point lookups: table -> key column.
PRIMARY_KEYS: dict[str, str] = {TABLES.judge_calls: "key"}
VIEWS: dict[str, type[BaseModel]] = {TABLES.turns: TurnItem, TABLES.reply_evidence: ReplyEvidence,
                                     TABLES.reviewed_labels: ReviewedLabel}
