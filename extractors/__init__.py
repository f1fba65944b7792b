"""Pure transforms: files in, Arrow tables out. No DuckDB, no Prefect, no network."""
from extractors.chunk import Chunk, FormatError, Quarantined
from extractors.detect import KINDS, Format, detect
from extractors.read import read

__all__ = ["Chunk", "Format", "FormatError", "KINDS", "Quarantined", "detect", "read"]
