"""Reading turns for the WildReward stage and storing what it decides."""
from collections.abc import Sequence

import pyarrow as pa
from pydantic import BaseModel

from rmcurate.rules.feedback.rules import WORD_SQL
from rmcurate.schemas import arrow_schema
from rmcurate.schemas.tables import TABLES
from rmcurate.warehouse.sql import scope

TURN_COLUMNS = ("item_id", "conversation_id", "turn_index", "prompt", "response", "feedback", "language",
                "n_messages", "n_history", "history_words")


def watermark(con, pipeline_version: str) -> int:
    """The ingest id up to which this version's label stage has read every conversation (0: none)."""
    row = con.execute(f"SELECT ingest_id FROM {TABLES.label_watermarks} WHERE pipeline_version = ?",
                      [pipeline_version]).fetchone()
    return row[0] if row else 0


def latest_ingest(con) -> int:
    return con.execute(f"SELECT coalesce(max(ingest_id), 0) FROM {TABLES.conversations}").fetchone()[0]


# What the label stage has to read (parameters: the watermark, the pipeline version), `waiting` true for the
# backlog's rows: the conversations above the watermark and those waiting, a conversation in both twice.
PENDING = f"""SELECT conversation_id, false AS waiting FROM {TABLES.conversations} WHERE ingest_id > ?
              UNION ALL
              SELECT conversation_id, true FROM {TABLES.label_backlog} WHERE pipeline_version = ?"""


def pending_conversations(con, pipeline_version: str) -> list[str]:
    """Conversations the label stage has to read: those ingested above its watermark, then those waiting in
    the backlog (a failed judge call, or a bounded run's remainder), each in id order. New ones first, so a
    night bounded by RMCURATE_LABEL_MAX_MINUTES labels its own data before it works on a backfill. From
    `conversations` alone: no pass over the turns view, so a night's cost follows what is new, not the history."""
    return [r[0] for r in con.execute(f"""
        SELECT conversation_id FROM ({PENDING}) GROUP BY conversation_id
        ORDER BY bool_and(waiting), conversation_id""", [watermark(con, pipeline_version), pipeline_version]).fetchall()]


def advance_watermark(con, pipeline_version: str, ingest_id: int, backlog: Sequence[str], run_id: str) -> None:
    """After a run that read every pending conversation: raise the watermark to what it saw at its start
    and keep, as the backlog, only the conversations whose turns still wait."""
    con.execute("BEGIN")
    try:
        con.execute(f"DELETE FROM {TABLES.label_watermarks} WHERE pipeline_version = ?", [pipeline_version])
        con.execute(f"INSERT INTO {TABLES.label_watermarks} VALUES (?, ?, ?, now())", [pipeline_version, ingest_id, run_id])
        con.execute(f"DELETE FROM {TABLES.label_backlog} WHERE pipeline_version = ?", [pipeline_version])
        if backlog:  # one statement for a million ids (a bounded first night), not a row at a time
            con.execute(f"INSERT INTO {TABLES.label_backlog} SELECT ?, unnest(?::VARCHAR[]), ?",
                        [pipeline_version, sorted(set(backlog)), run_id])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def backlog_size(con, pipeline_version: str) -> int:
    """Conversations the next label run has to read: those above the watermark and those waiting."""
    return con.execute(f"SELECT count(DISTINCT conversation_id) FROM ({PENDING})",
                       [watermark(con, pipeline_version), pipeline_version]).fetchone()[0]


def turns_of(con, conversation_ids: Sequence[str], pipeline_version: str) -> list[dict]:
    """The unlabelled turns of these conversations, in conversation and turn order, with the size of
    their history (messages and words before the prompt) but not the history itself.

    From these conversations' messages and replies copied into temp tables first (`scope`): DuckDB
    does not push a list of conversations through the view's joins, so each batch would read every
    message. The history's size is a running count over the messages, not a list built per turn, so a
    conversation of thousands of turns costs linear time and memory.
    """
    scope(con, "SELECT unnest(?::VARCHAR[])", [list(conversation_ids)])
    rows = con.execute(f"""
        WITH before AS (
            SELECT conversation_id, message_index, content,
                   count(*) OVER w AS n_history,
                   coalesce(sum(len(regexp_extract_all(content, ?))) OVER w, 0) AS history_words
            FROM scoped_messages
            WINDOW w AS (PARTITION BY conversation_id ORDER BY message_index
                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))
        SELECT r.item_id, r.conversation_id, r.turn_index, p.content, m.content, f.content, c.language,
               c.n_messages, p.n_history, p.history_words
        FROM scoped_replies r
        JOIN before p ON p.conversation_id = r.conversation_id AND p.message_index = r.prompt_index
        JOIN scoped_messages m ON m.conversation_id = r.conversation_id AND m.message_index = r.message_index
        JOIN scoped_messages f ON f.conversation_id = r.conversation_id AND f.message_index = r.message_index + 1
        JOIN {TABLES.conversations} c ON c.conversation_id = r.conversation_id
        WHERE r.turn_index IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM {TABLES.feedback_labels} l
                          WHERE l.item_id = r.item_id AND l.pipeline_version = ?)
        ORDER BY r.conversation_id, r.turn_index""", [WORD_SQL, pipeline_version]).fetchall()
    return [dict(zip(TURN_COLUMNS, r)) for r in rows]


