"""The nightly flow end to end, through Prefect's local ephemeral API."""
import subprocess
import sys
from pathlib import Path

import pytest

from rmcurate.flows.nightly import nightly
from rmcurate.warehouse import connect

from browser import layout

SIZE = 300  # about 3.5% of turns keep a label: enough for both trainers to have a test split


@pytest.mark.slow
def test_nightly_ingests_labels_and_reports_once(home, judge_url, smollm2, monkeypatch, capfd):
    monkeypatch.setenv("RMCURATE_JUDGE_URLS", judge_url)  # the session's server, not a second one
    monkeypatch.setenv("RMCURATE_TRAIN_GENERATIVE_MODEL", str(smollm2))  # not a second conversion
    monkeypatch.setenv("RMCURATE_TRAIN_GENERATIVE_STEPS", "1")
    monkeypatch.setenv("RMCURATE_TRAIN_MAX_STEPS", "4")  # the proof run's length is not under test here
    monkeypatch.setenv("RMCURATE_TRAIN_TEST_FRACTION", "0.3")  # a test split on a small sample
    monkeypatch.setenv("RMCURATE_PAIRS_MAX_SEEDS", "12")
    (home / "inbox").mkdir(parents=True)
    (home / "inbox" / "broken.txt").write_text("not a dataset")
    capfd.readouterr()
    first = nightly(home=str(home), sample_size=SIZE)
    log = capfd.readouterr()
    for bar in ("Loading weights", "Writing model shards", "Batches:", "it/s]"):  # no third-party progress bars
        assert bar not in log.err + log.out, bar
    assert [(r["format"], r["status"]) for r in first["ingests"]] == \
        [("sharegpt-json", "loaded"), ("events-jsonl", "loaded"), ("unknown", "rejected")]
    assert first["ingests"][0]["n_loaded"] == SIZE and first["ingests"][1]["n_loaded"] > SIZE  # the simulated log
    assert list((home / "snapshots" / first["run_id"] / "feedback_labels").glob("part-*.parquet"))
    labels = first["labels"]
    assert labels["n_labelled"] > 0 and labels["n_pending"] == 0
    # every turn is labelled; the funnel's first step also counts greetings, which are not turns
    assert labels["funnel"][0].step == "greeting" and labels["funnel"][0].n_out == labels["n_labelled"]
    report = Path(first["train"]["report"]).read_text()
    assert "<svg" in report and "Funnel" in report and "neutral" in report
    assert "How the labels were decided" in report and "<td>cue</td>" in report  # the cue stage at work
    con = connect(home, read_only=True)  # and what it saved, counted from the labels
    (by_cue,) = con.execute("""SELECT count(*) FROM feedback_labels WHERE run_id = ?
                               AND method IN ('cue', 'prefiltered', 'first_pass')""", [first["run_id"]]).fetchone()
    con.close()
    assert by_cue > 0 and f"<p>{by_cue} turns settled by the cues, the prefilter and the learned first pass" in report
    assert "Exports (this run)" in report and "Trainer: does the data teach anything?" in report
    for fmt in ("trl", "openrlhf", "ordinal", "implicit"):
        folder = home / "exports" / first["run_id"] / fmt
        assert (folder / "manifest.json").exists() and (folder / "README.md").exists(), fmt
        assert first["exports"][fmt]["snapshot"] == first["run_id"]
    results = first["train"]["results"]
    # The ordinal set always has a test split here; the 135M model's few RMBoost pairs may not (or there may
    # be none at all: what it generates varies run to run on CPU), and then the pairwise runs are skipped with
    # the reason the pair export's own counts give, rather than trained on nothing they could be measured on.
    trained = ["ordinal"] + (["pairwise", "generative"] if "skipped" not in results["pairwise"] else [])
    pairs = first["exports"]["trl"]
    if "pairwise" not in trained:
        assert pairs["n_train"] == 0 or pairs["n_test"] == 0, pairs
        why = "has no training rows" if pairs["n_train"] == 0 else "has no test rows"
        for objective in ("pairwise", "generative"):
            assert why in results[objective]["skipped"], results[objective]
    else:  # GRAM's generative RM on the same pairs, asked in both orders, saved for vLLM
        assert pairs["n_train"] > 0 and pairs["n_test"] > 0, pairs
        m = results["generative"]
        assert m["steps"] == 1 and {"pairwise_accuracy", "position_consistency"} <= set(m["test"]), m
        assert (home / "models" / first["run_id"] / "generative" / "config.json").exists()
    for objective in trained + ["implicit", "implicit-naive"]:
        m = results[objective]
        assert 1 <= m["steps"] <= 4 and m["n_train"] > 0 and m["n_test"] > 0, m
        assert (home / "models" / first["run_id"] / objective / "metrics.json").exists()
    # the implicit objective trained on the simulated log, scored against its hidden truth, debiased and naive
    assert {results[k]["propensity"]["estimator"] for k in ("implicit", "implicit-naive")} == {"implicitrm", "naive"}
    assert all(0 <= results[k]["test"]["auc_vs_truth"] <= 1 for k in ("implicit", "implicit-naive"))
    assert "auc_vs_truth" in report or "auc_vs_truth" in Path(first["train"]["report"]).read_text()

    second = nightly(home=str(home), sample_size=SIZE)
    assert [r["status"] for r in second["ingests"]] == ["skipped", "skipped", "rejected"]
    assert second["labels"]["n_labelled"] == 0
    # nothing new: the same export bytes, so no objective trains again; the first night's models stand
    for name in trained + ["implicit", "implicit-naive"]:
        assert second["train"]["results"][name]["reused_from"] == first["run_id"], name
        assert (home / "models" / second["run_id"] / name).resolve() == home / "models" / first["run_id"] / name
    assert first["pairs"]["n_seeds"] > 0 and first["pairs"]["n_pending"] == 0
    assert second["pairs"]["n_seeds"] == 0
    con = connect(home, read_only=True)
    assert con.execute("SELECT count(*) FROM conversations").fetchall() == [(SIZE,)]
    assert con.execute("SELECT count(*) FROM quarantine WHERE location = 'whole file'").fetchall() == [(1,)]
    n_turns = con.execute("SELECT count(*) FROM turns").fetchall()[0][0]
    assert con.execute("SELECT count(*) FROM feedback_labels").fetchall() == [(n_turns,)]
    assert con.execute("SELECT count(*) FROM pair_attempts").fetchall() == [(first["pairs"]["n_seeds"],)]
    # each night beside the Prefect flow run that carried it
    assert con.execute("SELECT run_id, prefect_flow_run_id, status FROM runs ORDER BY started_at").fetchall() == \
        [(r["run_id"], r["prefect_flow_run_id"], "completed") for r in (first, second)]
    con.close()
    out = subprocess.run([str(Path(sys.executable).parent / "rmcurate"), "--home", str(home), "sql",
                          "select label, count(*) from feedback_labels where kept group by 1 order by 1",
                          "--format", "csv"], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "label,count_star()" and len(out.splitlines()) > 1
    out = subprocess.run([str(Path(sys.executable).parent / "rmcurate"), "--home", str(home), "sql",
                          "select origin, count(*) from pairs group by 1", "--format", "csv"],
                         capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "origin,count_star()"
    # The command users run prints the same summary the report gets.
    run = subprocess.run([str(Path(sys.executable).parent / "rmcurate"), "--home", str(home), "run",
                          "--sample-size", str(SIZE)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "nanobind" not in run.stderr  # DuckDB's teardown diagnostics after the results (cli/quiet.py)
    assert "Stopping temporary server" not in run.stderr  # no Prefect lines after the tables
    for words in ("nightly ingest", "feedback funnel", "pairs:", "Exports (this run)",
                  "Trainer: does the data teach anything?", "report: "):
        assert words in run.stdout, words
    # The last report, as Chromium lays it out: every section there with its table or chart.
    page = Path(run.stdout.split("report: ")[-1].split()[0])
    seen = layout(page, home / "chromium-profile")
    sections = {s["title"]: s for s in seen["sections"]}
    # example rows of each export that has train rows (the pair exports may have none: see above)
    examples = [f"Example rows: {fmt} export" for fmt in ("trl", "ordinal", "implicit")
                if first["exports"][fmt]["n_train"] > 0]
    assert len(examples) >= 2
    assert not any(t.startswith(f"Example rows: {f} export") for t in sections for f in ("trl", "ordinal", "implicit")
                   if f"Example rows: {f} export" not in examples)
    for title in ("Funnel", "Ordinal labels kept", "How the labels were decided", "Drop reasons", "RMBoost pairs",
                  "Judge calls sent", "Trends: the last 3 labelling runs", "Exports (this run)",
                  "Trainer: does the data teach anything?", "Training loss", *examples):
        match = [s for t, s in sections.items() if t.startswith(title)]
        assert match and match[0]["shown"] and match[0]["body_shown"], (title, list(sections))
    assert len(seen["svgs"]) >= 3 + len(trained) + 2 and all(seen["svgs"])  # funnel, labels, trends, a curve each
    assert "export unchanged: run " + first["run_id"] in page.read_text()
