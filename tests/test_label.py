"""The WildReward stage: rules on crafted cases, mining with the real embedder, and the
whole stage on real ShareGPT turns with the real (embedded) vLLM judge."""
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from rmcurate.judges import GOLD
from rmcurate.judges.cache import CachedJudge
from rmcurate.judges.vllm_http import HttpJudge
from rmcurate.readers import detect
from rmcurate.rules.feedback import language, rules
from rmcurate.rules.feedback.embed import Embedder
from rmcurate.rules.feedback.labels import ordinal, parse_category
from rmcurate.rules.feedback.mining import mine
from rmcurate.rules.feedback.prefilter import obviously_neutral
from rmcurate.rules.feedback.refusal import looks_like_refusal
from rmcurate.settings import LabelSettings
from rmcurate.stages.label import PIPELINE_VERSION, label_feedback
from rmcurate.stages.sources import sample_file
from rmcurate.warehouse import connect, ingest_file
from rmcurate.warehouse.judge_calls import DuckCallStore

from conftest import rows, write_json

REPLY = "Here is a complete answer with more than ten words in it, as the filter requires."

ZH_PROMPT = "如何在Python中对一个列表进行排序？请给出例子。"
ZH_REPLY = ("在Python中，可以使用内置函数sorted对列表排序，它会返回一个新的列表；也可以调用列表的sort方法，"
            "它会直接修改原来的列表。两者都支持key参数和reverse参数，用来自定义排序规则和顺序。")
ZH_THANKS = "谢谢，这个方法很好用，问题解决了"

# (step, keep case, drop case): turns differ only where the filter looks.
FILTER_CASES = [
    ("conversation length", dict(), dict(closing=False)),
    ("history length", dict(history=18), dict(history=22)),
    ("reply length", dict(response=REPLY), dict(response="Sure, done.")),
    ("reply length", dict(prompt=ZH_PROMPT, response=ZH_REPLY, feedback=ZH_THANKS),
     dict(prompt=ZH_PROMPT, response="好的，已经完成。", feedback=ZH_THANKS)),
    ("feedback length", dict(feedback="thanks a lot, it works"), dict(feedback="ok thanks")),
    ("feedback length", dict(prompt=ZH_PROMPT, response=ZH_REPLY, feedback="谢谢，问题解决了"),
     dict(prompt=ZH_PROMPT, response=ZH_REPLY, feedback="谢谢")),
    ("token budget", dict(response=REPLY), dict(response="word " * 4100)),
    ("token budget", dict(prompt=ZH_PROMPT, response=ZH_REPLY, feedback=ZH_THANKS),
     dict(prompt=ZH_PROMPT, response="排" * 4100, feedback=ZH_THANKS)),
    ("PII", dict(feedback="thanks, it works fine now"), dict(feedback="thanks! mail me at ann.lee@example.com")),
    ("PII", dict(feedback="use 1000 2000 3000 as the bin edges"), dict(feedback="call me on +1 415-555-0132 please")),
    ("PII", dict(prompt=ZH_PROMPT, response=ZH_REPLY, feedback=ZH_THANKS),
     dict(prompt=ZH_PROMPT, response=ZH_REPLY, feedback="谢谢，我的手机号是13812345678，请联系我")),
    ("PII", dict(feedback="thanks, password = user_input works now"),
     dict(feedback="thanks, it works with my key sk-proj-AbCdEf1234567890AbCdEf1234567890")),
    ("PII", dict(feedback="the order id 1234567890123 is still missing"),
     dict(feedback="it charged my card 4111 1111 1111 1111 twice")),
    ("PII", dict(feedback="thanks, the token budget of 4096 works now"),
     dict(feedback="it works now with Authorization: Bearer abcDEF123456ghiJKL789mno, thanks")),
    ("PII", dict(feedback="thanks, my name is not important but this works"),
     dict(feedback="thanks, my name is Jonathan Appleseed and it works now")),
    ("PII", dict(feedback="great, the release on 2023-10-15 fixed it"),
     dict(feedback="great, ship it to 742 Evergreen Terrace please")),
    ("topic", dict(feedback="that is wrong, the loop never ends"),
     dict(feedback="now generate an image of a cat wearing a hat")),
    ("topic", dict(feedback="great, that fixed it for me"), dict(feedback="see https://example.com/docs for the spec")),
    ("topic", dict(feedback="thanks a lot for this one"), dict(feedback="who are you? are you chatgpt?")),
    ("topic", dict(feedback="the csv output is wrong, the header row is missing"),
     dict(feedback="I attached a screenshot of the error")),
    ("topic", dict(feedback="fix the file path, it should be relative to the script"),
     dict(feedback="please read the pdf I sent and summarise it")),
    ("language", dict(feedback="thank you so much, this works perfectly"),
     dict(prompt="Comment trier une liste en Python ?", feedback="merci beaucoup, cela fonctionne très bien")),
]
FILTER_STEPS = {"language", "conversation length", "history length", "reply length", "feedback length",
                "token budget", "PII", "topic"}