def greetings_of(con, conversation_ids: Sequence[str]) -> int:
    """Replies with no user message before them and one after (a greeting the user answered): what
    would be turns but for the turn rule, counted so the funnel shows where they went."""
    return con.execute(f"""
        SELECT count(*) FROM (
            SELECT role, lead(role) OVER w AS next_role,
                   bool_or(role = 'user') OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS asked
            FROM {TABLES.messages} WHERE conversation_id IN (SELECT unnest(?::VARCHAR[]))
            WINDOW w AS (PARTITION BY conversation_id ORDER BY message_index))
        WHERE role = 'assistant' AND next_role = 'user' AND NOT coalesce(asked, false)""",
                       [list(conversation_ids)]).fetchone()[0]


def insert_models(con, table: str, records: Sequence[BaseModel]) -> None:
    """Append pydantic records through Arrow, so the table's contract types apply."""
    if not records:
        return
    schema = arrow_schema(type(records[0]))
    data = pa.Table.from_pylist([r.model_dump() for r in records], schema=schema)  # noqa: F841 - read by DuckDB
    con.execute(f"INSERT INTO {table} ({', '.join(schema.names)}) SELECT * FROM data")


def write_batch(con, judgements: Sequence[BaseModel], labels: Sequence[BaseModel]) -> None:
    """One batch of conversations, all or nothing."""
    con.execute("BEGIN")
    try:
        insert_models(con, TABLES.feedback_judgements, judgements)
        insert_models(con, TABLES.feedback_labels, labels)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def label_histogram(con, run_id: str | None = None) -> list[tuple[int, int]]:
    where = "WHERE kept" + (" AND run_id = ?" if run_id else "")
    return con.execute(f"SELECT label, count(*) FROM {TABLES.feedback_labels} {where} GROUP BY 1 ORDER BY 1",
                       [run_id] if run_id else []).fetchall()


def funnel(con, run_id: str) -> list[tuple]:
    return con.execute(f"""SELECT step, n_in, n_dropped, n_changed, n_out FROM {TABLES.feedback_funnel}
                           WHERE run_id = ? ORDER BY step_index""", [run_id]).fetchall()


def last_label_run(con) -> str | None:
    """The run whose funnel was written last. On a snapshot (views over Parquet, no rowid) the greatest
    run id: the ones the CLI and the nightly make are UTC timestamps."""
    (kind,) = con.execute("SELECT any_value(table_type) FROM information_schema.tables WHERE table_name = ?",
                          [TABLES.feedback_funnel]).fetchone()
    order = "rowid" if kind == "BASE TABLE" else "run_id"
    rows = con.execute(f"SELECT run_id FROM {TABLES.feedback_funnel} ORDER BY {order} DESC LIMIT 1").fetchall()
    return rows[0][0] if rows else None


def learned_labels(con, pipeline_version: str, skip_model: str) -> list[tuple[dict, int, str]]:
    """(turn, category, source) of the turns the cues settled ("cue") and those a judge other than
    `skip_model` answered ("judge"), for training the first pass; a turn is its prompt, response
    and feedback."""
    rows = con.execute(f"""
        SELECT l.item_id, t.prompt, t.response, t.feedback, l.category,
               CASE WHEN l.method = 'cue' THEN 'cue' ELSE 'judge' END
        FROM {TABLES.feedback_labels} l JOIN {TABLES.turns} t USING (item_id)
        WHERE l.pipeline_version = ? AND l.category IS NOT NULL AND t.feedback IS NOT NULL
          AND (l.method = 'cue' OR (l.method = 'judged' AND EXISTS (
                SELECT 1 FROM {TABLES.feedback_judgements} j
                WHERE j.item_id = l.item_id AND j.kind = 'feedback' AND j.judge_model <> ?)))
        ORDER BY l.item_id""", [pipeline_version, skip_model]).fetchall()
    return [({"item_id": i, "prompt": p, "response": r, "feedback": f}, c, src) for i, p, r, f, c, src in rows]
