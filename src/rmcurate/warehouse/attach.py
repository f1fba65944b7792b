"""Feedback finds its reply: by our ids, or by the ids the app and its tools gave.

An event names its reply in one or more ways. The first that finds something wins:
1. a message id (`message_ref`): the app's message id or the call, run, span or generation id of the
   reply (`messages.source_ref`, compared without its '<source>:' prefix);
2. a trace id (`trace_ref`): the trace's last reply (`messages.trace_ref`);
3. a conversation id: ours, or the app's (`conversations.source_id`), with the message index the event
   gives (none: an event on the whole conversation).

An event that names a conversation no ingest has brought yet waits in `events` with
`conversation_known` false (and is counted by `rmcurate status`); the ingest that brings the
conversation attaches it. After RMCURATE_SOURCES_UNATTACHED_DAYS it is moved to the quarantine. An
event that names only a message or trace no ingest has brought is quarantined at once as unattached.
"""
from rmcurate.readers.chunk import Quarantined
from rmcurate.warehouse.db import scalar
from rmcurate.warehouse.ddl import columns

REF_ID = "substr({col}, strpos({col}, ':') + 1)"  # '<source>:<id>' -> '<id>'

# Over a relation `p` with event_id, ts, user_id, event, payload, conversation_ref, message_index,
# message_ref, trace_ref and pos: one row per event with what it resolved to.
RESOLVE = """
CREATE OR REPLACE TEMP TABLE resolved AS
WITH by_message AS ({by_message}),
by_trace AS ({by_trace}),
by_conv AS (
    SELECT pos, arg_min(cid, pref) AS cid FROM (
        SELECT p.pos, c.conversation_id AS cid, 0 AS pref FROM {p} p
        JOIN conversations c ON c.conversation_id = p.conversation_ref
        UNION ALL
        SELECT p.pos, c.conversation_id, 1 FROM {p} p JOIN conversations c ON c.source_id = p.conversation_ref)
    GROUP BY pos)
SELECT p.event_id, p.ts, p.user_id, p.event, p.payload, p.message_ref, p.pos,
       coalesce(m.cid, t.cid, c.cid, p.conversation_ref) AS conversation_id,
       CASE WHEN m.cid IS NOT NULL THEN m.idx WHEN t.cid IS NOT NULL THEN t.idx ELSE p.message_index END AS message_index,
       coalesce(m.cid, t.cid, c.cid) IS NOT NULL AS conversation_known,
       CASE WHEN coalesce(m.cid, t.cid, c.cid) IS DISTINCT FROM p.conversation_ref THEN p.conversation_ref END
           AS conversation_ref
FROM {p} p LEFT JOIN by_message m USING (pos) LEFT JOIN by_trace t USING (pos) LEFT JOIN by_conv c USING (pos)"""

BY_REF = """SELECT p.pos, arg_max(m.conversation_id, m.message_index) AS cid, max(m.message_index) AS idx
            FROM {p} p JOIN messages m ON m.{col} IS NOT NULL AND {ref} = p.{given}
            GROUP BY p.pos"""
NONE = "SELECT NULL::BIGINT AS pos, NULL::VARCHAR AS cid, NULL::BIGINT AS idx WHERE false"


def attach(con, p: str, ingest_id: int) -> tuple[int, list[Quarantined]]:
    """Insert the events of the registered relation `p` that the warehouse lacks, attached where they can
    be. Returns (events inserted, quarantine rows for those that name nothing the warehouse has)."""
    has = {col: scalar(con, f"SELECT count({col}) FROM {p}") > 0 for col in ("message_ref", "trace_ref")}
    by_message = BY_REF.format(p=p, col="source_ref", ref=REF_ID.format(col="m.source_ref"), given="message_ref") \
        if has["message_ref"] else NONE
    by_trace = BY_REF.format(p=p, col="trace_ref", ref=REF_ID.format(col="m.trace_ref"), given="trace_ref") \
        if has["trace_ref"] else NONE
    con.execute(RESOLVE.format(p=p, by_message=by_message, by_trace=by_trace))
    lost = con.execute("""SELECT CASE WHEN p.message_ref IS NOT NULL THEN 'message ' || p.message_ref
                                      ELSE 'trace ' || p.trace_ref END, r.payload
                          FROM resolved r JOIN {p} p USING (pos) WHERE r.conversation_id IS NULL ORDER BY pos""".format(p=p)).fetchall()
    unattached = [Quarantined(f"feedback on {ref}", f"unattached: {ref} is in no ingest so far (ingest its "
                              "conversations, then this file again with --force)", payload) for ref, payload in lost]
    con.execute("""CREATE OR REPLACE TEMP TABLE new_ids AS
                   SELECT event_id, min(pos) AS pos FROM resolved e
                   WHERE conversation_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM events x WHERE x.event_id = e.event_id)
                   GROUP BY event_id""")
    cols = [c for c in columns("events") if c != "ingest_id"]
    con.execute(f"""INSERT INTO events ({", ".join(cols)}, ingest_id)
                    SELECT {", ".join("e." + c for c in cols)}, ? FROM resolved e SEMI JOIN new_ids USING (event_id, pos)""",
                [ingest_id])
    return scalar(con, "SELECT count(*) FROM new_ids"), unattached


def attach_waiting(con, ingest_id: int) -> None:
    """Events that waited for a conversation this ingest brought: attach them (by our id or the app's),
    and place those that named a message by its id."""
    con.execute("""
        UPDATE events SET conversation_known = true, conversation_id = c.conversation_id,
                          conversation_ref = CASE WHEN c.conversation_id <> events.conversation_id
                                                  THEN events.conversation_id END
        FROM (SELECT conversation_id AS ref, conversation_id FROM conversations WHERE ingest_id = ?
              UNION ALL
              SELECT source_id, min(conversation_id) FROM conversations WHERE ingest_id = ? AND source_id IS NOT NULL
              GROUP BY source_id) c
        WHERE NOT events.conversation_known AND events.conversation_id = c.ref""", [ingest_id, ingest_id])
    # Over this ingest's messages only: every ingest runs this, and the messages table holds millions of rows.
    con.execute(f"""
        UPDATE events SET message_index = m.message_index
        FROM messages m
        WHERE events.message_ref IS NOT NULL AND events.message_index IS NULL AND events.conversation_known
          AND m.conversation_id = events.conversation_id AND m.source_ref IS NOT NULL
          AND {REF_ID.format(col="m.source_ref")} = events.message_ref
          AND m.conversation_id IN (SELECT conversation_id FROM conversations WHERE ingest_id = ?)""", [ingest_id])


def expire_waiting(con, days: float) -> int:
    """Move events that waited longer than `days` for their conversation to the quarantine. Returns how many."""
    where = f"""NOT e.conversation_known AND i.finished_at < now() - to_microseconds(({float(days)} * 86400e6)::BIGINT)"""
    con.execute(f"""
        INSERT INTO quarantine (ingest_id, source_file, location, reason, raw)
        SELECT e.ingest_id, i.path, 'event ' || e.event_id,
               'unattached after {days:g} days: conversation ' || e.conversation_id || ' is in no ingest', e.payload
        FROM events e JOIN ingests i USING (ingest_id) WHERE {where}""")
    n = con.execute(f"""DELETE FROM events WHERE event_id IN (
                            SELECT e.event_id FROM events e JOIN ingests i USING (ingest_id) WHERE {where})""").fetchone()[0]
    return n
