"""A judge that hangs or fails must not hold a night hostage: decided turns are written before any
call, a stage deadline bounds the wait, and a stage that fails too many calls exits non-zero."""
import os
import subprocess
import sys
import time
from pathlib import Path

from rmcurate.judges.cache import CachedJudge
from rmcurate.judges.vllm_http import HttpJudge
from rmcurate.prompts.templates import load
from rmcurate.warehouse import connect
from rmcurate.warehouse.judge_calls import DuckCallStore

from conftest import rows, write_json
from faults import Hanging

RMCURATE = str(Path(sys.executable).parent / "rmcurate")
REPLY = "Here is a complete answer with more than ten words in it, as the filter requires."


def conversation(i: int, feedback: str) -> dict:
    return {"id": f"c{i}", "conversations": [
        {"from": "human", "value": f"How do I sort list number {i} in Python?"}, {"from": "gpt", "value": REPLY},
        {"from": "human", "value": feedback}, {"from": "gpt", "value": "Sure."}]}


def test_the_deadline_ends_a_batch_against_a_hanging_endpoint(con):
    hanging = Hanging()
    judge = CachedJudge(HttpJudge([hanging.url], "m", timeout_s=60, retries=3, deadline_s=1.5), DuckCallStore(con))
    t = load("feedback_choice")
    requests = [t.render(prompt=f"question {i}", response=REPLY, feedback="and in reverse?") for i in range(5)]
    t0 = time.monotonic()
    try:
        results = judge.run(requests)
    finally:
        hanging.close()
    assert time.monotonic() - t0 < 10  # not 60 s x 4 attempts
    assert [r.status for r in results] == ["failed"] * 5
    assert all(r.error.startswith("stage deadline of 1.5 s reached") for r in results)
    assert rows(con, "SELECT count(*) FROM judge_calls WHERE status = 'failed'") == [(5,)]  # asked again next run
    assert judge.counts.failure("label", 0.5) == \
        "label: 5 of 5 judge calls failed (5 x stage deadline of 1.5 s reached (in flight or waiting to retry))"
    assert judge.counts.failure("label", 1.0) is None


def ingested(home, tmp_path, **settings) -> dict:
    """Three follow-ups only the judge can settle and two the feedback-length filter drops; the env to label them."""
    path = write_json(tmp_path / "chats.json", [
        conversation(0, "can you rewrite it with a loop instead of the builtin please"),
        conversation(1, "what about sorting it in reverse order without a new list"),
        conversation(2, "and how would this work for a list of dictionaries by key"),
        conversation(3, "ok sure"), conversation(4, "next one")])
    env = {**os.environ, "RMCURATE_HOME": str(home), "RMCURATE_LABEL_UNDECIDED": "judge",
           "RMCURATE_LABEL_REFUSAL_CHECK": "false", "RMCURATE_JUDGE_MODEL": "m", "RMCURATE_JUDGE_TIMEOUT_S": "60",
           **settings}
    subprocess.run([RMCURATE, "ingest", str(path)], check=True, capture_output=True, env=env)
    return env


def filtered(home) -> list:
    con = connect(home, read_only=True)
    try:
        return rows(con, "SELECT drop_step, count(*) FROM feedback_labels GROUP BY 1")
    finally:
        con.close()


def test_turns_the_filters_settled_are_stored_before_any_judge_call(home, tmp_path):
    env = ingested(home, tmp_path, RMCURATE_JUDGE_STAGE_DEADLINE_S="600")
    hanging = Hanging()
    label = subprocess.Popen([RMCURATE, "label"], env={**env, "RMCURATE_JUDGE_URLS": hanging.url},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while hanging.accepted < 3 and time.monotonic() < deadline:  # the judge calls hang in flight
            time.sleep(0.2)
        assert hanging.accepted >= 3
    finally:
        label.kill()  # as a night killed by its scheduler would be
        label.wait()
        hanging.close()
    assert filtered(home) == [("feedback length", 2)]


def test_label_writes_what_the_filters_decided_then_fails_loudly(home, tmp_path):
    env = ingested(home, tmp_path, RMCURATE_JUDGE_STAGE_DEADLINE_S="3")
    hanging = Hanging()
    t0 = time.monotonic()
    try:
        r = subprocess.run([RMCURATE, "label"], capture_output=True, text=True, timeout=120,
                           env={**env, "RMCURATE_JUDGE_URLS": hanging.url})
    finally:
        hanging.close()
    assert time.monotonic() - t0 < 60
    assert r.returncode == 1 and "Traceback" not in r.stderr
    # the stage's progress line, then the one error line
    assert r.stderr.startswith("label_feedback: 5 of 5 conversations (100%), 3 judge calls returned (3 failed, ")
    error = [line for line in r.stderr.strip().splitlines() if not line.startswith("label_feedback: ")]
    assert len(error) == 1 and error[0].startswith("rmcurate: error: label: 3 of 3 judge calls failed (3 x stage "
                                                   "deadline of 3 s reached"), r.stderr
    assert "2 turns labelled, 3 wait for the next run" in error[0]
    assert filtered(home) == [("feedback length", 2)]


def test_the_nightly_run_goes_on_past_a_failed_judge_stage_and_ends_failed(home, tmp_path):
    env = ingested(home, tmp_path, RMCURATE_JUDGE_STAGE_DEADLINE_S="3", RMCURATE_TRAIN_ENABLED="false")
    hanging = Hanging()
    try:
        r = subprocess.run([RMCURATE, "run", str(tmp_path / "chats.json")], capture_output=True, text=True,
                           timeout=300, env={**env, "RMCURATE_JUDGE_URLS": hanging.url})
    finally:
        hanging.close()
    assert r.returncode == 1, r.stderr[-2000:]
    assert any(line.startswith("rmcurate: error: label: 3 of 3 judge calls failed")
               for line in r.stderr.splitlines()), r.stderr[-2000:]
    assert "snapshot:" in r.stdout  # snapshot and exports still ran on what was labelled
    assert filtered(home) == [("feedback length", 2)]
    assert len(list((home / "exports").iterdir())) == 1
