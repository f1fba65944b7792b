"""The review loop on real parts: a home labelled by the real embedded vLLM judge, the page driven in
Chromium with the keyboard (DevTools protocol), the queue's strategies, the round trip through files,
reviews read first by the ordinal export, the report's review section, and the first pass and judge
eval learning from reviews."""
import csv
import json
import threading

import pytest

from rmcurate.judges.cache import CachedJudge
from rmcurate.judges.vllm_http import HttpJudge
from rmcurate.readers import detect
from rmcurate.rules.agreement import kappa, per_category, wilson
from rmcurate.settings import LabelSettings
from rmcurate.stages.label import PIPELINE_VERSION, label_feedback
from rmcurate.stages.sources import sample_file
from rmcurate.warehouse import connect, ingest_file
from rmcurate.warehouse.exports import export
from rmcurate.warehouse.judge_calls import DuckCallStore
from rmcurate.warehouse.report import write_feedback_report
from rmcurate.warehouse.reviews import export_queue, fill, import_reviews, next_item, save, shares
from rmcurate.warehouse.snapshot import write_snapshot

from browser import layout
from cdp import Browser
from conftest import rows, write_json

PAYLOAD = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


@pytest.fixture(scope="module")
def labelled(tmp_path_factory, judge_url):
    """A home with 20 sample conversations and one whose prompt and reply carry HTML, labelled once."""
    home = tmp_path_factory.mktemp("review") / "home"
    con = connect(home)
    sample = sample_file(home, 20)
    ingest_file(con, sample, detect(sample))
    hostile = write_json(home / "hostile.json", [{"id": "hostile", "conversations": [
        {"from": "human", "value": f"Explain this markup: {PAYLOAD}"},
        {"from": "gpt", "value": f"It is a script tag: {PAYLOAD}"},
        {"from": "human", "value": "no, that is wrong. try again"}]}])
    ingest_file(con, hostile, detect(hostile))
    judge = CachedJudge(HttpJudge([judge_url], max_in_flight=32), DuckCallStore(con))
    label_feedback(con, judge, "run-1", LabelSettings(field_max_chars=500))
    con.close()
    return home


def fresh(home):
    con = connect(home)
    con.execute("DELETE FROM reviews; DELETE FROM review_queue")
    return con


def test_agreement_measures_match_the_textbook():
    from sklearn.metrics import cohen_kappa_score

    a, b = [1, 2, 3, 4, 5, 1, 2, 5, 4, 3, 3], [1, 2, 3, 5, 5, 2, 2, 4, 4, 1, 3]
    assert kappa(a, b) == pytest.approx(cohen_kappa_score(a, b, weights="quadratic"))
    assert kappa(a, b, weighted=False) == pytest.approx(cohen_kappa_score(a, b))
    lo, hi = wilson(8, 10)
    assert (round(lo, 3), round(hi, 3)) == (0.490, 0.943)  # Wilson's interval for 8 of 10
    cats = per_category(a, b)
    assert cats[2]["precision"] == pytest.approx(2 / 3) and cats[2]["recall"] == 1 and cats[2]["precision_n"] == 3


def test_queue_strategies_each_item_once(labelled):
    con = fresh(labelled)
    n_labelled = rows(con, "SELECT count(*) FROM feedback_labels WHERE category IS NOT NULL")[0][0]
    got = fill(con, 10, PIPELINE_VERSION, shares("random=0.5,uncertain=0.3,disagree=0.2"))
    queued = rows(con, "SELECT item_id, strategy FROM review_queue ORDER BY priority")
    assert len(queued) == len({i for i, _ in queued}) == sum(got.values()) == min(10, n_labelled)
    assert got.get("uncertain", 0) >= 1  # the first pass and the judge give probabilities here
    # uncertain items are those answered with the lowest probability
    low = rows(con, """SELECT max(l.confidence) FROM review_queue q JOIN feedback_labels l USING (item_id)
                       WHERE q.strategy = 'uncertain'""")[0][0]
    higher = rows(con, """SELECT count(*) FROM feedback_labels WHERE method IN ('first_pass', 'judged')
                          AND confidence < ? AND item_id NOT IN (SELECT item_id FROM review_queue)""", [low])[0][0]
    assert higher == 0
    # filling again never queues an item twice; reviewed items are not queued again either
    save(con, queued[0][0], "ana", 1)
    fill(con, 100, PIPELINE_VERSION, shares("random=1"))
    assert rows(con, "SELECT count(*) - count(DISTINCT item_id) FROM review_queue") == [(0,)]
    # similar: items nearest to one a reviewer corrected
    from rmcurate.rules.feedback.embed import Embedder

    con.execute("DELETE FROM review_queue; DELETE FROM reviews")
    fill(con, 1, PIPELINE_VERSION, shares("random=1"))
    item = next_item(con, "ana")
    save(con, item["item_id"], "ana", 5 if item["label_category"] != 5 else 1)
    picked = fill(con, 3, PIPELINE_VERSION, shares("similar=1"), embed=Embedder())
    assert picked.get("similar", 0) == 3, picked
    con.close()


