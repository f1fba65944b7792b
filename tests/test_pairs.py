"""RMBoost pairs: seeded conditions, strict parsing, each validation rule, and the stage
with the real embedded vLLM judge; natural pairs from labels on a real warehouse."""
from datetime import UTC, datetime

import pytest

from rmcurate.judges.cache import CachedJudge
from rmcurate.judges.vllm_http import HttpJudge
from rmcurate.prompts.templates import load
from rmcurate.readers import detect
from rmcurate.rules.pii import scrub
from rmcurate.rules.rmboost import ASPECTS, condition, parse_response, template_markers, validate
from rmcurate.schemas.feedback import FeedbackLabel
from rmcurate.settings import LabelSettings, PairSettings
from rmcurate.stages.label import PIPELINE_VERSION as LABEL_VERSION
from rmcurate.stages.label import label_feedback
from rmcurate.stages.pairs import add_natural_pairs, has_seeds, synthesize_pairs
from rmcurate.stages.sources import sample_file
from rmcurate.warehouse import connect, ingest_file
from rmcurate.warehouse.feedback import insert_models
from rmcurate.warehouse.judge_calls import DuckCallStore

from conftest import rows, write_json

MARKERS = template_markers(text for _, text in load("rmboost_rewrite").messages)
Y1 = "To reverse a list in Python, call xs.reverse() to change it in place, or use xs[::-1] for a new list."


def test_same_seed_same_conditions_and_balanced_labels():
    items = [f"c{i}:1" for i in range(400)]
    first = [condition(i, seed=7, k=2) for i in items]
    assert first == [condition(i, seed=7, k=2) for i in items]
    assert first != [condition(i, seed=8, k=2) for i in items]
    better = sum(label == "better" for label, _ in first)
    assert 160 < better < 240
    assert all(len(a) == 2 and set(a) <= set(ASPECTS) for _, a in first)
    assert len(condition("x", seed=1, k=3)[1]) == 3


def test_parsing_is_strict():
    assert parse_response("<response>\nA better answer.\n</response>") == "A better answer."
    for bad in ["A better answer.", "Sure! <response>x</response>", "<response>a</response><response>b</response>",
                "<response>  </response>", "<response>cut off by max_tokens", None]:
        assert parse_response(bad) is None, bad


@pytest.mark.parametrize("y2, reason", [
    ("To reverse a Python list, use reversed(xs) for an iterator, or xs[::-1] for a copy; xs.reverse() "
     "works in place.", None),
    (None, "empty or unparseable output"),
    (Y1, "identical to y1"),
    (Y1.replace("Python", "Python 3"), "near-identical"),
    ("Use xs[::-1].", "length"),
    (" ".join([Y1] * 4), "length"),
    ("Pour inverser une liste en Python, appelez xs.reverse() pour la modifier sur place, ou xs[::-1].", "language"),
    ("I'm sorry, but I cannot help with reversing lists in Python today, as an AI.", "refusal where y1 answered"),
    ("Direction: WORSE\nTo reverse a list you could maybe try xs.reverse(), I think it sometimes works.",
     "template text in output (Direction:)"),
    ("Reverse it with xs[::-1], or xs.reverse() in place.\nAspects: correctness, helpfulness",
     "template text in output (Aspects:)"),
    ("[COMMENT] Use xs.reverse() to reverse a Python list in place, or slicing for a copy.",
     "template text in output ([COMMENT])"),
])
def test_each_validation_rule(y2, reason):
    got = validate(Y1, y2, markers=MARKERS)
    assert (got is None) if reason is None else (got is not None and reason in got), got


