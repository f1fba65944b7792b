"""Owns every byte on disk: the DuckDB file, Parquet snapshots, quarantine."""
from warehouse.db import WarehouseBusy, WarehouseError, connect
from warehouse.home import resolve_home
from warehouse.ingest import IngestResult, ingest_file, ingest_path

__all__ = ["IngestResult", "WarehouseBusy", "WarehouseError", "connect", "ingest_file", "ingest_path", "resolve_home"]
