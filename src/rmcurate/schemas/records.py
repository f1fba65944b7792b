"""One pydantic model per stored record."""
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, create_model


class Role(StrEnum):
    user = "user"
    assistant = "assistant"
    system = "system"
    tool = "tool"  # a tool's result; the call is the assistant message's tool_calls


class EventKind(StrEnum):
    copy = "copy"
    click = "click"
    thumbs_up = "thumbs_up"
    thumbs_down = "thumbs_down"
    regenerate = "regenerate"
    share = "share"
    edit = "edit"
    impression = "impression"  # the reply was seen; a log's denominator, not an action


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)


class SourceConversation(_Record):
    """A conversation as a reader produces it, before it is stored."""

    conversation_id: str = Field(description="WildChat conversation_hash, else md5 of source, id and messages")
    source: str = Field(description="wildchat | sharegpt")
    source_id: str | None = Field(None, description="the id the source gave it, if any")
    model: str | None = None
    language: str | None = None
    created_at: datetime | None = None
    n_messages: int
    toxic: bool | None = None
    redacted: bool | None = None
    user_hash: str | None = None
    country: str | None = None
    source_row: int = Field(description="0-based: Parquet row, JSON array element or JSONL line")


class Conversation(SourceConversation):
    """Table `conversations`: one row per conversation."""

    source_file: str
    ingest_id: int


def _score_fields(names: tuple[str, ...]) -> dict:
    """One optional float per score name; names like 'self-harm/intent' are aliases of Python-safe fields."""
    return {name.replace("/", "_").replace("-", "_"): (float | None, Field(None, alias=name)) for name in names}


# The score names WildChat's moderation columns carry. A score under another
# name lands in Message.other_scores instead of being lost.
OPENAI_CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence",
    "violence/graphic",
)
DETOXIFY_HEADS = (
    "identity_attack", "insult", "obscene", "severe_toxicity", "sexual_explicit", "threat", "toxicity",
)
OpenAIScores = create_model("OpenAIScores", __base__=_Record, **_score_fields(OPENAI_CATEGORIES))
DetoxifyScores = create_model("DetoxifyScores", __base__=_Record, **_score_fields(DETOXIFY_HEADS))


class Message(_Record):
    """Table `messages`: one row per message, in conversation order."""

    conversation_id: str
    message_index: int
    role: Role
    content: str
    language: str | None = None
    created_at: datetime | None = None
    toxic: bool | None = None
    redacted: bool | None = None
    moderation_flagged: bool | None = Field(None, description="OpenAI moderation verdict")
    moderation_categories: list[str] | None = Field(None, description="OpenAI categories flagged true")
    # Structs, not MAPs: DuckDB inserts a MAP per message at about half the
    # speed of the whole rest of the row.
    moderation_scores: OpenAIScores | None = Field(None, description="OpenAI category scores")
    detoxify_scores: DetoxifyScores | None = Field(None, description="Detoxify scores")
    other_scores: dict[str, float] | None = Field(
        None, description="scores under names not listed above, as 'openai:<name>' or 'detoxify:<name>'")
    source_ref: str | None = Field(
        None, description="the source's own id of this message ('<source>:<id>': a reply's call, trace, span or "
                          "run id, a message id): feedback that names it finds it")
    trace_ref: str | None = Field(None, description="a reply: '<source>:<trace id>' of the call that wrote it; "
                                                    "feedback on the trace finds its last reply")
    tool_calls: str | None = Field(
        None, description='an assistant message\'s tool calls, JSON: [{"id", "type": "function", "function": '
                          '{"name", "arguments"}}] (the chat-template shape)')
    tool_call_id: str | None = Field(None, description="a tool message: the id of the call it answers")
    tool_name: str | None = Field(None, description="a tool message: the tool's name, where the source gives it")
    reasoning: str | None = Field(None, description="reasoning ('thinking') text the user did not see")
    non_text_parts: int | None = Field(None, description="parts with no text (images, audio, files): counted, not read")


