"""Owns every byte on disk: the DuckDB file, Parquet snapshots, quarantine."""
from warehouse.db import WarehouseError, connect
from warehouse.home import resolve_home
from warehouse.ingest import IngestResult, ingest_file

__all__ = ["IngestResult", "WarehouseError", "connect", "ingest_file", "resolve_home"]
