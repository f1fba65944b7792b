"""DuckDB tables derived from the Arrow contracts in schemas/."""
from importlib import resources

import pyarrow as pa

from rmcurate.schemas import arrow_schema
from rmcurate.schemas.tables import STORED, VIEWS


def duck_type(t: pa.DataType) -> str:
    if pa.types.is_string(t):
        return "VARCHAR"
    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_float64(t):
        return "DOUBLE"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_map(t):
        return f"MAP({duck_type(t.key_type)}, {duck_type(t.item_type)})"
    if pa.types.is_list(t):
        return duck_type(t.value_type) + "[]"
    if pa.types.is_struct(t):
        return "STRUCT(" + ", ".join(f'"{f.name}" {duck_type(f.type)}' for f in t) + ")"
    raise TypeError(f"no DuckDB type for {t}")


def create_table_sql(name: str, schema: pa.Schema) -> str:
    cols = ",\n  ".join(
        f'"{f.name}" {duck_type(f.type)}{"" if f.nullable else " NOT NULL"}' for f in schema
    )
    return f"CREATE TABLE IF NOT EXISTS {name} (\n  {cols}\n)"


def columns(name: str) -> list[str]:
    return arrow_schema(STORED[name]).names


def ensure_schema(con) -> None:
    """The tables (an older warehouse's are migrated after this, then `ensure_views` runs)."""
    con.execute("CREATE SEQUENCE IF NOT EXISTS ingest_ids START 1")
    for name, model in STORED.items():
        con.execute(create_table_sql(name, arrow_schema(model)))


def ensure_views(con) -> None:
    for view in VIEWS:
        con.execute(resources.files("rmcurate.warehouse.sql").joinpath(f"{view}.sql").read_text())
