"""The `runs` table: when each nightly run started and ended, and which Prefect flow run it was."""
from datetime import datetime, timezone

from rmcurate.schemas.runs import NightlyRun
from rmcurate.schemas.tables import TABLES
from rmcurate.warehouse.feedback import insert_models


def start_run(con, run_id: str, flow_run_id: str | None = None, flow_run_name: str | None = None,
              deployment_id: str | None = None) -> None:
    insert_models(con, TABLES.runs, [NightlyRun(
        run_id=run_id, prefect_flow_run_id=flow_run_id, prefect_flow_run_name=flow_run_name,
        prefect_deployment_id=deployment_id, started_at=datetime.now(timezone.utc), status="running")])


def finish_run(con, run_id: str, failures: list[str]) -> None:
    con.execute(f"UPDATE {TABLES.runs} SET finished_at = ?, status = ?, failures = ? WHERE run_id = ?",
                [datetime.now(timezone.utc), "failed" if failures else "completed",
                 "; ".join(failures) or None, run_id])