def conversation(i: int, history=0, prompt="How do I sort a list in Python?", response=REPLY,
                 feedback="thanks, that works for me", closing=True):
    """History, then the crafted turn; `closing` adds the assistant's answer to the feedback (4+ messages)."""
    turns = []
    for k in range(history // 2):
        turns += [{"from": "human", "value": f"Earlier question {k} about sorting lists"},
                  {"from": "gpt", "value": f"Earlier answer {k}: use sorted(xs) to get a new sorted list in Python."}]
    turns += [{"from": "human", "value": prompt}, {"from": "gpt", "value": response},
              {"from": "human", "value": feedback}]
    if closing:
        turns.append({"from": "gpt", "value": "Glad to help."})
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
        assert by_source[f"crafted-{2 * n}"] not in FILTER_STEPS, (step, "keep case survives every filter")
    con.close()


def test_the_funnel_counts_greetings_the_user_answered(home, tmp_path, judge_for, embedder):
    """A reply before any user message is not a turn; the funnel's first step counts it as dropped."""
    greeted = []
    for i in range(3):
        c = conversation(i)
        c["conversations"].insert(0, {"from": "gpt", "value": "Hello! How can I help you today?"})
        greeted.append(c)
    plain = [conversation(3)]
    unanswered = [{"id": "alone", "conversations": [{"from": "gpt", "value": "Hello! Anyone there?"}]}]
    con, _, result = label_file(home, write_json(tmp_path / "greeted.json", greeted + plain + unanswered), judge_for,
                                embedder)
    (n_turns,), = rows(con, "SELECT count(*) FROM turns")
    first = result.funnel[0]
    assert (first.step, first.n_in, first.n_dropped, first.n_out) == ("greeting", n_turns + 3, 3, n_turns)
    assert result.funnel[1].n_in == n_turns  # the language filter sees the turns alone
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
    # Short follow-ups langdetect called Spanish, French and Italian, which dropped them as another language
    for text in ("Please continue\nPlease continue", "continue continue", "more more", "codes please more codes"):
        assert language.detect(text) == "en", text
    assert language.detect_turn("Please continue", "Please continue") == "en"
    assert language.detect("Gracias, eso no es correcto") == "es" and language.detect("Das ist falsch") == "de"
    # feedback in another language after an English prompt is not English
    assert language.detect_turn("Can you elaborate on what this code does?",
                                "Puoi scrivermi esplicitamente quali sono gli Stati intrinseci e quelli estrinseci") == "it"
    assert language.detect_turn("Comment trier une liste en Python ?", "merci beaucoup, cela fonctionne très bien") == "fr"
    assert language.detect_turn("How do I sort a list?", "谢谢，这个代码可以运行了") == "zh"


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

    conv = [(item, cat, text, turn) for turn, (item, cat, text) in enumerate([
        ("a:1", 3, "thanks, that works perfectly"),       # neutral; a:2 is similar and positive
        ("a:2", 5, "thank you, it works perfectly now"),
        ("a:3", 3, "thanks, it works perfectly now!"),    # neutral: a:4 is dissimilar, a:5 similar
        ("a:4", 4, "nice, now write a poem about the sea"),
        ("a:5", 5, "thank you, it works perfectly"),
        ("a:6", 3, "thanks, this works perfectly"),       # similar positives only 3 ahead: out of reach
        ("a:7", 2, "no"), ("a:8", 2, "wrong"), ("a:9", 5, "thanks, this works perfectly"),
    ])]
    mined = mine([conv], embed, lookahead=2, threshold=0.5)
    got = {m.item_id: (m.category, m.source_item_id) for m in mined}
    assert got == {"a:1": (5, "a:2"), "a:3": (5, "a:5")}
    assert len(mined) == len(got)  # never an item twice
    assert len(calls) == 1 and "a:9" not in str(calls)  # only texts that take part are embedded
    strict = mine([conv], embed, lookahead=2, threshold=0.99)
    assert strict == []


def test_mining_picks_the_nearest_match_once():
    vec = {"n": [1.0, 0.0], "p1": [0.8, 0.6], "p2": [1.0, 0.0]}
    conv = [("x:1", 3, "n", 0), ("x:2", 4, "p1", 1), ("x:3", 5, "p2", 2)]
    mined = mine([conv], lambda texts: np.array([vec[t] for t in texts]), lookahead=2, threshold=0.5)
    assert [(m.item_id, m.source_item_id, m.category) for m in mined] == [("x:1", "x:2", 4)]


def test_mining_counts_distance_in_turns_not_in_surviving_items():
    """Two filtered turns in between put the positive one 3 turns ahead: out of reach at lookahead 2."""
    same = lambda texts: np.ones((len(texts), 2)) / np.sqrt(2)  # noqa: E731 - every pair is similar
    assert mine([[("c:0", 3, "ok", 0), ("c:6", 5, "thanks", 3)]], same, lookahead=2) == []
    assert [m.item_id for m in mine([[("c:0", 3, "ok", 0), ("c:4", 5, "thanks", 2)]], same, lookahead=2)] == ["c:0"]


def test_words_count_cjk_characters():
    assert rules.words("这是一个很长的中文回复") == 11 and len("这是一个很长的中文回复".split()) == 1
    assert rules.words(ZH_REPLY) > 60  # str.split() saw 2 "words" here and dropped the reply as too short
    assert rules.words("use sorted() 排序 now") == 5
    assert rules.short_reply(ZH_REPLY) is None and rules.short_feedback("谢谢，问题解决了") is None
    assert rules.short_feedback("ok thanks") == "feedback under 5 words"


def test_stage_on_real_turns_labels_in_range_and_reruns_without_calls(home, judge_for, embedder, capfd):
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
    # greetings the user answered come first: counted, not turns, so no label row stands for them
    assert funnel[0].step == "greeting" and funnel[0].n_out == n_turns and funnel[0].n_dropped > 0
    for a, b in zip(funnel, funnel[1:]):
        assert b.n_in == a.n_out
    assert sum(f.n_dropped for f in funnel[1:]) == rows(con, "SELECT count(*) FROM feedback_labels WHERE NOT kept")[0][0]
    assert funnel[-1].n_out == rows(con, "SELECT count(*) FROM feedback_labels WHERE kept")[0][0]
    sent = judge.counts.sent
    assert sent > 0
    # progress: conversations done of those pending, and every judge answer counted as it arrived
    progress = re.findall(r"label_feedback: (\d+) of (\d+) conversations \(100%\), (\d+) judge calls returned",
                          capfd.readouterr().err)
    assert progress and progress[-1][0] == progress[-1][1] and int(progress[-1][2]) == sent

    again = label_feedback(con, judge, "run-2", LabelSettings(field_max_chars=500), embed=embedder)
    assert judge.counts.sent == sent and again.n_labelled == 0  # nothing new, nothing asked

    # Labelling again from scratch: without the labels and the watermark, every conversation is pending.
    con.execute("DELETE FROM feedback_labels WHERE pipeline_version = ?", [PIPELINE_VERSION])
    con.execute("DELETE FROM label_watermarks WHERE pipeline_version = ?", [PIPELINE_VERSION])
    relabel = label_feedback(con, judge, "run-3", LabelSettings(field_max_chars=500), embed=embedder)
    assert relabel.n_labelled == n_turns and judge.counts.sent == sent  # every answer from the cache
    con.close()


# --- stage order and held turns, on answers placed in the real call cache --------------------------------
# The judge is a real HTTP client aimed at a closed port: a request whose answer sits in the cache is
# answered from it; any other fails as a dead endpoint does, which is the fault these tests need.

SEEDED_MODEL = "seeded-judge"
REFUSAL = "I'm sorry, but I cannot help with writing that kind of script for you today."


def seeded_judge(con, answers: list[tuple[str, dict, str]], model: str = SEEDED_MODEL) -> CachedJudge:
    """Store (template, fields, answer) in the cache exactly as the stage will ask, then a judge over it."""
    from rmcurate.judges.embedded import free_port
    from rmcurate.prompts.fields import cut
    from rmcurate.prompts.templates import load
    from rmcurate.schemas.judge import JudgeResult

    store = DuckCallStore(con)
    for template, fields, text in answers:
        t = load(template)
        request = t.render(**{f: cut(fields.get(f), 500) for f in t.fields})
        now = datetime.now(UTC)
        store.save(model, request, JudgeResult(key=request.key(model), status="ok", text=text,
                                               started_at=now, finished_at=now))
    store.flush()  # saves are queued for the batch writer
    dead = HttpJudge([f"http://127.0.0.1:{free_port()}"], model, retries=0, timeout_s=5)
    return CachedJudge(dead, store)


def two_turns(tmp_path, second_reply=REPLY):
    """A conversation of two turns whose follow-ups are alike (so mining can link them), and the two turns."""
    users = ["How do I sort a list in Python?", "thank you, that works perfectly now, and one more thing",
             "thank you, that works perfectly now"]
    conv = {"id": "two-turns", "conversations": [
        {"from": "human", "value": users[0]}, {"from": "gpt", "value": REPLY},
        {"from": "human", "value": users[1]}, {"from": "gpt", "value": second_reply},
        {"from": "human", "value": users[2]}, {"from": "gpt", "value": "Glad to help."}]}
    turns = [dict(prompt=users[0], response=REPLY, feedback=users[1]),
             dict(prompt=users[1], response=second_reply, feedback=users[2])]
    return write_json(tmp_path / "two.json", [conv]), turns


def labels_of(con):
    return dict(rows(con, "SELECT turn_index, struct_pack(category, method, kept) FROM feedback_labels "
                          "JOIN turns USING (item_id) ORDER BY turn_index"))


def test_mining_runs_before_the_refusal_check(home, tmp_path, embedder):
    """WildReward's order: the neutral turn borrows the later positive label, then the refusal check relabels
    the later turn. Checking refusals first turned that positive into a rejection and nothing was mined."""
    path, turns = two_turns(tmp_path, second_reply=REFUSAL)
    con = connect(home)
    ingest_file(con, path, detect(path))
    judge = seeded_judge(con, [("feedback_choice", turns[0], "3"), ("feedback_choice", turns[1], "5"),
                               ("refusal_check", turns[1], "0")])
    label_feedback(con, judge, "run-1", LabelSettings(field_max_chars=500, cues=False), embed=embedder)
    got = labels_of(con)
    assert got[0] == {"category": 5, "method": "mined", "kept": True}
    assert got[1] == {"category": 1, "method": "refusal_checked", "kept": True}
    con.close()


def test_a_neutral_turn_waits_while_a_later_turn_of_its_conversation_is_pending(home, tmp_path, embedder):
    path, turns = two_turns(tmp_path)
    con = connect(home)
    ingest_file(con, path, detect(path))
    settings = LabelSettings(field_max_chars=500, cues=False)
    judge = seeded_judge(con, [("feedback_choice", turns[0], "3")])  # the second turn's call fails
    first = label_feedback(con, judge, "run-1", settings, embed=embedder)
    assert first.n_pending == 2 and labels_of(con) == {}  # the neutral turn is not finalised
    judge = seeded_judge(con, [("feedback_choice", turns[1], "3")])
    second = label_feedback(con, judge, "run-2", settings, embed=embedder)
    assert second.n_pending == 0 and set(labels_of(con)) == {0, 1}
    con.close()


@pytest.mark.parametrize("text, category", [
    ("Thank you so much!", 5), ("thanks a million you are very considerate", 5), ("谢谢", 5),
    ("Thanks! Can you also add a button that rewinds the video?", 4),
    ("That is perfect! Can you put that in the markup for me?", 4),
    ("I got an error: TypeError: store.on is not a function", 2),
    ("still not working, same results as before", 2),
    ("Great, but it still doesn't work on Windows", 2),
    ("no, I meant the other table", 2),
    ("This is useless, you ignored everything I said.", 1),
    ("Now write the same function in Go.", None), ("What is the capital of Peru?", None),
    ("that was not bad but the intros are too long", None),  # "not bad but": mixed, for the judge
    ("Write a story about a good dog", None),  # praise words that do not open the message
    # rejection (1) is the reply rejected whole: a bare verdict, contempt, exasperation at a repeat
    ("incorrect", 1), ("that's not what I asked", 1), ("wrong again. you gave the same answers", 1),
    ("no, we tried that before, you keep going back and forth between az cli and powershell!", 1),
    ("That's not right. It ends with three-hundred forty-five.", 2),  # says what is wrong: a correction
    # wrongness that is not a verdict on the reply, and words of contempt about something else
    ("Okay correct me if im wrong, but the middle pin is ground?", None),
    ("what's wrong with this? int main() { return 1 }", None), ("what is garbage collector in java", None),
    ("Thank you. You have been very helpful.", 5), ("ok thanks anyway", None),
    ("This is a terrible answer.", 1), ("it's a bad idea to use globals here, right?", None),
    ("That was a stupid question of mine, sorry. What about sets?", None),  # contempt, but not for the reply
])
def test_cues_settle_only_explicit_follow_ups(text, category):
    from rmcurate.rules.feedback.cues import cue
    found = cue(text)
    assert (found[0] if found else None) == category, found


def test_gold_cue_precision_holds(tmp_path):
    """The cue stage on the committed dev set: each cue right at least 80% of the time, and never silent."""

    from rmcurate.rules.feedback.cues import cue
    from rmcurate.stages.judge_eval import load_gold
    items = load_gold(GOLD)
    assert len(items) >= 300 and {x["label"] for x in items} == {1, 2, 3, 4, 5}
    settled = [(cue(x["feedback"]), x["label"]) for x in items]
    hits = [(c[0], label) for c, label in settled if c]
    assert len(hits) > 50 and sum(c == label for c, label in hits) / len(hits) >= 0.8


def test_undecided_neutral_asks_no_judge_and_cues_are_recorded(home, tmp_path, embedder):
    path, _ = two_turns(tmp_path)
    con = connect(home)
    ingest_file(con, path, detect(path))
    judge = seeded_judge(con, [])  # any call would fail: none may be made
    result = label_feedback(con, judge, "run-1", LabelSettings(field_max_chars=500, undecided="neutral"),
                            embed=embedder)
    assert judge.counts.requests == 0 and result.n_pending == 0
    assert rows(con, "SELECT turn_index, category, method, rule FROM feedback_labels JOIN turns USING (item_id) "
                     "ORDER BY 1") == [(0, 4, "cue", "thanks or praise, then a follow-up"),
                                       (1, 5, "cue", "thanks or praise only")]
    con.close()


def test_a_night_reads_only_conversations_above_the_watermark_and_the_backlog(home, tmp_path, embedder):
    from rmcurate.warehouse.feedback import pending_conversations, turns_of

    first = sample_file(tmp_path / "a", 40)
    records = json.loads(first.read_text())
    later = write_json(tmp_path / "later.json", records[-10:])  # a second ingest: ten more conversations
    write_json(first, records[:30])
    con = connect(home)
    ingest_file(con, first, detect(first))
    every = [c for (c,) in rows(con, "SELECT conversation_id FROM conversations ORDER BY 1")]
    assert pending_conversations(con, PIPELINE_VERSION) == every
    # The turns of a few conversations, built over their messages alone, are the view's rows for them.
    some = every[:7]
    scoped = [(t["item_id"], t["prompt"], t["response"], t["feedback"], t["n_history"]) for t in
              turns_of(con, some, PIPELINE_VERSION)]
    assert scoped and scoped == rows(con, """SELECT item_id, prompt, response, feedback, len(history) FROM turns
                                              WHERE list_contains(?, conversation_id)
                                              ORDER BY conversation_id, turn_index""", [some])
    settings = LabelSettings(field_max_chars=500, undecided="neutral")
    label_feedback(con, seeded_judge(con, []), "run-1", settings, embed=embedder)
    assert pending_conversations(con, PIPELINE_VERSION) == []  # read, turns or none: not read again
    ingest_file(con, later, detect(later))
    new = [c for (c,) in rows(con, "SELECT conversation_id FROM conversations WHERE ingest_id = 2 ORDER BY 1")]
    assert len(new) == 10 and pending_conversations(con, PIPELINE_VERSION) == new
    assert pending_conversations(con, "a-new-version") == sorted(every + new)  # a new version reads everything
    con.close()


def test_the_judge_audits_a_share_of_the_turns_the_cues_settled(home, tmp_path, embedder):
    """With a judge in use, turns settled without a call are put to it too at `audit_share`: the answer is
    stored beside the label, changes nothing, and the report says how often the judge agrees."""
    from rmcurate.warehouse.report import write_feedback_report

    path, turns = two_turns(tmp_path)  # both follow-ups open with thanks: the cues settle them (4, then 5)
    con = connect(home)
    ingest_file(con, path, detect(path))
    judge = seeded_judge(con, [("feedback_choice", turns[0], "4"), ("feedback_choice", turns[1], "3")])
    settings = LabelSettings(field_max_chars=500, undecided="judge", audit_share=1.0, first_pass=False)
    label_feedback(con, judge, "run-1", settings, embed=embedder)
    assert labels_of(con) == {0: {"category": 4, "method": "cue", "kept": True},
                              1: {"category": 5, "method": "cue", "kept": True}}  # the audit changed nothing
    assert rows(con, "SELECT t.turn_index, j.raw_category FROM feedback_judgements j JOIN turns t USING (item_id) "
                     "WHERE j.kind = 'audit' ORDER BY 1") == [(0, 4), (1, 3)]
    html = Path(write_feedback_report(con, home, "run-1")).read_text()
    assert "agrees with cue on 1 of 2" in html
    con.close()

    other = tmp_path / "no-audit"  # audit_share 0: no call for what the cues settled
    con = connect(other)
    ingest_file(con, path, detect(path))
    label_feedback(con, seeded_judge(con, []), "run-1", settings.model_copy(update={"audit_share": 0.0}),
                   embed=embedder)
    assert rows(con, "SELECT count(*) FROM feedback_judgements") == [(0,)]
    assert "agrees with" not in Path(write_feedback_report(con, other, "run-1")).read_text()
    con.close()
