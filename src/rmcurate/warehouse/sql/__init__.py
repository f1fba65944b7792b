"""The SQL of the warehouse's views, and those views over a subset of messages."""
import re
from importlib import resources


def view_sql(name: str) -> str:
    return resources.files("rmcurate.warehouse.sql").joinpath(f"{name}.sql").read_text()


def scoped_view(con, name: str, conversations: str, params: list) -> str:
    """The view `name` over the conversations `conversations` (a SELECT of ids) alone, as a temp view
    of this connection; returns its name.

    A filter on a list of conversations is not pushed through the view's joins into `messages`: a
    batch of the label stage would read every message. This copies that batch's messages and replies
    into temp tables first (one filtered scan each) and builds the view over them.
    """
    scope(con, conversations, params)
    scoped = f"scoped_{name}"
    con.execute(re.sub(r"\b(messages|replies)\b", r"scoped_\1", view_sql(name)).replace(
        f"CREATE OR REPLACE VIEW {name}", f"CREATE OR REPLACE TEMP VIEW {scoped}"))
    return scoped


def scope(con, conversations: str, params: list) -> None:
    """Temp tables scoped_messages and scoped_replies: the rows of the conversations `conversations`."""
    for table in ("messages", "replies"):
        con.execute(f"CREATE OR REPLACE TEMP TABLE scoped_{table} AS SELECT * FROM {table} "
                    f"WHERE conversation_id IN ({conversations})", params)
