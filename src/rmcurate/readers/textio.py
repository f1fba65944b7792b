"""Byte-level reading that survives invalid UTF-8 and truncated files."""
import codecs
from collections.abc import Iterator
from pathlib import Path

# Invalid UTF-8 inside a JSON array is replaced by this noncharacter, so the
# stream keeps going and the record that held the bad bytes can be found and
# quarantined afterwards (a plain U+FFFD could be legitimate content).
BAD_BYTES_MARK = "\ufdd0"


def _mark(err: UnicodeDecodeError):
    return BAD_BYTES_MARK, err.end


codecs.register_error("rmcurate-mark", _mark)


class MarkedUtf8Reader:
    """A binary file object that re-encodes its input as valid UTF-8 for ijson."""

    def __init__(self, raw):
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="rmcurate-mark")
        self.bytes_read = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.bytes_read += len(data)
        return self._decoder.decode(data, final=not data).encode("utf-8")


UTF8_BOM = b"\xef\xbb\xbf"


def skip_bom(f) -> int:
    """Move a binary file past a UTF-8 byte-order mark (Windows tools write one); its length."""
    if f.read(3) == UTF8_BOM:
        return 3
    f.seek(0)
    return 0


def iter_lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(1-based line number, byte offset, raw line without newline), skipping blank lines."""
    with open(path, "rb") as f:
        offset = skip_bom(f)
        for number, line in enumerate(f, start=1):
            start, offset = offset, offset + len(line)
            stripped = line.strip()
            if stripped:
                yield number, start, stripped
