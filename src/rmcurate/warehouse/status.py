"""What `rmcurate status` reports, as plain rows."""
from rmcurate.schemas.tables import STORED, TABLES, VIEWS
from rmcurate.warehouse.db import scalar


# The views' row counts from what is stored: a turn is a reply with a turn index, and reply_evidence
# has a row per reply (warehouse/replies.py). Counting the views themselves joins every message.
VIEW_COUNTS = {TABLES.turns: f"SELECT count(turn_index) FROM {TABLES.replies}",
               TABLES.reply_evidence: f"SELECT count(*) FROM {TABLES.replies}",
               TABLES.reviewed_labels: f"SELECT count(*) FROM {TABLES.feedback_labels}"}


def table_counts(con) -> list[tuple[str, int]]:
    """Every table and view there is (a snapshot written before a table was added lacks it)."""
    there = {name for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    counted = {name: VIEW_COUNTS[name] if name in VIEW_COUNTS and TABLES.replies in there else f"SELECT count(*) FROM {name}"
               for name in [*STORED, *VIEWS] if name in there}
    return [(name, scalar(con, sql)) for name, sql in counted.items()]


def last_ingests(con, limit: int = 10) -> list[tuple]:
    return con.execute("""
        SELECT ingest_id, path, format, n_read, n_loaded, n_duplicate, n_quarantined, status,
               strftime(finished_at, '%Y-%m-%d %H:%M:%S') AS finished
        FROM ingests ORDER BY ingest_id DESC LIMIT ?""", [limit]).fetchall()


def quarantine_by_reason(con, limit: int = 20) -> list[tuple[str, int]]:
    return con.execute("""
        SELECT reason, count(*) AS n FROM quarantine GROUP BY 1 ORDER BY n DESC, reason LIMIT ?""",
                       [limit]).fetchall()


def feedback_by_source(con) -> list[tuple[str, int, int]]:
    """Events by the format of the file that brought them: (format, events, events on a reply)."""
    return con.execute("""
        SELECT i.format, count(*), count(e.message_index) FILTER (WHERE e.conversation_known)
        FROM events e JOIN ingests i USING (ingest_id) GROUP BY 1 ORDER BY 2 DESC, 1""").fetchall()


def waiting(con) -> int:
    """Events that name a conversation no ingest has brought yet."""
    return scalar(con, "SELECT count(*) FROM events WHERE NOT conversation_known")
