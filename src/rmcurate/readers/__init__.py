"""Readers: files in, Arrow tables out, each format a module, detected by content. No DuckDB, no Prefect, no network.

`read` is not re-exported here: importing it loads every reader and polars, which the CLI's
start-up (and `rmcurate sql`) does not need. Import it from `rmcurate.readers.read`.
"""
from rmcurate.readers.chunk import Chunk, FormatError, Quarantined
from rmcurate.readers.detect import KINDS, Format, detect

__all__ = ["Chunk", "Format", "FormatError", "KINDS", "Quarantined", "detect"]
