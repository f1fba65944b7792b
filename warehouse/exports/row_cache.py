"""Prepared export rows kept from one export to the next, so a night's export costs what is new.

A prepared row is a source row scrubbed of PII, with its user id pseudonymised, its
prompt repaired or its drop reason, its dedup key and MinHash signature. It depends
only on the source row (keyed by the MD5 of the row, warehouse/exports/rows.py), on
the code that prepares it and on the warehouse's salt: the folder's name is a hash of
those, so a code change starts an empty cache instead of reusing stale rows.

    cache/exports/<format>-<version>/part-<uuid>.parquet   one part per export that met new rows

Columns: the format's row columns (schemas/exports.py) and `_key`, `_conversations`,
`_label`, `_drop`, `_repair`, `_exact`, `_sig`. An export holds the cache's lock for
its length, so two exports at once never write the same folder together.
"""
import fcntl
import hashlib
import shutil
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from extractors.export.dedup import N_PERM

SIG = pa.binary(N_PERM * 4)  # a signature's uint32 values, as bytes
EXTRA = pa.schema([("_key", pa.string()), ("_conversations", pa.list_(pa.string())), ("_label", pa.string()),
                   ("_drop", pa.string()), ("_repair", pa.string()), ("_exact", pa.string()), ("_sig", SIG)])
MAX_PARTS = 16  # more parts than this, or twice the rows in use, and the cache is rewritten as one part


def cache_root(home: Path) -> Path:
    return home / "cache" / "exports"


def version(fmt: str, user_salt: bytes, sources: list[Path]) -> str:
    """A hash of the format, the salt and the source files of the code that prepares a row."""
    h = hashlib.sha256(fmt.encode() + b"\x00" + user_salt)
    for path in sorted(sources):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def sig_column(sigs: np.ndarray) -> pa.Array:
    sigs = np.ascontiguousarray(sigs, dtype=np.uint32)
    return pa.FixedSizeBinaryArray.from_buffers(SIG, len(sigs), [None, pa.py_buffer(sigs.tobytes())])


def sig_matrix(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(arr) == 0:
        return np.empty((0, N_PERM), dtype=np.uint32)
    return np.frombuffer(arr.buffers()[1], dtype=np.uint32, count=len(arr) * N_PERM,
                         offset=arr.offset * N_PERM * 4).reshape(len(arr), N_PERM)


class RowCache:
    """`with RowCache(folder) as cache`: cache.keys, cache.add(table), cache.take(keys)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.keys: set[str] = set()
        self.removed: list[str] = []  # parts that could not be read, and were deleted
        self._lock = None

    def __enter__(self) -> "RowCache":
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in self.folder.parent.iterdir():  # caches of older code or another salt are never read again
            if stale != self.folder and stale.name.split("-")[0] == self.folder.name.split("-")[0]:
                shutil.rmtree(stale, ignore_errors=True)
        self._lock = open(self.folder / ".lock", "w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        # Keys only here; `take` reads the rows once the source query's table is gone, so the two
        # are never in memory together (about 700 MB each for 100k ordinal rows).
        for part in self.parts():
            try:
                self.keys.update(pq.read_table(part, columns=["_key"])["_key"].to_pylist())
            except (pa.ArrowInvalid, OSError):  # a damaged part is only a cache: its rows are prepared again
                part.unlink()
                self.removed.append(part.name)
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()

    def parts(self) -> list[Path]:
        return sorted(self.folder.glob("part-*.parquet"))

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._write(table)
        self.keys.update(table["_key"].to_pylist())

    def _write(self, table: pa.Table) -> Path:
        path = self.folder / f"part-{uuid.uuid4().hex}.parquet"
        tmp = path.with_suffix(".partial")
        pq.write_table(table, tmp, compression="zstd")
        tmp.rename(path)  # a part is whole or absent
        return path

    def take(self, keys: list[str]) -> pa.Table:
        """The prepared rows of `keys`, in that order; then, when the cache has grown loose, it keeps
        just these rows."""
        parts = self.parts()
        if not parts:
            raise KeyError("the export cache is empty")
        # one chunk first: `take` across chunks of nested lists was 6x slower
        stored = pa.concat_tables([pq.read_table(p) for p in parts], promote_options="none").combine_chunks()
        where = pc.index_in(pa.array(keys, pa.string()), value_set=stored["_key"])
        if where.null_count:
            raise KeyError(f"{where.null_count} rows are missing from the export cache {self.folder}")
        table = stored.take(where).combine_chunks()
        if len(parts) > MAX_PARTS or stored.num_rows > 2 * max(len(keys), 1000):
            self._write(table)
            for p in parts:
                p.unlink()
            self.keys = set(keys)
        return table
