"""The `replies` table: where each non-empty assistant reply stands in its conversation.

Written in the same transaction as its conversation's messages (ingest), again when the
conversation grows, deleted with it. The `turns` and `reply_evidence` views join it instead of
running window functions over every message, so a query costs what it reads: `count(*) from
turns` at a million conversations reads two small columns, not 11 GB of text.

The one turn rule lives here: a turn is an assistant reply with text directly followed by a
non-empty user message, with a user message before it (the prompt: the last one before the reply),
which must have text too. Everything before the prompt is history; tool calls and tool results
between the prompt and the reply are the turn's steps. A reply with no user message before it (a
greeting), an assistant message that is only a tool call, and a reply whose prompt is empty (an
image alone, say) are not turns.
"""
from rmcurate.schemas.tables import TABLES

# Over `{messages}`: any relation with messages' conversation_id, message_index, role and content,
# holding whole conversations.
INDEX_SQL = """
WITH m AS (
    SELECT conversation_id, message_index, role, length(content) AS chars, trim(content) <> '' AS said,
           count(*) FILTER (WHERE role = 'assistant') OVER w - 1 AS position,
           lead(role) OVER w AS next_role,
           lead(trim(content) <> '') OVER w AS next_said,
           max(CASE WHEN role = 'user' THEN message_index END) OVER (
               w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prompt_index,
           last_value(CASE WHEN role = 'user' THEN trim(content) <> '' END IGNORE NULLS) OVER (
               w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prompt_said
    FROM {messages}
    WINDOW w AS (PARTITION BY conversation_id ORDER BY message_index)
),
r AS (
    SELECT *, coalesce(next_role = 'user' AND next_said AND prompt_index IS NOT NULL AND prompt_said, false)
           AS is_turn
    FROM m WHERE role = 'assistant' AND said
)
SELECT conversation_id || ':' || message_index AS item_id, conversation_id, message_index, position,
       chars AS response_chars, prompt_index,
       CASE WHEN is_turn THEN row_number() OVER (PARTITION BY conversation_id, is_turn ORDER BY message_index) - 1
       END AS turn_index
FROM r"""

COLUMNS = "item_id, conversation_id, message_index, position, response_chars, prompt_index, turn_index"


def index_replies(con, messages: str, params: list | None = None) -> None:
    """Insert the replies of the whole conversations `messages` (a table name or a parenthesised SELECT)."""
    con.execute(f"INSERT INTO {TABLES.replies} ({COLUMNS}) {INDEX_SQL.format(messages=messages)}", params or [])


def reindex(con, conversations: str, params: list | None = None) -> None:
    """Replace the replies of the conversations `conversations` (a SELECT of ids) from their stored messages."""
    con.execute(f"DELETE FROM {TABLES.replies} WHERE conversation_id IN ({conversations})", params or [])
    index_replies(con, f"(SELECT * FROM {TABLES.messages} WHERE conversation_id IN ({conversations}))", params)


def backfill(con) -> bool:
    """A warehouse from before the table: index every stored conversation, once. True when it did."""
    if con.execute(f"SELECT count(*) FROM {TABLES.replies}").fetchone()[0]:
        return False
    if not con.execute(f"""SELECT EXISTS (SELECT 1 FROM {TABLES.messages}
                                          WHERE role = 'assistant' AND trim(content) <> '')""").fetchone()[0]:
        return False
    con.begin()
    try:
        index_replies(con, TABLES.messages)
    except BaseException:
        con.rollback()
        raise
    con.commit()
    return True
