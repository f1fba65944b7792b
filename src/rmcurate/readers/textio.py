"""Byte-level reading that survives invalid UTF-8, truncated files and compression.

A text file may be gzip, bzip2 or zstd compressed: `open_source` tells by its first bytes, not its
name, and decompresses as it is read (never the whole file in memory or on disk). Data that stops
decompressing (a truncated or corrupt stream) ends the file there, and `broken` says why: what came
before still loads, and the reader reports the rest as one quarantine row.
"""
import bz2
import codecs
import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
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
        self.exhausted = False  # the source said end of file

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.bytes_read += len(data)
        self.exhausted = self.exhausted or not data
        return self._decoder.decode(data, final=not data).encode("utf-8")


UTF8_BOM = b"\xef\xbb\xbf"
MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\x28\xb5\x2f\xfd": "zstd"}


def compression(path: Path) -> str | None:
    """gzip, bzip2 or zstd, by the file's first bytes; None for a plain file."""
    with open(path, "rb") as f:
        head = f.read(4)
    return next((kind for magic, kind in MAGIC.items() if head.startswith(magic)), None)


class Decompressed(io.RawIOBase):
    """A decompressing stream that ends, instead of raising, where the compressed data breaks."""

    def __init__(self, stream, kind: str):
        self._stream, self.kind, self.error = stream, kind, None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.error:
            return 0
        try:
            data = self._stream.read(len(buffer))
        except Exception as e:  # noqa: BLE001 - EOFError, OSError, zstd's own: all mean the data stops here
            self.error = f"{self.kind} data ends early or is corrupt ({str(e).splitlines()[0] or type(e).__name__})"
            return 0
        buffer[:len(data)] = data
        return len(data)


@contextmanager
def open_source(path: Path):
    """The file's bytes as a buffered stream (with `peek`), decompressed when compressed; once read
    to the end, `broken(stream)` says whether decompression stopped early."""
    kind = compression(path)
    if kind is None:
        with open(path, "rb") as f:
            yield f
        return
    with open(path, "rb") as raw:
        if kind == "gzip":
            stream = gzip.GzipFile(fileobj=raw)
        elif kind == "bzip2":
            stream = bz2.BZ2File(raw)
        else:
            import zstandard

            stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        with io.BufferedReader(Decompressed(stream, kind), 1 << 16) as f:
            yield f


def broken(stream) -> str | None:
    """Why decompression stopped before the end, or None."""
    return getattr(stream.raw, "error", None)


def skip_bom(f) -> int:
    """Move a binary stream past a UTF-8 byte-order mark (Windows tools write one); its length."""
    if f.peek(3)[:3] == UTF8_BOM:
        f.read(3)
        return 3
    return 0


def iter_lines(path: Path, errors: list | None = None) -> Iterator[tuple[int, int, bytes]]:
    """(1-based line number, byte offset, raw line without newline), skipping blank lines. Offsets
    count decompressed bytes. `errors` receives the decompression error, if any, at the end."""
    with open_source(path) as f:
        offset = skip_bom(f)
        number = 0
        for number, line in enumerate(f, start=1):
            start, offset = offset, offset + len(line)
            stripped = line.strip()
            if stripped:
                yield number, start, stripped
        if (why := broken(f)) and errors is not None:
            errors.append((number + 1, offset, why))
