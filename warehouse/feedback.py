"""Reading turns for the WildReward stage and storing what it decides."""
from collections.abc import Sequence

import pyarrow as pa
from pydantic import BaseModel

from extractors.feedback.rules import WORD_SQL
from schemas import arrow_schema
from schemas.tables import TABLES

TURN_COLUMNS = ("item_id", "conversation_id", "turn_index", "prompt", "response", "feedback", "language",
                "n_messages", "n_history", "history_words")


def pending_conversations(con, pipeline_version: str) -> list[str]:
    """Conversations with at least one turn not yet labelled by this pipeline version."""
    return [r[0] for r in con.execute(f"""
        SELECT DISTINCT conversation_id FROM {TABLES.turns} t
        WHERE NOT EXISTS (SELECT 1 FROM {TABLES.feedback_labels} l
                          WHERE l.item_id = t.item_id AND l.pipeline_version = ?)
        ORDER BY conversation_id""", [pipeline_version]).fetchall()]


def turns_of(con, conversation_ids: Sequence[str], pipeline_version: str) -> list[dict]:
    """The unlabelled turns of these conversations, in conversation and turn order."""
    rows = con.execute(f"""
        SELECT item_id, conversation_id, turn_index, prompt, response, feedback, t.language,
               c.n_messages, len(history) AS n_history,
               coalesce(list_sum(list_transform(history,
                   lambda h: len(regexp_extract_all(h.content, ?)))), 0) AS history_words
        FROM {TABLES.turns} t JOIN {TABLES.conversations} c USING (conversation_id)
        WHERE conversation_id IN (SELECT unnest(?::VARCHAR[]))
          AND NOT EXISTS (SELECT 1 FROM {TABLES.feedback_labels} l
                          WHERE l.item_id = t.item_id AND l.pipeline_version = ?)
        ORDER BY conversation_id, turn_index""", [WORD_SQL, list(conversation_ids), pipeline_version]).fetchall()
    return [dict(zip(TURN_COLUMNS, r)) for r in rows]


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
    rows = con.execute(f"SELECT run_id FROM {TABLES.feedback_funnel} ORDER BY rowid DESC LIMIT 1").fetchall()
    return rows[0][0] if rows else None