class ChatMessage(_Record):
    role: Role
    content: str
    tool_calls: str | None = Field(None, description="an assistant message's tool calls, JSON (messages.tool_calls)")
    tool_call_id: str | None = Field(None, description="a tool message: the call it answers")


class Reply(_Record):
    """Table `replies`: one row per non-empty assistant reply, with where it stands in its conversation.

    Written when its conversation is stored (or grows), so the `turns` and `reply_evidence` views join
    it instead of running window functions over every message, and `status` counts from it.
    """

    item_id: str = Field(description="conversation_id:message_index of the reply")
    conversation_id: str
    message_index: int
    position: int = Field(description="assistant messages before it in the conversation")
    response_chars: int
    prompt_index: int | None = Field(None, description="message_index of the last user message before it, if any")
    turn_index: int | None = Field(None, description="its 0-based number among the conversation's turns; null "
                                                     "when it is no turn (no user message before or right after)")


class TurnItem(_Record):
    """View `turns`: an assistant reply directly followed by a user message."""

    item_id: str = Field(description="conversation_id:message_index of the reply")
    conversation_id: str
    turn_index: int = Field(description="0-based count of earlier items in the conversation")
    history: list[ChatMessage] = Field(description="messages before the prompt")
    prompt: str | None = Field(description="user message right before the reply, if any")
    steps: list[ChatMessage] = Field(description="tool calls and results between the prompt and the reply")
    response: str
    feedback: str = Field(description="the user's next message")
    language: str | None = None
    model: str | None = None


class ReplyEvidence(_Record):
    """View `reply_evidence`: one non-empty assistant reply and everything known about it."""

    item_id: str = Field(description="conversation_id:message_index of the reply")
    conversation_id: str
    message_index: int
    position: int = Field(description="assistant messages before it in the conversation")
    response_chars: int
    user_id: str | None = Field(description="the user of the conversation's events")
    conversation_has_events: bool
    impressions: int = Field(description="times it was logged as seen (not an action)")
    copies: int
    clicks: int
    thumbs_up: int
    thumbs_down: int
    regenerations: int
    shares: int
    edits: int
    first_action_at: datetime | None = None
    events: list[str] = Field(description="actions on it in time order (impressions left out)")
    user_events: int = Field(description="actions its user logged on other replies, across all conversations")
    feedback_label: int | None = Field(None, description="the follow-up label 1..4, when the feedback stage kept one")
    feedback_category: int | None = None
    simulated_preference: float | None = Field(None, description="a simulated log's hidden truth: evaluation only")
    simulated_preferred: bool | None = None


class SourceEvent(_Record):
    """An event as a log line states it."""

    event_id: str
    ts: datetime
    user_id: str | None = None
    conversation_id: str
    message_index: int | None = None
    event: EventKind
    payload: str | None = Field(None, description="JSON text")
    conversation_ref: str | None = Field(None, description="the conversation id as the event gave it, when it is "
                                                           "the app's own (conversations.source_id), not ours")
    message_ref: str | None = Field(None, description="the app's id of the message it is on (a message, call, "
                                                      "run or span id), as the event gave it")


class Event(SourceEvent):
    """Table `events`: one click/copy/thumbs/... signal on a reply."""

    conversation_known: bool = Field(False, description="its conversation is in the warehouse")
    ingest_id: int


class QuarantineRecord(_Record):
    """Table `quarantine`: an input record that was not loaded, and why."""

    ingest_id: int
    source_file: str
    location: str = Field(description="'row N', 'line N' or 'byte N'")
    reason: str
    raw: str | None = Field(None, description="the offending text, capped")


class Ingest(_Record):
    """Table `ingests`: one row per file. n_read = n_loaded + n_duplicate + n_quarantined."""

    ingest_id: int
    path: str
    size: int
    content_hash: str
    format: str
    n_read: int
    n_loaded: int
    n_duplicate: int
    n_quarantined: int
    started_at: datetime
    finished_at: datetime | None = None
    status: str = Field(description="loaded | empty | quarantined (no record loaded) | rejected | replaced "
                                    "(by a later ingest of the same content) | failed | running")
