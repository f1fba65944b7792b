"""The nightly's exports: every format from the run's snapshot, into exports/<run_id>/."""
from pathlib import Path

from rmcurate.schemas.exports import FORMATS
from rmcurate.settings import TrainSettings


def export_all(home: Path, run_id: str, settings: TrainSettings | None = None, sign=None) -> dict[str, dict]:
    """exports/<run_id>/<format> for every format, read from snapshot <run_id>; `sign`: the MinHash
    signer (by default in this process)."""
    from rmcurate.rules.export.dedup import signatures
    from rmcurate.warehouse import connect
    from rmcurate.warehouse.exports import export

    s = settings or TrainSettings()
    con = connect(home)
    try:
        return {fmt: export(con, home, fmt, home / "exports" / run_id / fmt, snapshot=run_id, seed=s.seed,
                            test_fraction=s.test_fraction, sign=sign or signatures).model_dump(mode="json")
                for fmt in FORMATS}
    finally:
        con.close()
