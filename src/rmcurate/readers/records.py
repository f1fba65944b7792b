"""Iterate the records of a JSON array, a JSONL file or a Parquet file.

Every record comes out once, either parsed (`value`) or with the `problem`
that stopped it; a truncated file ends with one problem record.
"""
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ijson
import pyarrow as pa
import pyarrow.parquet as pq

from rmcurate.readers.chunk import cap
from rmcurate.readers.textio import MarkedUtf8Reader, broken, iter_lines, open_source, skip_bom

LONE_SURROGATE_GATE = re.compile(r"\\u[dD][89a-fA-F]")


@dataclass
class RawRecord:
    row: int  # 0-based position in the file
    location: str
    value: object = None
    problem: str | None = None
    raw: str | None = None
    bytes_read: int = 0


def iter_jsonl(path: Path) -> Iterator[RawRecord]:
    errors: list = []
    for number, offset, line in iter_lines(path, errors):
        row = number - 1
        where = f"line {number} (byte {offset})"
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            where += f", bad byte at {offset + e.start}"
            yield RawRecord(row, where, problem="invalid UTF-8", raw=cap(line),
                            bytes_read=offset + len(line))
            continue
        value, problem = parse_json(text)
        if problem and text.endswith(","):  # a record followed by a comma, as when arrays are cut into lines
            value, problem = parse_json(text[:-1])
        yield RawRecord(row, where, value=value, problem=problem, raw=cap(text) if problem else None,
                        bytes_read=offset + len(line))
    for number, offset, why in errors:
        yield RawRecord(number - 1, f"line {number} (byte {offset})", problem=why, bytes_read=offset)


