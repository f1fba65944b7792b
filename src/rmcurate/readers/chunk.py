"""What every reader yields: good records as Arrow tables, bad ones with a reason."""
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from rmcurate.schemas import Message, SourceConversation, SourceEvent, arrow_schema

# The Arrow tables every reader yields.
CONVERSATIONS = arrow_schema(SourceConversation)
MESSAGES = arrow_schema(Message).append(pa.field("source_row", pa.int64(), nullable=False))
EVENTS = arrow_schema(SourceEvent)
# Feedback that names its reply by the ids the app or its tools gave (a message, call, run, span or trace
# id, the app's conversation id): the warehouse attaches it when it loads it (warehouse/attach.py).
PENDING_EVENTS = pa.schema([EVENTS.field(n) for n in ("event_id", "ts", "user_id", "event", "payload")]
                           + [pa.field(n, pa.string()) for n in ("message_ref", "trace_ref", "conversation_ref")]
                           + [pa.field("message_index", pa.int64())])
RAW_CAP = 2000  # characters of an offending record kept in quarantine.raw


class FormatError(ValueError):
    """The file as a whole cannot be read as the format asked for."""


class BadRecord(ValueError):
    """One record that cannot be loaded; the message is the quarantine reason."""


@dataclass
class Quarantined:
    location: str  # "line 7 (byte 812)", "record 12", "row 3"
    reason: str
    raw: str | None = None


@dataclass
class Chunk:
    """A slice of one input file, in file order.

    conversations/messages (chat sources) or events (event logs) hold the
    records that parsed; `quarantined` the ones that did not. Messages carry
    an extra `source_row` column so the warehouse can keep only the first
    copy of a conversation that appears twice.
    """

    conversations: pa.Table | None = None
    messages: pa.Table | None = None
    events: pa.Table | None = None
    pending_events: pa.Table | None = None  # PENDING_EVENTS: attached by source_ref when loaded
    grows: bool = False  # a stored conversation of the same id gets the messages it lacks (Langfuse sessions)
    quarantined: list[Quarantined] = field(default_factory=list)
    bytes_read: int = 0  # file position reached, for progress bars

    @property
    def n_good(self) -> int:
        """Conversations and events that parsed (a trace export holds both)."""
        return sum(t.num_rows for t in (self.conversations, self.events, self.pending_events) if t is not None)

    @property
    def n_read(self) -> int:
        return self.n_good + len(self.quarantined)


def cap(text: str | bytes | None) -> str | None:
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text[: RAW_CAP * 4].decode("utf-8", errors="replace")
    return text if len(text) <= RAW_CAP else text[:RAW_CAP] + f"... [{len(text) - RAW_CAP} more chars]"



def time_of(value) -> datetime | None:
    """A record's time: epoch seconds or milliseconds, or ISO 8601 (naive times are UTC); None otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        try:
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return t if t.tzinfo else t.replace(tzinfo=UTC)
    return None


def str_or_none(value) -> str | None:
    return None if value is None else str(value)
