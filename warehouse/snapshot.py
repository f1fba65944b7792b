"""Parquet snapshots of the curated tables: what exports and audits read later."""
import json
from datetime import datetime, timezone
from pathlib import Path

from schemas.tables import STORED, VIEWS
from warehouse.home import snapshots


def write_snapshot(con, home: Path, run_id: str) -> Path:
    """Copy every table (and the turns view) to snapshots/<run_id>/<table>.parquet."""
    out = snapshots(home) / run_id
    tmp = out.with_name(out.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name in [*STORED, *VIEWS]:
        path = tmp / f"{name}.parquet"
        con.execute(f"COPY (SELECT * FROM {name}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
        counts[name] = con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()[0][0]
    manifest = {"run_id": run_id, "written_at": datetime.now(timezone.utc).isoformat(), "rows": counts}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    tmp.rename(out)  # a snapshot directory without ".partial" is complete
    return out