def parse_json(text: str) -> tuple[object, str | None]:
    """(value, None) or (None, why not): bad syntax, nesting past Python's recursion limit,
    or a lone UTF-16 surrogate escape ("\\ud800"), which no UTF-8 column can store."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        return None, f"not JSON: {e.msg}"
    except RecursionError:
        return None, "JSON nested too deep"
    if LONE_SURROGATE_GATE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return None, "lone UTF-16 surrogate escape (not valid Unicode)"
        except RecursionError:
            return None, "JSON nested too deep"
    return value, None


def iter_json_array(path: Path) -> Iterator[RawRecord]:
    """Stream the elements of a top-level JSON array (files of any size).

    ijson reads the file until the first syntax error; from there `salvage` splits the rest of
    the array into elements by brackets and quotes alone, so one broken record costs only itself.
    """
    size = path.stat().st_size
    row = 0  # records yielded so far
    with open_source(path) as f:
        skip_bom(f)
        src = MarkedUtf8Reader(f)
        try:
            for value in ijson.items(src, "item", use_float=True):
                yield RawRecord(row, f"record {row}", value=value, bytes_read=src.bytes_read)
                row += 1
            if why := broken(f):  # the array ended where the compressed data broke
                yield RawRecord(row, f"record {row} (byte {src.bytes_read})", problem=why, bytes_read=size)
            return
        except ijson.JSONError as e:
            error = str(e).splitlines()[0]
            at_eof, why, end = src.exhausted, broken(f), src.bytes_read
        except RecursionError:
            error, at_eof, why, end = "JSON nested too deep", False, None, src.bytes_read
    if at_eof and "premature EOF" in error:  # nothing after the break to salvage
        tail = None
        if why is None:
            with open(path, "rb") as f:
                f.seek(max(0, size - 2000))
                tail = f.read()
        yield RawRecord(row, f"record {row} (near byte {end})", problem=why or "truncated JSON (file ends inside a "
                        "record)", raw=cap(tail), bytes_read=size)
        return
    yield from salvage(path, row, f"malformed JSON: {error}")


# Outside a string, what changes the structure; inside one, what ends it or escapes.
BLOCK = 1 << 20  # bytes read at a time while splitting
_STRUCTURE = re.compile(rb'["\[\]{},]')
_IN_STRING = re.compile(rb'["\\]')


def split_array(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """(byte offset, raw bytes) of each top-level element of a JSON array, by brackets and
    quotes alone; the last element is (offset, None) where the file ends inside it."""
    depth, in_str, escape, base = 0, False, False, 0
    pieces: list[bytes] = []
    start = None  # offset where the current element began (after '[' or a top-level ',')
    with open_source(path) as f:
        base = skip_bom(f)
        while block := f.read(BLOCK):
            pos, cut = (1 if escape else 0), 0
            escape = False
            while True:
                m = (_IN_STRING if in_str else _STRUCTURE).search(block, pos)
                if m is None:
                    break
                c, pos = block[m.start()], m.end()
                if in_str:
                    if c == 0x5C:  # backslash: the next byte is escaped
                        if pos < len(block):
                            pos += 1
                        else:
                            escape = True
                    else:
                        in_str = False
                elif c == 0x22:
                    in_str = True
                elif c in b"[{":
                    depth += 1
                    if depth == 1:  # the array itself opens
                        start, cut = base + pos, pos
                elif c in b"]}" or (c == 0x2C and depth == 1):
                    if c != 0x2C:
                        depth -= 1
                    if depth == 0 or (c == 0x2C and depth == 1):
                        if start is not None:
                            pieces.append(block[cut:m.start()])
                            element = b"".join(pieces).strip()
                            if element:
                                yield start, element
                        pieces, start, cut = [], base + pos, pos
                        if depth == 0:
                            return
            if start is not None:
                pieces.append(block[cut:])
            base += len(block)
    rest = b"".join(pieces).strip()
    if rest:
        yield start, None


def salvage(path: Path, skip: int, why: str) -> Iterator[RawRecord]:
    """Records `skip` onward, each element parsed on its own; `why` is the first break's reason,
    given to the element that fails where the streaming parser failed."""
    size = path.stat().st_size
    for row, (offset, raw) in enumerate(split_array(path)):
        if row < skip:
            continue
        where = f"record {row} (byte {offset})"
        if raw is None:
            yield RawRecord(row, where, problem="truncated JSON (file ends inside a record)", bytes_read=size)
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield RawRecord(row, where, problem="invalid UTF-8 bytes in record", raw=cap(raw), bytes_read=offset)
            continue
        value, problem = parse_json(text)
        if problem and row == skip and problem.startswith("not JSON"):
            problem = why
        yield RawRecord(row, where, value=value, problem=problem, raw=cap(text) if problem else None,
                        bytes_read=offset + len(raw))


def iter_parquet(path: Path, batch_size: int = 10_000) -> Iterator[RawRecord]:
    """Rows of a Parquet file; a row group whose pages cannot be read is one problem record
    (its rows cannot be told apart), and the next row group is read as usual."""
    pf = pq.ParquetFile(path, pre_buffer=False)  # pre-buffering kept every batch read so far: RSS grew with the file
    row = 0
    for group in range(pf.num_row_groups):
        n = pf.metadata.row_group(group).num_rows
        try:
            batches = list(pf.iter_batches(batch_size=batch_size, row_groups=[group]))
        except (OSError, pa.ArrowException) as e:
            yield RawRecord(row, f"rows {row}-{row + n - 1} (row group {group})",
                            problem=f"unreadable Parquet data ({n} rows): {str(e).splitlines()[0]}")
            row += n
            continue
        for batch in batches:
            for value in batch.to_pylist():
                yield RawRecord(row, f"row {row}", value=value)
                row += 1


def iter_json_object(path: Path) -> Iterator[RawRecord]:
    """One JSON document (pretty-printed, say). An API page, `{"data": [...], ...}`, gives its items,
    streamed; any other object is one record."""
    row = 0
    with open_source(path) as f:
        skip_bom(f)
        src = MarkedUtf8Reader(f)
        try:
            for value in ijson.items(src, "data.item", use_float=True):
                yield RawRecord(row, f"data[{row}]", value=value, bytes_read=src.bytes_read)
                row += 1
        except ijson.JSONError as e:
            yield RawRecord(row, f"data[{row}] (byte {src.bytes_read})", problem=f"malformed JSON: {str(e).splitlines()[0]}",
                            bytes_read=src.bytes_read)
            return
        except RecursionError:
            yield RawRecord(row, f"data[{row}]", problem="JSON nested too deep", bytes_read=src.bytes_read)
            return
        if why := broken(f):
            yield RawRecord(row, f"data[{row}] (byte {src.bytes_read})", problem=why, bytes_read=src.bytes_read)
            return
    if row:
        return
    with open_source(path) as f:
        skip_bom(f)
        try:
            value = next(ijson.items(MarkedUtf8Reader(f), "", use_float=True))
        except (ijson.JSONError, StopIteration) as e:
            yield RawRecord(0, "document", problem=f"malformed JSON: {str(e).splitlines()[0] if str(e) else 'empty'}")
            return
        except RecursionError:
            yield RawRecord(0, "document", problem="JSON nested too deep")
            return
    if not (isinstance(value, dict) and isinstance(value.get("data"), list)):  # an empty page holds nothing
        yield RawRecord(0, "document", value=value)


def first_of_object(path: Path, limit: int = 100_000):
    """The first record of a one-document JSON file (see iter_json_object), or None when the file is not
    one JSON object; reads at most `limit` parser events of it."""
    keys, item = set(), None
    with open_source(path) as f:
        skip_bom(f)
        try:
            for n, (prefix, event, value) in enumerate(ijson.parse(MarkedUtf8Reader(f), use_float=True)):
                if n >= limit:
                    break
                if prefix == "" and event == "map_key":
                    keys.add(value)
                elif prefix == "data.item" and event == "map_key":
                    item = (item or set()) | {value}
                elif prefix == "data.item" and event == "end_map":
                    return dict.fromkeys(item or ())
                elif prefix == "" and event == "end_map":
                    break
        except (ijson.JSONError, RecursionError):
            return None
    return dict.fromkeys(keys) if keys else None


CSV_SNIFF = 8192


def _csv_value(text: str):
    """A CSV cell: JSON objects and arrays (an export's nested properties) are parsed, the rest kept as text."""
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text if text != "" else None


def _csv_row(header: list[str], cells: list[str]) -> dict:
    """Columns `a.b` (a flattened export: PostHog's `properties.$ai_input`) nest back into `{a: {b: ...}}`."""
    row: dict = {}
    for name, cell in zip(header, cells):
        value = _csv_value(cell)
        head, dot, rest = name.partition(".")
        if dot and head and rest:
            row.setdefault(head, {})
            if isinstance(row[head], dict):
                row[head][rest] = value
        else:
            row[name] = value
    return row


def iter_csv(path: Path) -> Iterator[RawRecord]:
    """Rows of a CSV file with a header (click logs, analytics exports), as dicts."""
    with open_source(path) as f:
        skip_bom(f)
        text = io.TextIOWrapper(f, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return
        for n, cells in enumerate(reader):
            where = f"line {reader.line_num}"
            if not any(cells):
                continue
            if len(cells) != len(header):
                yield RawRecord(n, where, problem=f"{len(cells)} cells where the header has {len(header)}",
                                raw=cap(",".join(cells)))
                continue
            yield RawRecord(n, where, value=_csv_row(header, cells))


def first_csv_record(path: Path) -> dict | None:
    """The first row of a CSV file (as `iter_csv` reads it) when the head looks like one: a header of
    several names and a first row of as many cells (quoted cells may hold commas and newlines); else None."""
    with open_source(path) as f:
        skip_bom(f)
        head = f.read(CSV_SNIFF)
    text = head.decode("utf-8", errors="replace")  # the sniff may cut a character in two
    if "\x00" in text:
        return None  # binary
    try:
        rows = list(zip(range(2), csv.reader(io.StringIO(text))))
    except csv.Error:
        return None
    if len(rows) < 2:
        return None
    header, first = rows[0][1], rows[1][1]
    if len(header) < 2 or len(first) != len(header) or not all(
            0 < len(h) <= 200 and not any(c in h for c in '"{}[]\x00') for h in header):
        return None
    return _csv_row(header, first)


def iter_records(path: Path, container: str) -> Iterator[RawRecord]:
    return {"json": iter_json_array, "jsonl": iter_jsonl, "parquet": iter_parquet,
            "object": iter_json_object, "csv": iter_csv}[container](path)
