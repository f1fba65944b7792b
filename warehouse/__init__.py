"""Owns every byte on disk: the DuckDB file, Parquet snapshots, quarantine.

The names below load on first use (PEP 562): opening the warehouse must not import the ingest
path (every reader, polars), which `rmcurate sql` and `status` do not need.
"""
import importlib

_WHERE = {"WarehouseBusy": "warehouse.db", "WarehouseError": "warehouse.db", "connect": "warehouse.db",
          "resolve_home": "warehouse.home", "IngestResult": "warehouse.ingest", "ingest_file": "warehouse.ingest",
          "ingest_path": "warehouse.ingest"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'warehouse' has no attribute {name!r}")
