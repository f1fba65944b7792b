"""The SQL of the warehouse's views, and those views over a subset of messages."""
import re
from importlib import resources


def view_sql(name: str) -> str:
    return resources.files("rmcurate.warehouse.sql").joinpath(f"{name}.sql").read_text()


def scoped_view(con, name: str, messages_select: str, params: list) -> str:
    """The view `name` built over `messages_select` alone, as a temp view of this connection; returns its name.

    DuckDB does not push a filter on the conversation through a view's window functions: a query
    on `turns` for a few conversations builds it over every message. This one is built from those
    messages only (the SELECT must keep messages' columns).
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE scoped_messages AS {messages_select}", params)
    scoped = f"scoped_{name}"
    con.execute(re.sub(r"\bmessages\b", "scoped_messages", view_sql(name)).replace(
        f"CREATE OR REPLACE VIEW {name}", f"CREATE OR REPLACE TEMP VIEW {scoped}"))
    return scoped
