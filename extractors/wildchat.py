"""WildChat rows (the Hugging Face schema) -> conversations and messages.

Parquet shards go through polars column-wise, never a Python loop per row:
a 100k-conversation shard must load at close to DuckDB's own read speed.
JSON rows are checked one by one, normalized to the same columns, and share
the same column-wise flattening.
"""
from collections.abc import Iterator
from datetime import datetime, timezone
import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from extractors.chunk import Chunk, FormatError, Quarantined, cap
from schemas import Message, arrow_schema

ROLES = ["user", "assistant", "system"]
UTC_US = pl.Datetime("us", "UTC")
MESSAGE = pl.Struct({
    "content": pl.String, "role": pl.String, "language": pl.String,
    "toxic": pl.Boolean, "redacted": pl.Boolean, "timestamp": UTC_US,
})
SCORES = pl.List(pl.Struct({"key": pl.String, "value": pl.Float64}))  # becomes a MAP
MODERATION = {  # per-message lists, aligned with `conversation` (null when they are not)
    "moderation_flagged": pl.List(pl.Boolean), "moderation_categories": pl.List(pl.List(pl.String)),
    "moderation_scores": pl.List(SCORES), "detoxify_scores": pl.List(SCORES),
}
MODERATION_TYPES = {name: arrow_schema(Message).field(name).type for name in MODERATION}  # Arrow, for null columns
RAW = {  # the WildChat columns we keep, normalized
    "conversation_hash": pl.String, "model": pl.String, "timestamp": UTC_US,
    "language": pl.String, "toxic": pl.Boolean, "redacted": pl.Boolean,
    "country": pl.String, "hashed_ip": pl.String, "conversation": pl.List(MESSAGE),
    **MODERATION, "source_row": pl.Int64, "problem": pl.String,
}
REQUIRED = ("conversation_hash", "conversation")
PLAIN = ("conversation_hash", "model", "timestamp", "language", "toxic", "redacted", "country", "hashed_ip",
         "conversation")


# ---------------------------------------------------------------- Parquet

def _float_matrix(struct: pa.StructArray) -> np.ndarray:
    return np.column_stack([pc.cast(struct.field(i), pa.float64()).to_numpy(zero_copy_only=False)
                            for i in range(struct.type.num_fields)])


def _scores_map(struct: pa.StructArray) -> pa.MapArray:
    """A struct of scores per row -> a MAP name -> score, built column-wise."""
    names = pa.array([f.name for f in struct.type], pa.string())
    k, n = len(names), len(struct)
    keys = names.take(pa.array(np.tile(np.arange(k), n)))
    values = pa.array(_float_matrix(struct).ravel(), from_pandas=True)  # NaN (a null score) -> null
    return pa.MapArray.from_arrays(pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)), keys, values,
                                   mask=struct.is_null())


def _true_names(struct: pa.StructArray) -> pa.ListArray:
    """A struct of booleans per row -> the list of field names that are true."""
    names = pa.array([f.name for f in struct.type], pa.string())
    flags = np.column_stack([pc.fill_null(struct.field(i), False).to_numpy(zero_copy_only=False)
                             for i in range(struct.type.num_fields)]).astype(bool)
    _, cols = np.nonzero(flags)  # row-major, so names come out row by row
    offsets = np.concatenate([[0], np.cumsum(flags.sum(axis=1))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), names.take(pa.array(cols)), mask=struct.is_null())


def _field(struct: pa.StructArray, name: str):
    return struct.field(name) if struct.type.get_field_index(name) >= 0 else None


