"""WildChat rows (the Hugging Face schema) -> conversations and messages. LMSYS-Chat-1M rows have
the same shape, keyed by `conversation_id`, with the same OpenAI moderation lists: they read here too.

Parquet shards go through polars column-wise, never a Python loop per row:
a 100k-conversation shard must load at close to DuckDB's own read speed.
JSON rows are checked one by one, normalized to the same columns, and share
the same column-wise flattening.
"""
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rmcurate.readers import moderation
from rmcurate.readers.chunk import RAW_CAP, Chunk, FormatError, Quarantined

ROLES = ["user", "assistant", "system"]
UTC_US = pl.Datetime("us", "UTC")
MESSAGE = pl.Struct({
    "content": pl.String, "role": pl.String, "language": pl.String,
    "toxic": pl.Boolean, "redacted": pl.Boolean, "timestamp": UTC_US,
})
RAW = {  # the WildChat columns we keep, normalized (moderation travels beside, as Arrow)
    "conversation_hash": pl.String, "model": pl.String, "timestamp": UTC_US,
    "language": pl.String, "toxic": pl.Boolean, "redacted": pl.Boolean,
    "country": pl.String, "hashed_ip": pl.String, "conversation": pl.List(MESSAGE),
    "source_row": pl.Int64, "problem": pl.String,
}
REQUIRED = ("conversation_hash", "conversation")
# Any order of roles loads: a greeting before the first question and two user messages in a
# row are real conversations. Which replies make turns is the turns view's one rule
# (warehouse/sql/turns.sql), the same for every format.
PLAIN = ("conversation_hash", "model", "timestamp", "language", "toxic", "redacted", "country", "hashed_ip",
         "conversation")


# ---------------------------------------------------------------- Parquet

