"""One nightly run per home at a time.

The warehouse file has DuckDB's own lock, but a run lets go of it between tasks, so two runs
would interleave their stages. `nightly.lock` (an flock, freed by the kernel when the process
dies, so a crashed run never leaves it stuck) makes the second run stop at once and say who
holds the home.
The lock is re-entrant within a process: the CLI takes it before Prefect starts (so a second run
fails in a second, not after starting a server), and the flow it then runs takes it again.
"""
import fcntl
import os
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from rmcurate.warehouse.db import WarehouseError

_held: set[Path] = set()  # homes this process holds


class RunInProgress(WarehouseError):
    """Another nightly run holds this home."""


@contextmanager
def nightly_lock(home: Path):
    home.mkdir(parents=True, exist_ok=True)
    key = home.resolve()
    if key in _held:
        yield
        return
    path = home / "nightly.lock"
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = path.read_text().strip() or "unknown process"
            raise RunInProgress(f"another nightly run is using {home} ({holder}); this one did not start: "
                                "run again when it has finished") from None
        f.truncate(0)
        f.write(f"pid {os.getpid()}, started {datetime.now(UTC):%Y-%m-%d %H:%M:%S UTC}\n")
        f.flush()
        _held.add(key)
        try:
            yield
        finally:
            _held.discard(key)
            f.truncate(0)
            fcntl.flock(f, fcntl.LOCK_UN)
