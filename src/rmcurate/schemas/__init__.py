"""Data contracts: the records rmcurate stores and the tables users query.

The pydantic models are the source of truth; the Arrow schemas (and through
them the DuckDB tables) are derived from them, so a field is declared once.
"""
from rmcurate.schemas.arrow import arrow_schema
from rmcurate.schemas.judging import JudgeCall
from rmcurate.schemas.records import (ChatMessage, Conversation, Event, EventKind, Ingest, Message, QuarantineRecord,
                                      Role, SourceConversation, SourceEvent, TurnItem)
from rmcurate.schemas.tables import TABLES, Tables

__all__ = [
    "ChatMessage", "Conversation", "Event", "EventKind", "Ingest", "JudgeCall", "Message",
    "QuarantineRecord", "Role", "SourceConversation", "SourceEvent", "TurnItem", "TABLES", "Tables", "arrow_schema",
]
