"""One entry point: a file and its format in, Chunks out."""
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from rmcurate.readers.chunk import CONVERSATIONS, EVENTS, MESSAGES, BadRecord, Chunk, Quarantined, cap
from rmcurate.readers.detect import Format
from rmcurate.readers.events import parse_event
from rmcurate.readers.langfuse import read_langfuse
from rmcurate.readers.logs import CALL_KINDS, FEEDBACK_KINDS, read_calls
from rmcurate.readers.openai import parse_anthropic, parse_openai
from rmcurate.readers.otel import read_otel
from rmcurate.readers.records import iter_records
from rmcurate.readers.sharegpt import parse_sharegpt
from rmcurate.readers.wildchat import flatten, normalize_json_row, read_wildchat_parquet, rows_frame


def read(path: Path, fmt: Format, batch_size: int = 20_000,
         feedback_names: dict[str, str] | None = None) -> Iterator[Chunk]:
    """Chunks of about `batch_size` records, in file order. `feedback_names`: trace exports' feedback
    names -> event kinds (readers/otel.py has the defaults)."""
    if fmt.kind == "empty":
        return iter(())
    if fmt.kind == "otel":
        return read_otel(path, fmt.container, batch_size, feedback_names)
    if fmt.kind == "langfuse":
        return read_langfuse(path, fmt.container, feedback_names)
    if fmt.kind in CALL_KINDS or fmt.kind in FEEDBACK_KINDS:
        return read_calls(path, fmt.container, fmt.kind, feedback_names, batch_size)
    if fmt.kind in ("wildchat", "lmsys") and fmt.container == "parquet":
        return read_wildchat_parquet(path, batch_size, fmt.kind)
    return _read_records(path, fmt, batch_size)


def _read_records(path: Path, fmt: Format, batch_size: int) -> Iterator[Chunk]:
    parse = {"sharegpt": parse_sharegpt, "openai": parse_openai, "anthropic": parse_anthropic,
             "wildchat": _wildchat_row, "lmsys": _lmsys_row, "events": _event_row}[fmt.kind]
    good, extra, bad, pos = [], [], [], 0
    for rec in iter_records(path, fmt.container):
        pos = rec.bytes_read or pos
        if rec.problem:
            bad.append(Quarantined(rec.location, rec.problem, rec.raw))
        else:
            try:
                row, more = parse(rec.value, rec.row)
                good.append(row)
                extra.extend(more)
            except (BadRecord, ValueError) as e:
                bad.append(Quarantined(rec.location, str(e), _raw(rec.value)))
            except RecursionError:
                bad.append(Quarantined(rec.location, "JSON nested too deep", None))
        if len(good) + len(bad) >= batch_size:
            yield _chunk(fmt, good, extra, bad, pos)
            good, extra, bad = [], [], []
    if good or bad:
        yield _chunk(fmt, good, extra, bad, pos)


def _wildchat_row(value, row):
    return {**normalize_json_row(value), "source_row": row, "problem": None}, ()


def _lmsys_row(value, row):
    if isinstance(value, dict) and "conversation_hash" not in value:
        if value.get("conversation_id") is None:
            raise BadRecord("missing field: conversation_id")
        value = {**value, "conversation_hash": value["conversation_id"]}
    return _wildchat_row(value, row)


def _event_row(value, row):
    return parse_event(value), ()


def _chunk(fmt: Format, good: list, extra: list, bad: list, pos: int) -> Chunk:
    if fmt.kind == "events":
        return Chunk(events=pa.Table.from_pylist(good, schema=EVENTS), quarantined=bad, bytes_read=pos)
    if fmt.kind in ("wildchat", "lmsys"):
        chunk = flatten(*rows_frame(good), lambda r: f"line {r + 1}" if fmt.container == "jsonl" else f"record {r}",
                        fmt.kind)
        chunk.quarantined = bad + chunk.quarantined
        chunk.bytes_read = pos
        return chunk
    return Chunk(conversations=columnar(good, CONVERSATIONS), messages=columnar(extra, MESSAGES), quarantined=bad,
                 bytes_read=pos)


def columnar(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Rows (dicts that may leave out nullable columns) as a table, built column by column and only for the
    columns some row has (a chat record's messages fill 5 of the table's 20): faster than from_pylist."""
    present = set().union(*(r.keys() for r in rows)) if rows else set()
    return pa.table({f.name: pa.array([r.get(f.name) for r in rows], f.type) if f.name in present
                     else pa.nulls(len(rows), f.type) for f in schema}, schema=schema)


def _raw(value) -> str | None:
    try:
        return cap(json.dumps(value, ensure_ascii=False, default=str))
    except RecursionError:
        return "(nested too deep to show)"
