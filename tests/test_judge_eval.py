"""`rmcurate judge eval`: the figures are right, and the command scores a real judge on a gold file."""
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from rmcurate.judges import GOLD
from rmcurate.judges.evaluate import calibration_error, report
from rmcurate.stages.judge_eval import GoldError, contrast_pairs, load_gold

from conftest import write_jsonl

RMCURATE = str(Path(sys.executable).parent / "rmcurate")


def test_scores_against_hand_computed_values():
    gold = [3, 3, 3, 2, 5]
    pred = [3, 3, 2, 2, None]  # one failed call
    r = report(gold, pred)
    assert r["accuracy"] == pytest.approx(3 / 5)
    # per class: 2 -> P 1/2 R 1 F1 2/3; 3 -> P 1 R 2/3 F1 0.8; 1, 4, 5 -> 0
    assert r["per_class"][2]["f1"] == pytest.approx(2 / 3) and r["per_class"][3]["f1"] == pytest.approx(0.8)
    assert r["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 5)
    assert r["confusion"][4] == [0, 0, 0, 0, 0, 1]  # gold 5 went to "none"
    assert sum(map(sum, r["confusion"])) == 5
    # always-neutral: accuracy 3/5, F1 of class 3 = 2*0.6*1/1.6 = 0.75, over five classes
    assert r["always_neutral"] == {"accuracy": pytest.approx(0.6), "macro_f1": pytest.approx(0.75 / 5)}
    assert calibration_error([0.9, 0.9], [True, False]) == pytest.approx(0.4)
    assert calibration_error([], []) is None


def test_gold_lines_are_checked_one_by_one(tmp_path):
    good = {"prompt": "p", "response": "r", "feedback": "f", "label": 3}
    assert len(load_gold(write_jsonl(tmp_path / "ok.jsonl", [good, {**good, "label": 5}]))) == 2
    with pytest.raises(GoldError, match=r"bad.jsonl:2: label must be 1-5"):
        load_gold(write_jsonl(tmp_path / "bad.jsonl", [good, {**good, "label": 7}]))
    with pytest.raises(GoldError, match=r"miss.jsonl:1: missing feedback"):
        load_gold(write_jsonl(tmp_path / "miss.jsonl", [{"prompt": "p", "response": "r", "label": 1}]))
    with pytest.raises(GoldError, match=r"junk.jsonl:1: not JSON"):
        load_gold(write_jsonl(tmp_path / "junk.jsonl", [b"{oops"]))
    # a line separator inside a string is not a line break
    path = tmp_path / "sep.jsonl"
    path.write_text(json.dumps({**good, "feedback": "a\u2028b"}, ensure_ascii=False) + "\n")
    assert load_gold(path)[0]["feedback"] == "a\u2028b"


def test_contrast_pairs_take_a_reply_from_another_conversation():
    items = load_gold(GOLD)[:30]
    pairs = contrast_pairs(items, 10)
    assert len(pairs) == 10
    for (prompt, own, other), x in zip(pairs, items):
        assert prompt[0]["content"] == x["prompt"] and own == x["response"] and other != own


def test_cli_scores_the_judge_on_a_gold_file(home, tmp_path, judge_url):
    lines = [json.loads(line) for line in GOLD.read_text().split("\n") if line.strip()]
    picked = [x for x in lines if x["label"] != 3][:8] + [x for x in lines if x["label"] == 3][:8]
    gold = write_jsonl(tmp_path / "gold.jsonl", picked)
    env = {**os.environ, "RMCURATE_HOME": str(home), "RMCURATE_JUDGE_URLS": judge_url}
    ask = ["judge", "eval", "--gold", str(gold), "--pairs", "4", "--undecided", "judge", "--json"]
    r = subprocess.run([RMCURATE, *ask], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    overall = result["overall"]
    assert overall["n"] == 16 and sum(map(sum, overall["confusion"])) == 16
    assert overall["always_neutral"]["accuracy"] == pytest.approx(0.5)
    assert sum(result["methods"].values()) == 16 and result["methods"].get("judged", 0) >= 1
    assert result["pair_compare"]["pairs"] == 4 and result["pair_compare"]["failed"] == 0
    assert overall["n_with_probs"] == result["methods"]["judged"]  # every judged item has probabilities
    # what the cues and the prefilter saved: a call per item they settled, each then put to the judge too
    saved = result["saved"]
    settled = result["methods"].get("cue", 0) + result["methods"].get("prefiltered", 0)
    assert settled >= 1 and saved["calls_saved"] == settled
    assert sum(row["settled"] for row in saved["by_method"].values()) == settled
    assert all(0 <= row["judge_agrees"] <= row["judge_answered"] == row["settled"] for row in saved["by_method"].values())
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    assert con.execute("SELECT count(DISTINCT key) FROM judge_calls WHERE template LIKE 'feedback%'").fetchone()[0] \
        == len(picked)  # the judge was asked about every item: the judged ones and, beside them, the settled ones
    con.close()
    # the same run again is answered by the warehouse's call cache
    again = subprocess.run([RMCURATE, *ask], capture_output=True, text=True, env=env)
    assert json.loads(again.stdout)["overall"] == overall
    # the embedded judge's default leaves what no cue settles neutral, without a call
    default = subprocess.run([RMCURATE, *ask[:4], "--pairs", "0", "--json"], capture_output=True, text=True, env=env)
    assert set(json.loads(default.stdout)["methods"]) <= {"cue", "undecided", "prefiltered"}
    # the table form names the figures a user looks for
    r = subprocess.run([RMCURATE, "judge", "eval", "--gold", str(gold), "--pairs", "0", "--no-cues"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    for words in ("macro-F1", "always-neutral", "confusion matrix", "per category"):
        assert words in r.stdout
    bad = subprocess.run([RMCURATE, "judge", "eval", "--gold", str(tmp_path / "none.jsonl")],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "cannot read" in bad.stderr
