"""Exports: training sets read from a warehouse snapshot, written as shards with a manifest.

    read rows (snapshot) -> prepare the new ones (scrub PII, repair prompts, sign) -> cache
    -> drop duplicates -> split by conversation -> shards

Rows a previous export prepared come from the cache (warehouse/exports/row_cache.py); only new or
changed rows are turned into Python dicts, scrubbed and signed. Dedup and the split read the
cache's light columns; the shards are then written from the row columns a window at a time, so an
export's memory does not grow with its size.
"""
from rmcurate.warehouse.exports.writer import ExportError, check_all_out, code_version, export

__all__ = ["ExportError", "check_all_out", "code_version", "export"]