def _as_utc(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        return expr.str.to_datetime(strict=False, time_zone="UTC", time_unit="us")
    if isinstance(dtype, pl.Datetime):
        return (expr.dt.replace_time_zone("UTC") if dtype.time_zone is None else expr.dt.convert_time_zone("UTC")).cast(UTC_US)
    return pl.lit(None, dtype=UTC_US)


def _normalize(df: pl.DataFrame, first_row: int) -> pl.DataFrame:
    """Any WildChat-like batch -> the RAW columns, with a `problem` where a cell is unusable."""
    schema = df.schema
    cols, problem = [], pl.lit(None, dtype=pl.String)
    for name in PLAIN:
        dtype = RAW[name]
        if name not in schema:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
        elif name == "timestamp":
            ts = _as_utc(pl.col(name), schema[name])
            problem = pl.when(pl.col(name).is_not_null() & ts.is_null()).then(pl.lit("unparseable timestamp")).otherwise(problem)
            cols.append(ts.alias(name))
        elif name == "conversation":
            fields = {f.name: f.dtype for f in schema[name].inner.fields}
            parts = {
                f: (_as_utc(pl.element().struct.field(f), fields[f]) if f == "timestamp" else
                    pl.element().struct.field(f).cast(t, strict=False)) if f in fields else pl.lit(None, dtype=t)
                for f, t in MESSAGE.to_schema().items()
            }
            cols.append(pl.col(name).list.eval(pl.struct(**parts)).alias(name))
        else:
            cols.append(pl.col(name).cast(dtype, strict=False).alias(name))
    return df.select(*cols,
                     pl.int_range(first_row, first_row + df.height, dtype=pl.Int64).alias("source_row"),
                     problem.alias("problem"))


# Each source's name for the conversation's id.
ID_COLUMN = {"wildchat": "conversation_hash", "lmsys": "conversation_id"}


def check_parquet_schema(path: Path, source: str = "wildchat") -> None:
    schema = pq.read_schema(path)
    missing = [c for c in (ID_COLUMN[source], "conversation") if c not in schema.names]
    if missing:
        raise FormatError(f"{path}: not a {'WildChat' if source == 'wildchat' else 'LMSYS-Chat'} file "
                          f"(no column {', '.join(missing)})")
    conv = schema.field("conversation").type
    if not (pa.types.is_list(conv) or pa.types.is_large_list(conv)) or not pa.types.is_struct(conv.value_type) \
            or not {"content", "role"} <= {f.name for f in conv.value_type}:
        raise FormatError(f"{path}: column conversation is {conv}, not a list of messages with content and role")


def read_wildchat_parquet(path: Path, batch_size: int, source: str = "wildchat") -> Iterator[Chunk]:
    check_parquet_schema(path, source)
    pf = pq.ParquetFile(path, pre_buffer=False)  # pre-buffering kept every batch read so far: RSS grew with the file
    names = pf.schema_arrow.names
    renamed = {ID_COLUMN[source]: "conversation_hash"}
    plain = [c for c in names if renamed.get(c, c) in PLAIN and (c in renamed or c not in ID_COLUMN.values())]
    lists = [c for c in moderation.SOURCE_COLUMNS if c in names]  # moderation.columns skips non-lists
    row, size, total = 0, path.stat().st_size, max(pf.metadata.num_rows, 1)
    for group in range(pf.num_row_groups):
        n = pf.metadata.row_group(group).num_rows
        batches = pf.iter_batches(batch_size=batch_size, columns=plain + lists, row_groups=[group])
        first = row
        try:
            for batch in batches:
                df = _normalize(pl.from_arrow(batch.select(plain)).rename(lambda c: renamed.get(c, c)), row)
                chunk = flatten(df, {c: batch.column(c) for c in lists}, lambda r: f"row {r}", source)
                row += batch.num_rows
                chunk.bytes_read = size * row // total  # for progress bars: rows done, scaled to bytes
                yield chunk
        except (OSError, pa.ArrowException) as e:
            # Corrupt pages: the rest of this row group cannot be told apart, row by row. It is one
            # quarantine row that says how many rows it holds; the next row group reads as usual.
            lost = first + n - row
            bad = Quarantined(f"rows {row}-{first + n - 1} (row group {group})",
                              f"unreadable Parquet data ({lost} rows): {str(e).splitlines()[0]}")
            row = first + n
            yield Chunk(quarantined=[bad], bytes_read=size * row // total)


# ---------------------------------------------------------------- JSON rows

def _parse_time(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value  # epoch ms or s
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    if isinstance(value, str):
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    raise ValueError


def _check(value, want, field):
    if value is not None and not isinstance(value, want):
        raise ValueError(f"bad value for {field}: expected {want.__name__}, got {type(value).__name__}")
    return value


def normalize_json_row(value: object) -> dict:
    """One WildChat JSON object -> a RAW row. Raises ValueError with the reason."""
    if not isinstance(value, dict):
        raise ValueError(f"not a JSON object but {type(value).__name__}")
    for field in REQUIRED:
        if value.get(field) is None:
            raise ValueError(f"missing field: {field}")
    _check(value["conversation_hash"], str, "conversation_hash")
    conv = _check(value["conversation"], list, "conversation")
    messages = []
    for i, m in enumerate(conv):
        where = f"conversation.{i}"
        _check(m, dict, where)
        if m.get("content") is None or m.get("role") is None:
            raise ValueError(f"missing field: {where}.{'content' if m.get('content') is None else 'role'}")
        try:
            ts = _parse_time(m.get("timestamp"))
        except (ValueError, TypeError, OverflowError, OSError):  # OSError: a year past 9999
            raise ValueError(f"unparseable timestamp in {where}") from None
        messages.append({
            "content": _check(m["content"], str, f"{where}.content"),
            "role": _check(m["role"], str, f"{where}.role"),
            "language": _check(m.get("language"), str, f"{where}.language"),
            "toxic": _check(m.get("toxic"), bool, f"{where}.toxic"),
            "redacted": _check(m.get("redacted"), bool, f"{where}.redacted"),
            "timestamp": ts,
        })
    try:
        ts = _parse_time(value.get("timestamp"))
    except (ValueError, TypeError, OverflowError, OSError):  # OSError: a year past 9999
        raise ValueError("unparseable timestamp") from None
    return {
        "conversation_hash": value["conversation_hash"],
        "model": _check(value.get("model"), str, "model"),
        "timestamp": ts,
        "language": _check(value.get("language"), str, "language"),
        "toxic": _check(value.get("toxic"), bool, "toxic"),
        "redacted": _check(value.get("redacted"), bool, "redacted"),
        "country": _check(value.get("country"), str, "country"),
        "hashed_ip": _check(value.get("hashed_ip"), str, "hashed_ip"),
        "conversation": messages,
        **moderation.clean_json(value, len(messages)),
    }


def rows_frame(rows: list[dict]) -> tuple[pl.DataFrame, dict[str, pa.Array]]:
    """normalize_json_row results -> the RAW frame and the moderation lists beside it."""
    lists = {name: pa.array([r.pop(name) for r in rows]) for name in moderation.SOURCE_COLUMNS}
    return pl.DataFrame(rows, schema=RAW), lists


# ---------------------------------------------------------------- both

def flatten(df: pl.DataFrame, lists: dict[str, pa.Array], locate, source: str = "wildchat") -> Chunk:
    """RAW rows and their moderation lists -> a Chunk of conversations + messages; bad rows quarantined."""
    roles = pl.col("conversation").list.eval(
        pl.element().struct.field("role").fill_null("<missing>").filter(~pl.element().struct.field("role").is_in(ROLES)))
    null_content = pl.col("conversation").list.eval(pl.element().struct.field("content").is_null()).list.any()
    reason = (
        pl.when(pl.col("problem").is_not_null()).then(pl.col("problem"))
        .when(pl.col("conversation_hash").is_null() | (pl.col("conversation_hash") == "")).then(pl.lit("missing field: conversation_hash"))
        .when(pl.col("conversation").is_null()).then(pl.lit("missing field: conversation"))
        .when(roles.list.len() > 0).then(pl.lit("unknown role ") + roles.list.first())
        .when(null_content).then(pl.lit("missing field: conversation[].content"))
    )
    df = df.with_columns(reason.alias("problem"))
    bad = df.filter(pl.col("problem").is_not_null())
    good = df.filter(pl.col("problem").is_null())
    # The quarantined rows as JSON, encoded and cut to RAW_CAP characters column-wise: turning whole
    # conversations into Python objects first cost more than loading the good rows.
    raw = pl.struct(*PLAIN).struct.json_encode()
    cut = pl.when(raw.str.len_chars() > RAW_CAP).then(
        raw.str.slice(0, RAW_CAP) + pl.lit("... [") + (raw.str.len_chars() - RAW_CAP).cast(pl.String)
        + pl.lit(" more chars]")).otherwise(raw)
    quarantined = [Quarantined(locate(row), problem, text)
                   for row, problem, text in bad.select("source_row", "problem", cut.alias("raw")).iter_rows()]
    conversations = good.select(
        pl.col("conversation_hash").alias("conversation_id"),
        pl.lit(source).alias("source"),
        pl.lit(None, dtype=pl.String).alias("source_id"),
        "model", "language",
        pl.col("timestamp").alias("created_at"),
        pl.col("conversation").list.len().cast(pl.Int64).alias("n_messages"),
        "toxic", "redacted",
        pl.col("hashed_ip").alias("user_hash"),
        "country", "source_row",
    )
    messages = (
        good.filter(pl.col("conversation").list.len() > 0)
        .select(
            pl.col("conversation_hash").alias("conversation_id"),
            pl.int_ranges(0, pl.col("conversation").list.len(), dtype=pl.Int64).alias("message_index"),
            "conversation", "source_row",
        )
        .explode(["message_index", "conversation"])
        .unnest("conversation")
        .select("conversation_id", "message_index", "role", "content", "language",
                pl.col("timestamp").alias("created_at"), "toxic", "redacted", "source_row")
    )
    lengths = good["conversation"].list.len().to_numpy().astype(np.int64)
    keep = df["problem"].is_null().to_arrow()
    per_message = moderation.columns({name: pc.filter(col, keep) for name, col in lists.items()}, lengths)
    messages = messages.to_arrow()
    for name in moderation.COLUMNS:
        messages = messages.add_column(messages.num_columns - 1, name, per_message[name])  # before source_row
    return Chunk(conversations=conversations.to_arrow(), messages=messages, quarantined=quarantined)
