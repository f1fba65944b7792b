"""The WildReward stage: rules on crafted cases, mining with the real embedder, and the
whole stage on real ShareGPT turns with the real (embedded) vLLM judge."""
import numpy as np
import pytest

from conftest import rows, write_json
from extractors import detect
from extractors.feedback import language, rules
from extractors.feedback.embed import Embedder
from extractors.feedback.labels import ordinal, parse_category
from extractors.feedback.mining import mine
from extractors.feedback.prefilter import obviously_neutral
from extractors.feedback.refusal import looks_like_refusal
from flows.label import PIPELINE_VERSION, LabelSettings, label_feedback
from flows.sources import sample_file
from judges.cache import CachedJudge
from judges.vllm_http import HttpJudge
from warehouse import connect, ingest_file
from warehouse.judge_calls import DuckCallStore

REPLY = "Here is a complete answer with more than ten words in it, as the filter requires."

# (step, keep case, drop case): turns differ only where the filter looks.
FILTER_CASES = [
    ("history length", dict(history=18), dict(history=22)),
    ("reply length", dict(response=REPLY), dict(response="Sure, done.")),
    ("feedback length", dict(feedback="thanks"), dict(feedback="ok")),
    ("token budget", dict(response=REPLY), dict(response="word " * 4100)),
    ("PII", dict(feedback="thanks, it works now"), dict(feedback="thanks! mail me at ann.lee@example.com")),
    ("PII", dict(feedback="thanks, order 2 of 3 done"), dict(feedback="call me on +1 415-555-0132 please")),
    ("topic", dict(feedback="that is wrong, the loop never ends"),
     dict(feedback="now generate an image of a cat wearing a hat")),
    ("topic", dict(feedback="great, that fixed it"), dict(feedback="see https://example.com/docs for the spec")),
    ("topic", dict(feedback="thanks a lot"), dict(feedback="who are you? are you chatgpt?")),
    ("topic", dict(feedback="no, use a dict instead"), dict(feedback="I attached a screenshot of the error")),
    ("language", dict(feedback="thank you so much, this works perfectly"),
     dict(prompt="Comment trier une liste en Python ?", feedback="merci beaucoup, cela fonctionne très bien")),
]


