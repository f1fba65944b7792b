"""Where the warehouse lives: $RMCURATE_HOME, default ./data."""
import os
import secrets
import shutil
from pathlib import Path

from rmcurate.settings import WarehouseSettings


def resolve_home(override: str | Path | None = None) -> Path:
    home = Path(override or WarehouseSettings().home)
    return home.expanduser().resolve()


def db_path(home: Path) -> Path:
    return home / "warehouse.duckdb"


def inbox(home: Path) -> Path:
    return home / "inbox"


def snapshots(home: Path) -> Path:
    return home / "snapshots"


def standin(home: Path) -> Path:
    """Readers' stand-in on a home with no snapshot yet: the state before its stage began writing
    (warehouse/snapshot.py `snapshot_for_readers`). Never an export's source."""
    return home / "standin"


def latest_snapshot(home: Path) -> str | None:
    """The newest complete snapshot's run id (a folder still named *.partial is being written)."""
    root = snapshots(home)
    done = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.endswith(".partial")) \
        if root.exists() else []
    return done[-1] if done else None


def salt(home: Path) -> bytes:
    """This warehouse's secret salt for pseudonymising user ids in exports, made on first use."""
    path = home / "salt"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".partial")
        tmp.write_bytes(secrets.token_bytes(32))
        tmp.chmod(0o600)
        tmp.replace(path)  # two exports at once: both end with one salt, never a half-written one
    return path.read_bytes()


def link_or_copy(source: Path, target: Path) -> None:
    """Share a file that is written once and then only read (a snapshot part, an export shard)."""
    try:
        os.link(source, target)
    except OSError:  # another file system: a copy is still correct
        shutil.copy2(source, target)
