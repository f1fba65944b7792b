"""Undo ingests whose process died before it finished (see warehouse/ingest.py)."""
from datetime import datetime, timezone


def dead_ingests(con) -> list[int]:
    return [r[0] for r in con.execute("SELECT ingest_id FROM ingests WHERE status = 'running'").fetchall()]


def delete_rows(con, ingest_id: int) -> None:
    """Delete every row an ingest wrote (inside the caller's transaction)."""
    for table in ("replies", "messages"):
        con.execute(f"""DELETE FROM {table} WHERE conversation_id IN
                        (SELECT conversation_id FROM conversations WHERE ingest_id = ?)""", [ingest_id])
    for table in ("conversations", "events", "quarantine"):
        con.execute(f"DELETE FROM {table} WHERE ingest_id = ?", [ingest_id])


def recover(con) -> list[int]:
    """Delete every row of unfinished ingests and mark them 'failed'; returns their ids.

    Only safe with the write lock held: DuckDB lets one process write, so no
    other ingest can be running while we hold it.
    """
    dead = dead_ingests(con)
    for ingest_id in dead:
        con.begin()
        delete_rows(con, ingest_id)
        con.execute("UPDATE ingests SET status = 'failed', finished_at = ? WHERE ingest_id = ?",
                    [datetime.now(timezone.utc), ingest_id])
        con.commit()
    return dead
