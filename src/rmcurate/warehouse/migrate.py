"""Bring a warehouse made by an earlier rmcurate up to today's contract.

Runs on every write connection once the tables exist. Each step looks at
what is on disk first, so an up-to-date warehouse costs a catalog query.
What cannot be migrated is reported, never dropped.
"""
from rmcurate.schemas import arrow_schema
from rmcurate.schemas.records import DETOXIFY_HEADS, OPENAI_CATEGORIES
from rmcurate.schemas.tables import PRIMARY_KEYS, STORED
from rmcurate.warehouse.ddl import create_table_sql, duck_type
from rmcurate.warehouse.replies import backfill


def _columns(con, temp: bool = False) -> dict[tuple[str, str], str]:
    """(table, column) -> DuckDB's name for its type, in the warehouse or among this session's temp tables."""
    rows = con.execute("""SELECT table_name, column_name, data_type FROM duckdb_columns()
                          WHERE database_name = CASE WHEN ? THEN 'temp' ELSE current_database() END
                            AND schema_name = 'main'""", [temp]).fetchall()
    return {(t, c): d for t, c, d in rows}


def _sql_list(names) -> str:
    return "[" + ", ".join("'" + n.replace("'", "''") + "'" for n in names) + "]"


def _unlisted(column: str, prefix: str, listed) -> str:
    """The entries of a MAP column whose keys the contract does not list, renamed 'prefix:key'."""
    return (f"list_transform(list_filter(coalesce(map_entries({column}), []), "
            f"lambda e: NOT list_contains({_sql_list(listed)}, e.key)), "
            f"lambda e: {{'key': '{prefix}:' || e.key, 'value': e.value}})")


def _scores_maps_to_structs(con) -> None:
    """Scores were first stored as MAPs; they are structs now, with unlisted names in other_scores."""
    con.begin()
    try:
        con.execute("ALTER TABLE messages ADD COLUMN IF NOT EXISTS other_scores MAP(VARCHAR, DOUBLE)")
        con.execute(f"""UPDATE messages SET other_scores = nullif(map_from_entries(list_concat(
                            {_unlisted('moderation_scores', 'openai', OPENAI_CATEGORIES)},
                            {_unlisted('detoxify_scores', 'detoxify', DETOXIFY_HEADS)})), MAP {{}})""")
        for column, listed in (("moderation_scores", OPENAI_CATEGORIES), ("detoxify_scores", DETOXIFY_HEADS)):
            struct = duck_type(arrow_schema(STORED["messages"]).field(column).type)
            fields = ", ".join(f'"{n}" := {column}[\'{n}\']' for n in listed)
            con.execute(f"""ALTER TABLE messages ALTER {column} SET DATA TYPE {struct}
                            USING CASE WHEN {column} IS NOT NULL THEN struct_pack({fields}) END""")
    except BaseException:
        con.rollback()  # all of it or none: the old columns stay as they were
        raise
    con.commit()


def _messages_without_tools(disk: dict) -> list[tuple[str, str]]:
    """Lists of chat messages stored before messages carried tool calls: (table, column)."""
    return [(t, c) for (t, c), d in disk.items() if t in STORED and d == 'STRUCT("role" VARCHAR, "content" VARCHAR)[]']


def _add_tool_fields(con, columns: list[tuple[str, str]]) -> None:
    """Chat messages gained tool_calls and tool_call_id: old rows get them empty."""
    con.begin()
    try:
        for table, column in columns:
            want = duck_type(arrow_schema(STORED[table]).field(column).type)
            con.execute(f"""ALTER TABLE {table} ALTER "{column}" SET DATA TYPE {want} USING list_transform("{column}",
                            lambda x: {{'role': x.role, 'content': x.content, 'tool_calls': NULL::VARCHAR,
                                  'tool_call_id': NULL::VARCHAR}})""")
    except BaseException:
        con.rollback()
        raise
    con.commit()


def _score_maps(disk: dict) -> bool:
    return disk.get(("messages", "moderation_scores"), "").startswith("MAP(")


def outdated(con) -> bool:
    """Whether `migrate` has work to do (read-only connections ask before they read)."""
    disk = _columns(con)
    return _score_maps(disk) or bool(_messages_without_tools(disk)) or any((name, f.name) not in disk for name, model in STORED.items()
                                    for f in arrow_schema(model)) or bool(set(PRIMARY_KEYS) - _keyed(con))


def _keyed(con) -> set[str]:
    return {t for (t,) in con.execute("""SELECT table_name FROM duckdb_constraints()
                                         WHERE constraint_type = 'PRIMARY KEY' AND database_name = current_database()
                                         """).fetchall()}


def migrate(con) -> list[str]:
    """Migrate what is known; return a line for each column that still differs from the contract."""
    disk = _columns(con)
    if _score_maps(disk):
        _scores_maps_to_structs(con)
        disk = _columns(con)
    if old := _messages_without_tools(disk):
        _add_tool_fields(con, old)
        disk = _columns(con)
    problems = []
    for name, model in STORED.items():
        schema = arrow_schema(model)
        for field in schema:
            if (name, field.name) not in disk and field.nullable:  # a column added since: empty for old rows
                con.execute(f'ALTER TABLE {name} ADD COLUMN "{field.name}" {duck_type(field.type)}')
        # DuckDB spells types its own way: compare against a temp table made from the contract.
        con.execute(create_table_sql(f"contract_{name}", schema).replace("CREATE TABLE IF NOT EXISTS",
                                                                         "CREATE OR REPLACE TEMP TABLE"))
    want = {(t.removeprefix("contract_"), c): d for (t, c), d in _columns(con, temp=True).items()
            if t.startswith("contract_")}
    have = _columns(con)
    for (table, column), data_type in want.items():
        if have.get((table, column)) != data_type:
            problems.append(f"{table}.{column} is {have.get((table, column), 'missing')}, expected {data_type}")
    for name in STORED:
        con.execute(f"DROP TABLE temp.contract_{name}")
    _primary_keys(con)
    backfill(con)  # the replies of conversations stored before the table existed
    return problems


def _primary_keys(con) -> None:
    """Key the tables that are upserted; rows of a key written twice by an older version keep the newest."""
    keyed = _keyed(con)
    for table, key in PRIMARY_KEYS.items():
        if table in keyed:
            continue
        # Two steps: DuckDB checks the new index against rows deleted in the same transaction.
        con.execute(f"""DELETE FROM {table} WHERE rowid NOT IN (SELECT max(rowid) FROM {table} GROUP BY "{key}")""")
        con.execute(f'ALTER TABLE {table} ADD PRIMARY KEY ("{key}")')
