"""Users during the night: a query while the label stage waits on a slow judge, and a second run."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from rmcurate.warehouse.runlock import nightly_lock

from benchmarks.fake_judge import serving
from conftest import write_json

RMCURATE = str(Path(sys.executable).parent / "rmcurate")
REPLY = "Here is a complete answer with more than ten words in it, as the filter requires."


def cli(home, *args, env=None, **kw):
    return subprocess.run([RMCURATE, "--home", str(home), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kw)


CONVS = [{"id": f"c{i}", "conversations": [
    {"from": "human", "value": "How do I sort a list in Python?"}, {"from": "gpt", "value": REPLY},
    {"from": "human", "value": f"can you also show the reverse order, case {i}"},
    {"from": "gpt", "value": "Use reverse=True."}]} for i in range(3)]
QUERY = ["sql", "select count(*) as n from conversations", "--format", "csv"]
NO_CUES = {"RMCURATE_LABEL_CUES": "false", "RMCURATE_LABEL_PREFILTER": "false"}


def slow_label(home, judge_url):
    """`rmcurate label` against a judge that takes 12 s a call: the stage holds the warehouse meanwhile."""
    return subprocess.Popen([RMCURATE, "--home", str(home), "label"],
                            env={**os.environ, "RMCURATE_JUDGE_URLS": judge_url, **NO_CUES},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def query_while_busy(home, label):
    """The first answer to QUERY given while the stage holds the warehouse, and how long it took."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and label.poll() is None:
        t0 = time.monotonic()
        r = cli(home, *QUERY, timeout=30)
        took = time.monotonic() - t0
        assert "Could not set lock" not in r.stderr, r.stderr  # never DuckDB's raw lock error
        if "busy" in r.stderr:  # the stage holds the file: the answer came from a snapshot or the stand-in
            return r, took
        # (a query that opened the file first made the stage's writer wait, up to RMCURATE_LOCK_WAIT_S)
        time.sleep(0.2)
    raise AssertionError(("the label stage never held the warehouse while a query ran", label.poll(),
                          label.stderr.read()[-2000:] if label.poll() is not None else ""))


def test_sql_answers_from_the_snapshot_while_the_label_stage_holds_the_warehouse(home, tmp_path):
    assert cli(home, "ingest", str(write_json(tmp_path / "c.json", CONVS[:2]))).returncode == 0
    with serving() as instant:  # a first labelling run, so the snapshot has a run to report
        assert cli(home, "label", env={"RMCURATE_JUDGE_URLS": instant, **NO_CUES}).returncode == 0
    assert cli(home, "snapshot").returncode == 0
    assert cli(home, "ingest", str(write_json(tmp_path / "c2.json", CONVS[2:]))).returncode == 0
    assert cli(home, *QUERY).stdout == "n\n3\n"
    with serving(delay_s=12) as slow:
        label = slow_label(home, slow)
        try:
            r, took = query_while_busy(home, label)
            assert label.poll() is None  # still waiting on the judge
            assert r.returncode == 0 and r.stdout == "n\n2\n" and took < 5, (r.stderr, took)
            assert r.stderr.count("\n") == 1 and "answered from snapshot" in r.stderr
            # the snapshot stand-in is as closed as the warehouse: no file outside the snapshot is read
            outside = cli(home, "sql", "select * from read_text('/etc/hostname')", timeout=30)
            assert "busy" in outside.stderr and outside.returncode == 1 and "Permission Error" in outside.stderr
            status = cli(home, "status", timeout=30)  # status too, from the same snapshot
            assert status.returncode == 0 and "answered from snapshot" in status.stderr, status.stderr[-2000:]
            assert re.search(r"conversations\s*│\s*2\b", status.stdout), status.stdout
            report = cli(home, "report", timeout=60)  # and the report, of the snapshot's last labelling run
            assert report.returncode == 0 and "answered from snapshot" in report.stderr, report.stderr[-2000:]
            assert "Feedback" in Path(report.stdout.strip()).read_text()
            assert label.poll() is None
        finally:
            out, errors = label.communicate(timeout=120)
    assert label.returncode == 0, errors[-2000:]
    assert "busy" not in cli(home, *QUERY).stderr  # the live warehouse again once the stage is done


def test_a_second_run_stops_at_once_and_says_who_holds_the_home(home):
    holder = subprocess.Popen([sys.executable, "-c", f"""
import time
from pathlib import Path
from rmcurate.warehouse.runlock import nightly_lock
with nightly_lock(Path({str(home)!r})):
    print("held", flush=True)
    time.sleep(60)
"""], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        r = cli(home, "run", str(home / "nothing.json"), timeout=120)
        assert r.returncode == 1 and time.monotonic() - t0 < 15, r.stderr[-2000:]  # no Prefect server started
        assert r.stderr.strip().splitlines()[-1].startswith("rmcurate: error: another nightly run is using")
        assert f"pid {holder.pid}" in r.stderr
    finally:
        holder.kill()
        holder.wait()
    assert not (home / "warehouse.duckdb").exists() or cli(home, "status").returncode == 0
    with nightly_lock(home):  # the kernel freed the dead holder's lock
        pass


def test_queries_answer_during_the_first_stage_of_a_home_never_snapshotted(home, tmp_path):
    """The README's own order (ingest, then label) with no snapshot yet: the stage writes a stand-in
    for readers before it holds the warehouse, and sql, status and report answer from it."""
    assert cli(home, "ingest", str(write_json(tmp_path / "c.json", CONVS))).returncode == 0
    assert not (home / "snapshots").exists()
    with serving(delay_s=12) as slow:
        label = slow_label(home, slow)
        try:
            r, took = query_while_busy(home, label)
            assert label.poll() is None  # still waiting on the judge
            assert r.returncode == 0 and r.stdout == "n\n3\n" and took < 5, (r.stderr, took)
            assert "the state before this stage began writing" in r.stderr and r.stderr.count("\n") == 1
            t0 = time.monotonic()
            status = cli(home, "status", timeout=30)
            assert status.returncode == 0 and time.monotonic() - t0 < 5, status.stderr[-2000:]
            assert "before this stage began writing" in status.stderr
            assert re.search(r"conversations\s*│\s*3\b", status.stdout), status.stdout
            # no labelling run has finished yet: the report says so in one line, from the same state
            report = cli(home, "report", timeout=30)
            assert report.returncode == 1 and "before this stage began writing" in report.stderr
            assert report.stderr.strip().splitlines()[-1] == \
                "rmcurate: error: no labelling run yet: run `rmcurate label` or `rmcurate run` first"
            assert label.poll() is None
        finally:
            out, errors = label.communicate(timeout=120)
    assert label.returncode == 0, errors[-2000:]
    assert not (home / "snapshots").exists()  # the stand-in is no snapshot: exports still ask for one
    assert cli(home, "export", "--format", "ordinal", "--out", str(tmp_path / "o")).returncode == 2
    assert cli(home, "snapshot").returncode == 0 and not (home / "standin").exists()  # a real one replaces it