def _moderation_columns(table: pa.Table) -> pa.Table:
    """Raw per-message moderation structs (Parquet) or entry lists (JSON) -> the MODERATION columns."""
    out = {}
    if "openai_moderation" in table.column_names:
        om = table.column("openai_moderation").combine_chunks()
        if (flagged := _field(om, "flagged")) is not None:
            out["moderation_flagged"] = pc.cast(flagged, pa.bool_())
        if isinstance((cats := _field(om, "categories")), pa.StructArray):
            out["moderation_categories"] = _true_names(cats)
        if isinstance((scores := _field(om, "category_scores")), pa.StructArray):
            out["moderation_scores"] = _scores_map(scores)
        table = table.drop_columns("openai_moderation")
    if "detoxify_moderation" in table.column_names:
        detox = table.column("detoxify_moderation").combine_chunks()
        if isinstance(detox, pa.StructArray):
            out["detoxify_scores"] = _scores_map(detox)
        table = table.drop_columns("detoxify_moderation")
    for name in ("moderation_scores", "detoxify_scores"):
        if name in table.column_names:  # JSON rows: list<struct<key, value>>
            col = table.column(name).combine_chunks()
            entries = col.values
            out[name] = pa.MapArray.from_arrays(col.offsets, entries.field("key"), entries.field("value"),
                                                mask=col.is_null())
    for name in MODERATION:  # every column present, in contract order
        if name not in out:
            out[name] = table.column(name) if name in table.column_names else pa.nulls(table.num_rows, MODERATION_TYPES[name])
        if name in table.column_names:
            table = table.drop_columns(name)
        table = table.append_column(name, out[name])
    return table


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
                    pl.element().struct.field(f).cast(t)) if f in fields else pl.lit(None, dtype=t)
                for f, t in MESSAGE.to_schema().items()
            }
            cols.append(pl.col(name).list.eval(pl.struct(**parts)).alias(name))
        else:
            cols.append(pl.col(name).cast(dtype, strict=False).alias(name))
    n = pl.col("conversation").list.len()
    for name in ("openai_moderation", "detoxify_moderation"):  # kept only where aligned with the messages
        if name in schema and isinstance(schema[name], pl.List):
            cols.append(pl.when(pl.col(name).list.len() == n).then(pl.col(name)).alias(name))
    return df.select(*cols,
                     pl.int_range(first_row, first_row + df.height, dtype=pl.Int64).alias("source_row"),
                     problem.alias("problem"))


def check_parquet_schema(path: Path) -> None:
    names = pq.read_schema(path).names
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise FormatError(f"{path}: not a WildChat file (no column {', '.join(missing)})")


def read_wildchat_parquet(path: Path, batch_size: int) -> Iterator[Chunk]:
    check_parquet_schema(path)
    pf = pq.ParquetFile(path)
    keep = [c for c in (*PLAIN, "openai_moderation", "detoxify_moderation") if c in pf.schema_arrow.names]
    row, size, total = 0, path.stat().st_size, max(pf.metadata.num_rows, 1)
    for batch in pf.iter_batches(batch_size=batch_size, columns=keep):
        chunk = flatten(_normalize(pl.from_arrow(batch), row), lambda r: f"row {r}")
        row += batch.num_rows
        chunk.bytes_read = size * row // total  # for progress bars: rows done, scaled to bytes
        yield chunk


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
        except (ValueError, TypeError, OverflowError):
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
    except (ValueError, TypeError, OverflowError):
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
        **_json_moderation(value, len(messages)),
    }


def _pairs(d) -> list[dict] | None:
    if not isinstance(d, dict):
        return None
    return [{"key": k, "value": float(v)} for k, v in d.items() if isinstance(v, (int, float))]


def _json_moderation(value: dict, n: int) -> dict:
    """Per-message moderation lists, or None where the source's lists are missing or misaligned.

    Moderation is optional context, so a malformed one is left out rather
    than costing the conversation.
    """
    out = dict.fromkeys(MODERATION)
    openai, detox = value.get("openai_moderation"), value.get("detoxify_moderation")
    if isinstance(openai, list) and len(openai) == n and all(isinstance(m, dict) for m in openai):
        out["moderation_flagged"] = [m.get("flagged") if isinstance(m.get("flagged"), bool) else None for m in openai]
        out["moderation_categories"] = [
            [k for k, v in m["categories"].items() if v is True] if isinstance(m.get("categories"), dict) else None
            for m in openai]
        out["moderation_scores"] = [_pairs(m.get("category_scores")) for m in openai]
    if isinstance(detox, list) and len(detox) == n:
        out["detoxify_scores"] = [_pairs(m) for m in detox]
    return out


def rows_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=RAW)


# ---------------------------------------------------------------- both

def flatten(df: pl.DataFrame, locate) -> Chunk:
    """RAW rows -> a Chunk of conversations + messages; bad rows quarantined."""
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
    quarantined = [
        Quarantined(locate(r.pop("source_row")), r.pop("problem"), cap(json.dumps(r, default=str, ensure_ascii=False)))
        for r in bad.select("source_row", "problem", *PLAIN).to_dicts()
    ]
    conversations = good.select(
        pl.col("conversation_hash").alias("conversation_id"),
        pl.lit("wildchat").alias("source"),
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
    # Per-message lists (JSON rows: final values; Parquet: the source's structs) join on position.
    for name in [c for c in (*MODERATION, "openai_moderation", "detoxify_moderation") if c in good.columns]:
        per_message = (
            good.filter(pl.col(name).is_not_null())
            .select("source_row", pl.int_ranges(0, pl.col(name).list.len(), dtype=pl.Int64).alias("message_index"),
                    name)
            .explode(["message_index", name])
        )
        messages = messages.join(per_message, on=["source_row", "message_index"], how="left")
    return Chunk(conversations=conversations.to_arrow(), messages=_moderation_columns(messages.to_arrow()),
                 quarantined=quarantined)
