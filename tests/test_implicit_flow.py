"""The implicit path end to end on real parts: a simulated log for real ShareGPT conversations,
the warehouse's reply_evidence, the implicit export, the trainer's estimators, and `rmcurate score`."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rmcurate.stages.sources import sample_file, simulated_events_file
from rmcurate.trainer.train import TrainConfig, train
from rmcurate.warehouse import connect, ingest_path
from rmcurate.warehouse.exports import export
from rmcurate.warehouse.snapshot import write_snapshot

from conftest import rows, write_jsonl

RMCURATE = str(Path(sys.executable).parent / "rmcurate")


@pytest.fixture(scope="module")
def implicit_export(tmp_path_factory):
    home = tmp_path_factory.mktemp("implicit") / "home"
    con = connect(home)
    for path in (sample_file(home, 120), simulated_events_file(home, 120)):
        assert ingest_path(con, path).status == "loaded"
    write_snapshot(con, home, "run1")
    export(con, home, "implicit", home / "implicit", test_fraction=0.3)
    yield home, con
    con.close()


def test_reply_evidence_fuses_the_log_and_the_export_names_the_simulation(implicit_export):
    home, con = implicit_export
    n_replies, n_seen, n_truth = rows(con, """SELECT count(*), count(*) FILTER (WHERE impressions = 1),
                                              count(simulated_preference) FROM reply_evidence""")[0]
    assert n_replies > 200 and n_seen == n_replies == n_truth  # every reply seen once, with its truth
    acted = rows(con, "SELECT count(*) FROM reply_evidence WHERE copies + clicks + thumbs_up + shares > 0")[0][0]
    assert 0 < acted < n_replies
    manifest = json.loads((home / "implicit" / "manifest.json").read_text())
    assert manifest["filters"]["simulated_events"] == "sim-1"
    assert manifest["filters"]["events_not_on_a_reply"] == {}
    got = [r for s in manifest["shards"] for r in pq.read_table(home / "implicit" / s["name"]).to_pylist()]
    assert all("impression" not in r["events"] for r in got)  # seen is not an action
    assert all(r["user_id"].startswith("user-") for r in got)


@pytest.mark.parametrize("estimator", ["implicitrm", "naive"])
def test_the_implicit_objective_trains_and_reports_the_truth_and_the_propensity(implicit_export, tmp_path, estimator):
    home, _ = implicit_export
    m = train(home / "implicit", tmp_path / "m", TrainConfig(objective="implicit", estimator=estimator, max_steps=4,
                                                             batch_size=8, max_length=64, max_test=100),
              log=lambda _: None)
    assert m["test"]["n"] == 100 and 0 <= m["test"]["auc_vs_truth"] <= 1 and "mae_vs_truth" in m["test"]
    buckets = {b["bucket"]: b for b in m["propensity"]["by_bucket"]}
    assert {"code", "no code", "first reply"} <= set(buckets)
    saved = json.loads((tmp_path / "m" / "propensity.json").read_text())
    assert saved["estimator"] == estimator and len(saved["weight"]) == len(saved["features"]) == 6
    if estimator == "implicitrm":  # the fitted propensity sees what the simulator built in: code draws actions
        assert buckets["code"]["propensity"] > buckets["no code"]["propensity"]


def test_score_writes_one_reward_per_row_and_keeps_ids(implicit_export, tmp_path):
    home, _ = implicit_export
    train(home / "implicit", tmp_path / "m", TrainConfig(objective="implicit", estimator="naive", max_steps=1,
                                                         batch_size=4, max_length=32, max_test=20), log=lambda _: None)
    r = subprocess.run([RMCURATE, "score", "--model", str(tmp_path / "m"), "--data", str(home / "implicit"),
                        "--out", str(tmp_path / "scores.parquet")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    scored = pq.read_table(tmp_path / "scores.parquet").to_pylist()
    manifest = json.loads((home / "implicit" / "manifest.json").read_text())
    assert len(scored) == sum(s["rows"] for s in manifest["splits"].values())
    assert {s["split"] for s in scored} == {"train", "test"} and len({s["item_id"] for s in scored}) == len(scored)
    assert all(isinstance(s["reward"], float) for s in scored)
    texts = write_jsonl(tmp_path / "texts.jsonl", [{"id": "a", "text": "USER: hi\n\nASSISTANT: hello"},
                                                   {"id": "b", "text": "USER: sort?\n\nASSISTANT: sorted(xs)"}])
    r = subprocess.run([RMCURATE, "score", "--model", str(tmp_path / "m"), "--data", str(texts),
                        "--out", str(tmp_path / "t.parquet")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert [s["id"] for s in pq.read_table(tmp_path / "t.parquet").to_pylist()] == ["a", "b"]


def test_implicit_training_without_an_event_log_is_a_one_line_error(home, tmp_path):
    con = connect(home)
    ingest_path(con, sample_file(home, 20))
    write_snapshot(con, home, "run1")
    export(con, home, "implicit", tmp_path / "implicit")
    con.close()
    r = subprocess.run([RMCURATE, "train", "--data", str(tmp_path / "implicit"), "--objective", "implicit"],
                       capture_output=True, text=True, env={**os.environ, "RMCURATE_HOME": str(home)})
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "needs an event log" in r.stderr, r.stderr
