"""Iterate the records of a JSON array, a JSONL file or a Parquet file.

Every record comes out once, either parsed (`value`) or with the `problem`
that stopped it; a truncated file ends with one problem record.
"""
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ijson
import pyarrow.parquet as pq

from extractors.chunk import cap
from extractors.textio import MarkedUtf8Reader, iter_lines


@dataclass
class RawRecord:
    row: int  # 0-based position in the file
    location: str
    value: object = None
    problem: str | None = None
    raw: str | None = None
    bytes_read: int = 0


def iter_jsonl(path: Path) -> Iterator[RawRecord]:
    for number, offset, line in iter_lines(path):
        row = number - 1
        where = f"line {number} (byte {offset})"
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            where += f", bad byte at {offset + e.start}"
            yield RawRecord(row, where, problem="invalid UTF-8", raw=cap(line),
                            bytes_read=offset + len(line))
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            yield RawRecord(row, where, problem=f"not JSON: {e.msg}", raw=cap(text),
                            bytes_read=offset + len(line))
            continue
        yield RawRecord(row, where, value=value, raw=None, bytes_read=offset + len(line))


def iter_json_array(path: Path) -> Iterator[RawRecord]:
    """Stream the elements of a top-level JSON array (files of any size)."""
    size = path.stat().st_size
    row = 0  # records yielded so far
    with open(path, "rb") as f:
        src = MarkedUtf8Reader(f)
        try:
            for value in ijson.items(src, "item", use_float=True):
                yield RawRecord(row, f"record {row}", value=value, bytes_read=src.bytes_read)
                row += 1
            return
        except ijson.JSONError as e:
            error = str(e).splitlines()[0]
            at_eof = src.bytes_read >= size
            f.seek(max(0, min(src.bytes_read, size) - 2000))
            tail = f.read(2000)
    what = "truncated JSON (file ends inside a record)" if at_eof and "premature EOF" in error \
        else f"malformed JSON: {error}"
    yield RawRecord(row, f"record {row} (near byte {min(src.bytes_read, size)})", problem=what,
                    raw=cap(tail), bytes_read=size)


def iter_parquet(path: Path, batch_size: int = 10_000) -> Iterator[RawRecord]:
    pf = pq.ParquetFile(path, pre_buffer=False)  # pre-buffering kept every batch read so far: RSS grew with the file
    row = 0
    for batch in pf.iter_batches(batch_size=batch_size):
        for value in batch.to_pylist():
            yield RawRecord(row, f"row {row}", value=value)
            row += 1


def iter_records(path: Path, container: str) -> Iterator[RawRecord]:
    return {"json": iter_json_array, "jsonl": iter_jsonl, "parquet": iter_parquet}[container](path)
