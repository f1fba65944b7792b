"""Pure transforms: files in, Arrow tables out. No DuckDB, no Prefect, no network.

`read` is not re-exported here: importing it loads every reader and polars, which the CLI's
start-up (and `rmcurate sql`) does not need. Import it from `extractors.read`.
"""
from extractors.chunk import Chunk, FormatError, Quarantined
from extractors.detect import KINDS, Format, detect

__all__ = ["Chunk", "Format", "FormatError", "KINDS", "Quarantined", "detect"]
