"""Conversations from per-call logs: one record per model call, its request's messages and its response.

Most production logs (gateways, LiteLLM, LangSmith, PostHog, Langfuse, OTel spans) write a record per
model call, and every call repeats the conversation so far. One rule makes conversations of them:

- Calls that name a conversation (a session, thread or conversation id) are that conversation, in time
  order. Each call adds what its request has that the conversation does not already end with, then its
  response: a history repeated in every call is stored once, and calls that log only the new user
  message still build the whole conversation. A system prompt every call repeats is stored once.
- Calls that name none are joined by their messages: a call whose request starts with an earlier
  conversation's whole transcript (its requests and responses so far) continues it, when both have the
  same user (or neither names one); any other call starts a conversation. A retry of the same request is
  a conversation of its own (a branch).

Each response message keeps the call's id (`source_ref`) and its trace's (`trace_ref`), so feedback
that names either finds the reply.
"""
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from rmcurate.readers.messages import Msg


@dataclass
class Call:
    call_id: str
    request: list[Msg]
    response: list[Msg]
    key: str | None = None  # the conversation this call names (session, thread, conversation id)
    time: datetime | None = None
    model: str | None = None
    user: str | None = None
    trace_id: str | None = None
    where: str = ""
    extra: dict = field(default_factory=dict)


def overlap(transcript: list, new: list) -> int:
    """How many of `new`'s first messages the transcript already ends with (the repeated history).
    Both are lists of message keys."""
    for k in range(min(len(transcript), len(new)), 0, -1):
        if transcript[-k:] == new[:k]:
            return k
    return 0


def _chain_hash(h: str, key: tuple) -> str:
    return hashlib.md5((h + json.dumps(key, ensure_ascii=False)).encode()).hexdigest()


class _Conversation:
    def __init__(self, key: str, first: Call, chained: bool):
        self.key, self.first = key, first
        self.msgs: list[Msg] = []
        self.keys: list[tuple] = []  # the messages' keys, kept as they are added (overlap reads them per call)
        # Only chained conversations need the chain hash of their transcript's keys. It starts from the
        # user: two users who asked the same first question and got the same reply stay two conversations.
        self.end = (first.user or "") if chained else None

    def add(self, msgs: list[Msg]) -> None:
        for m in msgs:
            key = m.key()
            self.msgs.append(m)
            self.keys.append(key)
            if self.end is not None:
                self.end = _chain_hash(self.end, key)

    def respond(self, call: Call, source: str) -> None:
        self.add([Msg(**{**m.__dict__, "ref": f"{source}:{call.call_id}",
                         "trace_ref": f"{source}:{call.trace_id}" if call.trace_id else None})
                  for m in call.response])


def _by_time(calls: list[Call]) -> list[Call]:
    if calls and all(c.time is not None for c in calls):  # without times for all, as the file has them
        return sorted(calls, key=lambda c: c.time)
    return calls


def conversations_of(calls: list[Call], source: str, loose: str = "call") -> list[_Conversation]:
    """The conversations these calls make, keyed ones first in order of their first call, then chained ones
    (keyed `<loose>:<first call id>`)."""
    seen: set[str] = set()
    unique = []
    for c in calls:  # a call logged twice (two pages, a retry of the export) counts once
        if c.call_id not in seen:
            seen.add(c.call_id)
            unique.append(c)
    keyed: dict[str, list[Call]] = {}
    unkeyed = []
    for c in unique:
        (keyed.setdefault(c.key, []) if c.key else unkeyed).append(c)
    out = []
    for key, group in keyed.items():
        group = _by_time(group)
        conv = _Conversation(f"session:{key}", group[0], chained=False)
        for call in group:
            request = call.request
            if conv.msgs and request and request[0].role == "system" and conv.keys[0] == request[0].key():
                request = request[1:]  # the system prompt every call repeats is stored once, at the start
            conv.add(request[overlap(conv.keys, [m.key() for m in request]):])
            conv.respond(call, source)
        out.append(conv)
    ends: dict[str, _Conversation] = {}
    for call in _by_time(unkeyed):
        prefixes = [call.user or ""]
        h = prefixes[0]
        for m in call.request:
            h = _chain_hash(h, m.key())
            prefixes.append(h)
        conv = None
        for k in range(len(call.request), 0, -1):
            if (conv := ends.get(prefixes[k])) is not None:
                del ends[prefixes[k]]
                conv.add(call.request[k:])
                break
        if conv is None:
            conv = _Conversation(f"{loose}:{call.call_id}", call, chained=True)
            conv.add(call.request)
            out.append(conv)
        conv.respond(call, source)
        ends[conv.end] = conv
    return out


def rows_of(conversations: list[_Conversation], source: str, named: bool = False) -> tuple[list[dict], list[dict]]:
    """(conversation rows, message rows) for the warehouse. A conversation's id is a hash of its key;
    `named`: a conversation a session names keeps that name as its id (OTel's conversation id)."""
    convs, messages = [], []
    for row, conv in enumerate(conversations):
        kind, name = conv.key.split(":", 1)
        cid = name if named and kind == "session" else hashlib.md5(f"{source}:{conv.key}".encode()).hexdigest()
        first = conv.first
        convs.append({"conversation_id": cid, "source": source, "source_id": name,
                      "model": first.model, "created_at": first.time, "n_messages": len(conv.msgs),
                      "user_hash": first.user, "source_row": row})
        messages += [{"conversation_id": cid, "message_index": i, **m.row(), "source_row": row}
                     for i, m in enumerate(conv.msgs)]
    return convs, messages