def serve_in_thread(home, access_token=None):
    from http.server import ThreadingHTTPServer

    from rmcurate.stages.review import Handler, ReviewApp

    app = ReviewApp(home, "ana", access_token=access_token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (Handler,), {"app": app}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def test_the_page_reviews_with_the_keyboard_in_chromium(labelled, tmp_path):
    con = fresh(labelled)
    hostile = rows(con, "SELECT item_id FROM turns WHERE conversation_id IN "
                        "(SELECT conversation_id FROM conversations WHERE source_id = 'hostile')")[0][0]
    fill(con, 5, PIPELINE_VERSION, shares("random=1"))
    con.execute("DELETE FROM review_queue WHERE item_id = ?", [hostile])
    con.execute("INSERT INTO review_queue VALUES (?, 'random', -1, ?, now())", [hostile, PIPELINE_VERSION])
    order = [r[0] for r in rows(con, "SELECT item_id FROM review_queue ORDER BY priority")]
    con.close()
    server, url = serve_in_thread(labelled)
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(url)
        browser.wait_for("document.getElementById('feedback').textContent.length > 0")
        # the hostile conversation is shown as text: the markup is in the text, nothing ran
        assert PAYLOAD in browser.eval("document.getElementById('prompt').textContent")
        assert PAYLOAD in browser.eval("document.getElementById('response').textContent")
        assert browser.eval("typeof window.__pwned") == "undefined"
        assert browser.eval("document.querySelectorAll('#prompt *, #response *').length") == 0
        item = "document.body.dataset.item"
        assert browser.eval(item) == order[0]
        for key, now in zip(("1", "4", "5"), order):
            assert browser.eval(item) == now
            browser.press(key)
            browser.wait_for(f"{item} !== {json.dumps(now)}")
        browser.press("u")  # the 5 is taken back: its item is shown again
        browser.wait_for(f"{item} === {json.dumps(order[2])}")
        browser.press("n")
        browser.wait_for("document.activeElement.id === 'note'")
        browser.call("Input.insertText", text="follow-up is sarcastic")
        browser.press("Enter")
        browser.wait_for("document.activeElement.id !== 'note'")
        browser.press("2")
        browser.wait_for(f"{item} === {json.dumps(order[3])}")
    finally:
        browser.close()
        server.shutdown()
    con = connect(labelled)
    got = rows(con, "SELECT item_id, category, note, reviewer, label_method IS NOT NULL FROM reviews "
                    "ORDER BY reviewed_at")
    con.close()
    assert got == [(order[0], 1, None, "ana", True), (order[1], 4, None, "ana", True),
                   (order[2], 2, "follow-up is sarcastic", "ana", True)]


def test_state_changes_need_the_session_token(labelled):
    import urllib.error
    import urllib.request

    con = fresh(labelled)
    fill(con, 2, PIPELINE_VERSION, shares("random=1"))
    item = next_item(con, "ana")["item_id"]
    con.close()
    server, url = serve_in_thread(labelled)
    try:
        req = urllib.request.Request(url + "api/review", data=json.dumps({"item_id": item, "category": 1}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 403
        page = urllib.request.urlopen(url, timeout=10)
        assert "script-src 'nonce-" in page.headers["Content-Security-Policy"]
    finally:
        server.shutdown()
    con = connect(labelled)
    assert rows(con, "SELECT count(*) FROM reviews") == [(0,)]
    con.close()
    # a bind beyond loopback needs an access token, and never shows raw text
    from rmcurate.stages.review import serve
    from rmcurate.warehouse.reviews import ReviewError

    with pytest.raises(ReviewError, match="needs --token"):
        serve(labelled, "ana", host="0.0.0.0", port=0)
    with pytest.raises(ReviewError, match="raw text is shown only on a loopback bind"):
        serve(labelled, "ana", host="0.0.0.0", port=0, raw=True, access_token="t")
    server, url = serve_in_thread(labelled, access_token="s3cret-token")
    try:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url + "api/next", timeout=10)
        assert e.value.code == 403
        assert json.loads(urllib.request.urlopen(url + "api/next?token=s3cret-token", timeout=10).read())["item"]
    finally:
        server.shutdown()


def test_round_trip_exports_and_the_report(labelled, tmp_path):
    con = fresh(labelled)
    fill(con, 12, PIPELINE_VERSION, shares("random=1"))
    for suffix in (".jsonl", ".csv", ".json"):
        assert export_queue(con, tmp_path / f"queue{suffix}") == 12
    tasks = json.loads((tmp_path / "queue.json").read_text())
    assert tasks[0]["data"]["item_id"] and "feedback" in tasks[0]["data"]  # Label Studio's task shape
    # another tool answered in CSV: categories opposite to the labels, one skipped
    queued = list(csv.DictReader((tmp_path / "queue.csv").open(encoding="utf-8")))
    flipped = {q["item_id"]: (1 if q["label_category"] in ("4", "5") else 5) for q in queued}
    with (tmp_path / "answers.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["item_id", "category", "note"])
        w.writeheader()
        for n, (item, cat) in enumerate(flipped.items()):
            w.writerow({"item_id": item, "category": "" if n == 0 else cat, "note": "imported"})
    assert import_reviews(con, tmp_path / "answers.csv", "bo", PIPELINE_VERSION) == 12
    assert rows(con, "SELECT count(*), count(category), count(*) FILTER (skipped) FROM reviews") == [(12, 11, 1)]
    write_snapshot(con, labelled, "reviewed")
    # the ordinal export reads the reviewer's category first, and says how many
    export(con, labelled, "ordinal", tmp_path / "ordinal")
    manifest = json.loads((tmp_path / "ordinal" / "manifest.json").read_text())
    assert manifest["filters"]["reviewed"] == 11
    assert "11 items read from people's reviews" in (tmp_path / "ordinal" / "README.md").read_text()
    shards = list((tmp_path / "ordinal").rglob("*.parquet"))
    exported = dict(rows(con, f"SELECT item_id, label FROM read_parquet({[str(s) for s in shards]})"))
    reviewed = {i: c for i, c in list(flipped.items())[1:]}
    for item, cat in reviewed.items():
        if item in exported:  # (the split and dedup may leave some out)
            assert exported[item] == {1: 1, 5: 4}[cat]
    assert sum(i in exported for i in reviewed) >= 5
    # SQL users read the same decision from the reviewed_labels view
    view = dict(rows(con, "SELECT item_id, final_category FROM reviewed_labels WHERE reviewed_category IS NOT NULL"))
    assert view == reviewed
    # random-draw reviews measure the methods; two reviewers of one item give an agreement line
    for item in list(reviewed)[:4]:
        save(con, item, "cy", reviewed[item])
    report = write_feedback_report(con, labelled, "run-1")
    html = report.read_text()
    assert "Reviews: the labels against people (random draw)" in html and "weighted kappa" in html
    assert "Reviewers agree on 4 of 4 items" in html
    con.close()
    seen = layout(report, tmp_path / "profile")
    section = next(s for s in seen["sections"] if s["title"].startswith("Reviews:"))
    assert section["shown"] and section["body_shown"], section


def test_the_first_pass_and_judge_eval_learn_from_reviews(labelled, tmp_path):
    from rmcurate.stages.first_pass import train_for_home
    from rmcurate.stages.judge_eval import load_gold
    from rmcurate.judges import GOLD
    from rmcurate.warehouse.reviews import reviewed_gold

    con = fresh(labelled)
    fill(con, 8, PIPELINE_VERSION, shares("random=1"))
    items = [r[0] for r in rows(con, "SELECT item_id FROM review_queue")]
    for n, item in enumerate(items):
        save(con, item, "ana", 1 + n % 5)
    assert len(reviewed_gold(con)) == 8
    con.close()
    gold = [g for c in range(1, 6) for g in [x for x in load_gold(GOLD) if x["label"] == c][:12]]  # a quick 60
    model = train_for_home(labelled, gold)
    assert model.meta["rows"]["review"] == 8 and model.meta["rows"]["gold"] == 60
