"""Owns every byte on disk: the DuckDB file, Parquet snapshots, quarantine.

The names below load on first use (PEP 562): opening the warehouse must not import the ingest
path (every reader, polars), which `rmcurate sql` and `status` do not need.
"""
import importlib

_WHERE = {"WarehouseBusy": "rmcurate.warehouse.db", "WarehouseError": "rmcurate.warehouse.db",
          "connect": "rmcurate.warehouse.db", "resolve_home": "rmcurate.warehouse.home",
          "IngestResult": "rmcurate.warehouse.ingest", "ingest_file": "rmcurate.warehouse.ingest",
          "ingest_path": "rmcurate.warehouse.ingest"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'rmcurate.warehouse' has no attribute {name!r}")
