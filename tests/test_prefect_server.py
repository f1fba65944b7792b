"""The nightly as a Prefect deployment: a real `prefect server start` on loopback, `rmcurate deploy`
serving the flow on a cron schedule, a triggered run, and Prefect's own CLI reading it all back."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rmcurate.stages.sources import simulated_events_file
from rmcurate.warehouse import connect

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := check()):
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {proc.returncode}")
        time.sleep(1)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def prefect_server(tmp_path):
    """A Prefect server of its own (own PREFECT_HOME, own SQLite) on a free loopback port."""
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_LOGGING_LEVEL": "INFO"}
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)

    def healthy():
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, 120, "prefect server start", proc)
        yield env
    finally:
        stop(proc)
        log.close()


def prefect(env, *args) -> str:
    r = subprocess.run([BIN / "prefect", *args], env={**env, "COLUMNS": "250"}, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"prefect {' '.join(args)}: {r.stdout}\n{r.stderr}"
    return r.stdout


def test_the_nightly_deploys_on_a_cron_schedule_runs_and_is_listed_by_prefects_own_cli(prefect_server, tmp_path):
    env, home = prefect_server, tmp_path / "home"
    api = env["PREFECT_API_URL"]
    # What Prefect's CLI and UI send; fastapi >= 0.151 answered 422 to the explicit null.
    r = httpx.post(f"{api}/deployments/filter", json={"limit": None, "offset": None, "sort": None}, timeout=10)
    assert r.status_code == 200, r.text
    assert "<html" in httpx.get(api.removesuffix("/api") + "/", timeout=10).text.lower()  # the UI's page

    # A night with no judge work: an event log only, training off (both are tested elsewhere).
    events = simulated_events_file(tmp_path / "src", 20)
    log = open(tmp_path / "deploy.log", "wb")
    worker = subprocess.Popen([BIN / "rmcurate", "--home", str(home), "deploy", "--cron", "0 3 * * *", str(events)],
                              env={**env, "RMCURATE_TRAIN_ENABLED": "false"}, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "nightly/rmcurate-nightly" in prefect(env, "deployment", "ls"), 90, "deployment listed",
                 worker)
        schedule = prefect(env, "deployment", "inspect", "nightly/rmcurate-nightly")
        assert "0 3 * * *" in schedule and "UTC" in schedule

        prefect(env, "deployment", "run", "nightly/rmcurate-nightly")

        def finished():
            rows = httpx.post(f"{api}/flow_runs/filter", json={"limit": None}, timeout=10).json()
            done = [r for r in rows if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED")]
            return done[0] if done else None

        run = wait_for(finished, 240, "the triggered run finishing", worker)
    finally:
        stop(worker)
        log.close()
    assert run["state_type"] == "COMPLETED", (tmp_path / "deploy.log").read_text()[-3000:]
    assert run["id"] in prefect(env, "flow-run", "ls")
    assert "exports" in prefect(env, "artifact", "ls")  # the run's table artifacts, browsable

    con = connect(home)
    try:
        got = con.execute("SELECT prefect_flow_run_id, prefect_deployment_id, status, finished_at IS NOT NULL "
                          "FROM runs").fetchall()
    finally:
        con.close()
    assert got == [(run["id"], run["deployment_id"], "completed", True)]
    assert json.loads(json.dumps(run["parameters"]))["home"] == str(home)


HOLD_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.mark.parametrize("retries", [3, 0])
def test_a_nightly_task_waits_out_another_writer_with_backoff(tmp_path, monkeypatch, retries):
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from rmcurate.flows.nightly import nightly
    from rmcurate.warehouse import WarehouseBusy
    from rmcurate.warehouse.home import db_path

    home = tmp_path / "home"
    connect(home).close()
    events = simulated_events_file(tmp_path / "src", 20)
    monkeypatch.setenv("RMCURATE_TRAIN_ENABLED", "false")
    monkeypatch.setenv("RMCURATE_FLOW_RETRIES", str(retries))
    monkeypatch.setenv("RMCURATE_FLOW_RETRY_DELAY_S", "1")  # then 2, 4: past the 3 s the other writer holds
    monkeypatch.setenv("RMCURATE_LOCK_WAIT_S", "0")  # the task's retries under test, not connect's own wait
    flow(lambda: None, name="warm-up")()  # the ephemeral API starts here, not while the lock is held
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db_path(home)), "3"], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"held\n"
        state = nightly(home=str(home), sources=[str(events)], return_state=True)
    finally:
        holder.wait()
    if not retries:
        with pytest.raises(WarehouseBusy, match="lock"):
            state.result()
        return
    result = state.result()
    assert [r["status"] for r in result["ingests"]] == ["loaded"]
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    ingest = [r for r in runs if r.name.startswith("ingest")]
    assert len(ingest) == 1 and ingest[0].run_count > 1  # failed on the lock, retried, loaded