def test_stage_builds_pairs_and_reruns_without_calls(home, judge_url):
    con = connect(home)
    sample = sample_file(home, 30)
    ingest_file(con, sample, detect(sample))
    judge = CachedJudge(HttpJudge([judge_url], max_in_flight=32), DuckCallStore(con))
    label_feedback(con, judge, "run-1", LabelSettings(field_max_chars=500))
    settings = PairSettings(max_seeds=100, field_max_chars=700, max_y2_chars=600,
                            seed_filter="l.kept AND length(t.response) <= 1400")
    # max_seeds 0 turns generation off: the stage does not even look for seeds (nor start a judge)
    assert has_seeds(con, settings) and not has_seeds(con, PairSettings(max_seeds=0))
    result = synthesize_pairs(con, judge, "run-1", settings)
    n = result.n_seeds
    assert n >= 5 and result.n_pending == 0
    assert result.n_kept >= 1, result
    assert result.n_kept + sum(result.drops.values()) == n
    assert rows(con, "SELECT count(*) FROM pairs WHERE chosen = rejected") == [(0,)]
    assert rows(con, "SELECT count(*) FROM pair_attempts") == [(n,)]
    # the model saw every y1 whole: a longer reply is a recorded drop, never a pair built on a cut y1
    assert rows(con, """SELECT count(*) FROM pairs p JOIN turns t ON t.item_id = p.source_item_id
                        WHERE origin = 'rmboost' AND length(t.response) > 700""") == [(0,)]
    long = rows(con, """SELECT count(*), count(*) FILTER (NOT a.kept AND a.drop_reason LIKE '%rewrite window%')
                        FROM pair_attempts a JOIN turns t ON t.item_id = a.source_item_id
                        WHERE length(t.response) > 700""")[0]
    assert long[0] >= 1 and long[0] == long[1]
    # every kept pair was verified in both orders, so inverted pairs are visible
    assert sum(result.verification.values()) == result.n_kept
    # with GRAM's read-out from the A/B logprobs of both orders, stored beside the vote
    assert len(result.p_better) == result.n_kept and all(0 <= p <= 1 for p in result.p_better)
    assert rows(con, """SELECT count(*) FROM pairs WHERE origin = 'rmboost' AND verifier_p_chosen IS NOT NULL
                        AND verifier_model IS NOT NULL""") == [(result.n_kept,)]
    # each stored condition is the seeded draw, and the pair's order follows it
    for item_id, label, aspects, chosen, rejected, response in rows(con, """
            SELECT p.source_item_id, p.intended_label, p.aspects, p.chosen, p.rejected, t.response
            FROM pairs p JOIN turns t ON t.item_id = p.source_item_id WHERE origin = 'rmboost'"""):
        assert (label, aspects) == condition(item_id, 0, 2)
        assert (rejected if label == "better" else chosen) == scrub(response)  # y1 as the judge saw it
    sent = judge.counts.sent
    again = synthesize_pairs(con, judge, "run-2", settings)
    assert again.n_seeds == 0 and judge.counts.sent == sent  # every seed tried: nothing to ask
    con.execute("DELETE FROM pair_attempts; DELETE FROM pairs")
    redo = synthesize_pairs(con, judge, "run-3", settings)
    assert judge.counts.sent == sent  # the same seeded requests: all answered by the cache
    assert (redo.n_kept, redo.drops) == (result.n_kept, result.drops)
    con.close()


def test_natural_pairs_from_two_labelled_replies_to_one_prompt(home, tmp_path):
    ask = {"from": "human", "value": "How do I reverse a list in Python?"}
    convs = [{"id": f"branch-{i}", "conversations": [ask, {"from": "gpt", "value": reply},
                                                     {"from": "human", "value": feedback}]}
             for i, (reply, feedback) in enumerate([(Y1, "thanks, perfect"), ("Lists cannot be reversed.", "wrong")])]
    con = connect(home)
    path = write_json(tmp_path / "branches.json", convs)
    ingest_file(con, path, detect(path))
    now = datetime.now(UTC)
    labels = [FeedbackLabel(item_id=item, conversation_id=conv, category=cat, label=lab, method="judged", kept=True,
                            pipeline_version=LABEL_VERSION, run_id="r", labeled_at=now)
              for (item, conv, resp), (cat, lab) in zip(
                  rows(con, "SELECT item_id, conversation_id, response FROM turns ORDER BY response DESC"),
                  [(5, 4), (1, 1)])]
    insert_models(con, "feedback_labels", labels)
    assert add_natural_pairs(con, "r") == 1
    assert add_natural_pairs(con, "r") == 0  # never twice
    (chosen, rejected, prompt), = rows(con, "SELECT chosen, rejected, prompt FROM pairs WHERE origin = 'natural'")
    assert (chosen, rejected) == (Y1, "Lists cannot be reversed.")
    assert prompt == [{"role": "user", "content": ask["value"], "tool_calls": None, "tool_call_id": None}]
    # A later night labels a third reply to the same question: it pairs with both earlier ones, and only
    # the new label needed its context read (the others keep the hash the first pass gave them).
    third = write_json(tmp_path / "third.json", [{"id": "branch-2", "conversations": [
        ask, {"from": "gpt", "value": "Use reversed(xs)."}, {"from": "human", "value": "ok"}]}])
    ingest_file(con, third, detect(third))
    (item, conv), = rows(con, "SELECT item_id, conversation_id FROM turns WHERE response = 'Use reversed(xs).'")
    insert_models(con, "feedback_labels", [FeedbackLabel(
        item_id=item, conversation_id=conv, category=2, label=2, method="judged", kept=True,
        pipeline_version=LABEL_VERSION, run_id="r2", labeled_at=now)])
    assert rows(con, "SELECT count(*) FROM feedback_labels WHERE context_hash IS NULL") == [(1,)]
    assert add_natural_pairs(con, "r2") == 2
    assert rows(con, "SELECT chosen, rejected FROM pairs WHERE run_id = 'r2' ORDER BY 1") == \
        [(Y1, "Use reversed(xs)."), ("Use reversed(xs).", "Lists cannot be reversed.")]
    assert rows(con, "SELECT count(DISTINCT context_hash), count(*) FROM feedback_labels") == [(1, 3)]
    con.close()
