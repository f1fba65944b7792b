"""Contract of the `runs` table: one row per nightly run, joinable to Prefect's own records."""
from datetime import datetime

from pydantic import Field

from rmcurate.schemas.records import _Record


class NightlyRun(_Record):
    """Table `runs`: a nightly run, and the Prefect flow run that carried it."""

    run_id: str = Field(description="rmcurate's run id: the snapshot, export and model folder name")
    prefect_flow_run_id: str | None = Field(None, description="Prefect's flow-run id (`prefect flow-run inspect ID`)")
    prefect_flow_run_name: str | None = None
    prefect_deployment_id: str | None = Field(None, description="set when a deployment (schedule) started the run")
    started_at: datetime
    finished_at: datetime | None = None
    status: str = Field(description="running | completed | failed")
    failures: str | None = Field(None, description="the failed stages' messages, '; '-joined")
