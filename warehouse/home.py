"""Where the warehouse lives: $RMCURATE_HOME, default ./data."""
import os
from pathlib import Path


def resolve_home(override: str | Path | None = None) -> Path:
    home = Path(override or os.environ.get("RMCURATE_HOME") or "data")
    return home.expanduser().resolve()


def db_path(home: Path) -> Path:
    return home / "warehouse.duckdb"


def inbox(home: Path) -> Path:
    return home / "inbox"


def snapshots(home: Path) -> Path:
    return home / "snapshots"
