"""Tell a file's format from its content, not its name."""
import json
from dataclasses import dataclass
from pathlib import Path

import ijson
import pyarrow.parquet as pq

from extractors.chunk import FormatError

KINDS = ("wildchat", "sharegpt", "events")


@dataclass(frozen=True)
class Format:
    kind: str  # wildchat | sharegpt | events | empty
    container: str  # parquet | json | jsonl | empty

    @property
    def name(self) -> str:
        return self.kind if self.kind == "empty" else f"{self.kind}-{self.container}"


def kind_of(keys) -> str | None:
    keys = set(keys)
    if {"conversation_hash", "conversation"} & keys:
        return "wildchat"
    if "conversations" in keys:
        return "sharegpt"
    if {"event", "ts"} <= keys:
        return "events"
    return None


def _first_text_record(path: Path) -> tuple[str, object]:
    with open(path, "rb") as f:
        head = f.read(65536).lstrip(b"\xef\xbb\xbf \t\r\n")
        if head.startswith(b"["):
            f.seek(0)
            try:
                return "json", next(ijson.items(f, "item"), None)
            except ijson.JSONError:
                return "json", None
        if head.startswith(b"{"):
            f.seek(0)
            for line in f:
                if line.strip():
                    try:
                        return "jsonl", json.loads(line)
                    except ValueError:
                        return "jsonl", None
    return "unknown", None


def detect(path: Path, kind: str | None = None) -> Format:
    """The file's format; `kind` forces wildchat/sharegpt/events. Raises FormatError."""
    if kind is not None and kind not in KINDS:
        raise FormatError(f"unknown --format {kind!r}: choose one of {', '.join(KINDS)}")
    if path.stat().st_size == 0:
        return Format("empty", "empty")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"PAR1":
        container = "parquet"
        try:
            found = kind_of(pq.read_schema(path).names)
        except Exception as e:  # noqa: BLE001 - any reader error means "not readable Parquet"
            raise FormatError(f"{path}: unreadable Parquet file ({e})") from None
    else:
        container, first = _first_text_record(path)
        if container == "unknown":
            raise FormatError(f"{path}: unrecognized format (not Parquet, a JSON array or JSON lines)")
        found = kind_of(first) if isinstance(first, dict) else None
    if kind is None and found is None:
        raise FormatError(f"{path}: cannot tell whether this {container} file holds wildchat, sharegpt "
                          "or events records; use --format")
    return Format(kind or found, container)