def conversation(i: int, history=0, prompt="How do I sort a list in Python?", response=REPLY, feedback="thanks"):
    turns = []
    for k in range(history // 2):
        turns += [{"from": "human", "value": f"Earlier question {k} about sorting lists"},
                  {"from": "gpt", "value": f"Earlier answer {k}: use sorted(xs) to get a new sorted list in Python."}]
    turns += [{"from": "human", "value": prompt}, {"from": "gpt", "value": response},
              {"from": "human", "value": feedback}]
    return {"id": f"crafted-{i}", "conversations": turns}


@pytest.fixture(scope="session")
def embedder():
    return Embedder()


@pytest.fixture
def judge_for(judge_url):
    def make(con):
        return CachedJudge(HttpJudge([judge_url], max_in_flight=32), DuckCallStore(con))
    return make


def label_file(home, path, judge_for, embedder, **settings):
    con = connect(home)
    ingest_file(con, path, detect(path))
    judge = judge_for(con)
    result = label_feedback(con, judge, "run-1", LabelSettings(field_max_chars=500, **settings), embed=embedder)
    return con, judge, result


def test_each_filter_drops_its_case_and_keeps_the_other(home, tmp_path, judge_for, embedder):
    convs = []
    for n, (step, keep, drop) in enumerate(FILTER_CASES):
        convs += [conversation(2 * n, **keep), conversation(2 * n + 1, **drop)]
    con, _, _ = label_file(home, write_json(tmp_path / "crafted.json", convs), judge_for, embedder)
    assert rows(con, "SELECT count(*) FROM feedback_labels") == rows(con, "SELECT count(*) FROM turns")
    by_source = dict(rows(con, """  -- the crafted turn is the last one of its conversation
        SELECT c.source_id, arg_max_null(l.drop_step, t.turn_index) FROM feedback_labels l
        JOIN turns t USING (item_id) JOIN conversations c ON c.conversation_id = t.conversation_id
        GROUP BY 1"""))
    assert len(by_source) == len(convs)
    for n, (step, _, _) in enumerate(FILTER_CASES):
        assert by_source[f"crafted-{2 * n + 1}"] == step, (step, "drop case")
        assert by_source[f"crafted-{2 * n}"] != step, (step, "keep case")
    con.close()


@pytest.mark.parametrize("text, neutral", [
    ("continue", True), ("Continue please.", True), ("继续", True), ("```\nx = 1\n```", True),
    ("continue, but that was wrong", False), ("thanks! continue", False), ("next question: why?", False),
])
def test_prefilter_settles_only_bare_continuations(text, neutral):
    assert (obviously_neutral(text) is not None) == neutral


def test_refusal_wording_in_short_replies_only():
    assert looks_like_refusal("I'm sorry, but I cannot help with that request.")
    assert looks_like_refusal("作为一个人工智能，我不能回答这个问题。")
    assert not looks_like_refusal("Sure! Here is the code you asked for.")
    assert not looks_like_refusal("I cannot stress this enough: " + "details " * 60)  # long: an answer


def test_language_from_source_or_detector():
    assert language.from_source("English") == "en" and language.from_source("Chinese") == "zh"
    assert language.detect("Thanks, the script works now, much appreciated.") == "en"
    assert language.detect("谢谢，这个代码可以运行了") == "zh"
    assert language.detect("Merci beaucoup, le script fonctionne maintenant.") == "fr"
    assert language.detect("12345 !!!") is None


def test_answers_parse_and_map_to_four_levels():
    assert parse_category("4") == 4 and parse_category("The user is happy. [[5]]") == 5
    assert parse_category("maybe [[2]] or rather [[3]]") == 3 and parse_category("no idea") is None
    assert [ordinal(c) for c in (1, 2, 4, 5)] == [1, 2, 3, 4]
    with pytest.raises(KeyError):
        ordinal(3)


def test_mining_respects_lookahead_threshold_and_labels_once(embedder):
    calls = []

    def embed(texts):
        calls.append(list(texts))
        return embedder(texts)

    conv = [
        ("a:1", 3, "thanks, that works perfectly"),       # neutral; a:2 is similar and positive
        ("a:2", 5, "thank you, it works perfectly now"),
        ("a:3", 3, "thanks, it works perfectly now!"),    # neutral: a:4 is dissimilar, a:5 similar
        ("a:4", 4, "nice, now write a poem about the sea"),
        ("a:5", 5, "thank you, it works perfectly"),
        ("a:6", 3, "thanks, this works perfectly"),       # similar positives only 3 ahead: out of reach
        ("a:7", 2, "no"), ("a:8", 2, "wrong"), ("a:9", 5, "thanks, this works perfectly"),
    ]
    mined = mine([conv], embed, lookahead=2, threshold=0.5)
    got = {m.item_id: (m.category, m.source_item_id) for m in mined}
    assert got == {"a:1": (5, "a:2"), "a:3": (5, "a:5")}
    assert len(mined) == len(got)  # never an item twice
    assert len(calls) == 1 and "a:9" not in str(calls)  # only texts that take part are embedded
    strict = mine([conv], embed, lookahead=2, threshold=0.99)
    assert strict == []


def test_mining_picks_the_nearest_match_once():
    vec = {"n": [1.0, 0.0], "p1": [0.8, 0.6], "p2": [1.0, 0.0]}
    conv = [("x:1", 3, "n"), ("x:2", 4, "p1"), ("x:3", 5, "p2")]
    mined = mine([conv], lambda texts: np.array([vec[t] for t in texts]), lookahead=2, threshold=0.5)
    assert [(m.item_id, m.source_item_id, m.category) for m in mined] == [("x:1", "x:2", 4)]


def test_stage_on_real_turns_labels_in_range_and_reruns_without_calls(home, judge_for, embedder):
    sample = sample_file(home, 40)
    con, judge, result = label_file(home, sample, judge_for, embedder)
    (n_turns,) = rows(con, "SELECT count(*) FROM turns")[0]
    assert n_turns > 60
    # every turn ends kept or dropped with a reason (none pending: the judge is healthy)
    assert result.n_pending == 0
    assert rows(con, "SELECT count(*), count(DISTINCT item_id) FROM feedback_labels") == [(n_turns, n_turns)]
    assert rows(con, "SELECT count(*) FROM feedback_labels WHERE NOT kept AND drop_reason IS NULL") == [(0,)]
    assert rows(con, """SELECT count(*) FROM feedback_labels
                        WHERE kept AND (label NOT BETWEEN 1 AND 4 OR drop_reason IS NOT NULL)""") == [(0,)]
    # judged labels carry the probability of every category
    probs = rows(con, """SELECT category_probs, confidence FROM feedback_judgements WHERE kind = 'feedback'""")
    assert probs and all(abs(sum(p.values()) - 1) < 1e-6 and len(p) == 5 and 0 < c <= 1 for p, c in probs)
    # the funnel adds up, step by step, and matches the stored labels
    funnel = result.funnel
    assert funnel[0].n_in == n_turns
    for a, b in zip(funnel, funnel[1:]):
        assert b.n_in == a.n_out
    assert sum(f.n_dropped for f in funnel) == rows(con, "SELECT count(*) FROM feedback_labels WHERE NOT kept")[0][0]
    assert funnel[-1].n_out == rows(con, "SELECT count(*) FROM feedback_labels WHERE kept")[0][0]
    sent = judge.counts.sent
    assert sent > 0

    again = label_feedback(con, judge, "run-2", LabelSettings(field_max_chars=500), embed=embedder)
    assert judge.counts.sent == sent and again.n_labelled == 0  # nothing new, nothing asked

    con.execute("DELETE FROM feedback_labels WHERE pipeline_version = ?", [PIPELINE_VERSION])
    relabel = label_feedback(con, judge, "run-3", LabelSettings(field_max_chars=500), embed=embedder)
    assert relabel.n_labelled == n_turns and judge.counts.sent == sent  # every answer from the cache
    con.close()
