"""Training the learned first pass (rules/feedback/first_pass.py): `rmcurate judge first-pass`.

Rows, each a follow-up and its 1-5 category, weighted by how far we trust them:
- the judge dev set (judges/gold), read by hand: weight 1;
- with a home, the categories the cues gave in its past runs: weak labels (the cues are right
  about 9 times in 10 on the dev set), weight WEAK;
- with a home, its people's reviews (`rmcurate review`, the latest of each item): weight 1, as gold,
  so the first pass learns how this home's users correct its assistant;
- with a home labelled by a judge other than the embedded 135M one (which answers at chance and
  must never be learned from), that judge's categories, neutral included: weight DISTILL. So a big
  judge's decisions become a cheap model that takes the easy cases the next night.

Calibration is out of fold: 5-fold probabilities for every row the cues and the prefilter would
not settle (the only rows the first pass ever sees), counted per category and threshold: how many
answers, how many right. The label stage reads its threshold off that curve for the precision it
asks (`FirstPass.thresholds`).
"""
from dataclasses import dataclass

import numpy as np

from rmcurate.rules.feedback.cues import cue
from rmcurate.rules.feedback.first_pass import FEATURES_VERSION, THRESHOLDS, FirstPass, features
from rmcurate.rules.feedback.prefilter import obviously_neutral

WEAK, DISTILL = 0.3, 0.5
C = 1.0  # inverse regularisation (0.25, 0.5 and 1 measured alike: docs/benchmarks.md)
FOLDS = 5


@dataclass
class Rows:
    turns: list[dict]  # feedback, and prompt and response where known
    category: np.ndarray
    weight: np.ndarray
    source: list[str]  # gold | cue | judge

    def __len__(self) -> int:
        return len(self.turns)


def rows_of(gold: list[dict], learned: list[tuple[dict, int, str]] = ()) -> Rows:
    """Gold items (prompt, response, feedback, label) and learned (turn, category, source) rows."""
    turns = [{k: x.get(k) for k in ("prompt", "response", "feedback")} for x in gold] + [t for t, _, _ in learned]
    cat = [x["label"] for x in gold] + [c for _, c, _ in learned]
    src = ["gold"] * len(gold) + [s for _, _, s in learned]
    weight = [1.0 if s in ("gold", "review") else WEAK if s == "cue" else DISTILL for s in src]
    return Rows(turns, np.array(cat), np.array(weight), src)


def settled_without_model(feedback: str) -> bool:
    """Would the cues or the prefilter settle it? Then the first pass never sees it."""
    return bool(cue(feedback) or obviously_neutral(feedback))


def fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, curve=None) -> FirstPass:
    from sklearn.linear_model import LogisticRegression

    # class_weight="balanced": neutral is 6 in 10 follow-ups, and rare categories are the point
    m = LogisticRegression(C=C, max_iter=3000, class_weight="balanced").fit(X, y, sample_weight=w)
    coef = np.zeros((5, X.shape[1]), dtype=np.float32)
    intercept = np.full(5, -30.0, dtype=np.float32)  # a category never seen is never predicted
    for row, c in enumerate(m.classes_):
        coef[c - 1], intercept[c - 1] = m.coef_[row], m.intercept_[row]
    return FirstPass(coef, intercept, np.zeros((5, len(THRESHOLDS), 2), dtype=np.int32) if curve is None else curve)


def out_of_fold(X: np.ndarray, y: np.ndarray, w: np.ndarray, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold

    p = np.zeros((len(y), 5))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        p[test] = fit(X[train], y[train], w[train]).probabilities(X[test])
    return p


def calibration_curve(p: np.ndarray, y: np.ndarray, open_: np.ndarray) -> np.ndarray:
    """(5, len(THRESHOLDS), 2): per category and threshold, the open rows answered and answered right."""
    top, conf = p.argmax(axis=1) + 1, p.max(axis=1)
    curve = np.zeros((5, len(THRESHOLDS), 2), dtype=np.int32)
    for c in range(1, 6):
        for i, t in enumerate(THRESHOLDS):
            answered = open_ & (top == c) & (conf >= t)
            curve[c - 1, i] = answered.sum(), (y[answered] == c).sum()
    return curve


def train(rows: Rows, embed) -> FirstPass:
    """A first pass fitted on every row, its calibration curve from out-of-fold answers."""
    return train_on(features(rows.turns, embed), rows)


def train_on(X: np.ndarray, rows: Rows) -> FirstPass:
    """`train` on features already computed (the benchmark's folds reuse them)."""
    if min(np.bincount(rows.category, minlength=6)[c] for c in set(rows.category.tolist())) < FOLDS or \
            len(set(rows.category.tolist())) < 2:
        raise ValueError(f"the first pass needs at least two categories, each with {FOLDS} or more follow-ups")
    open_ = np.array([s != "cue" and not settled_without_model(t["feedback"]) for t, s in zip(rows.turns, rows.source)])
    p = out_of_fold(X, rows.category, rows.weight)
    model = fit(X, rows.category, rows.weight, calibration_curve(p, rows.category, open_))
    model.meta = {"features_version": FEATURES_VERSION, "rows": {s: rows.source.count(s) for s in sorted(set(rows.source))},
                  "categories": {str(c): int((rows.category == c).sum()) for c in range(1, 6)},
                  "open_rows": int(open_.sum()),
                  "open_by_category": {str(c): int((open_ & (rows.category == c)).sum()) for c in range(1, 6)}}
    return model


def train_for_home(home, gold: list[dict], use_home: bool = True, embed=None) -> FirstPass:
    """A first pass from the gold items and, with `use_home`, the home's cue labels and the labels of
    a judge other than the embedded one. Not saved: the caller decides where it goes."""
    from rmcurate.judges.embedded import SERVED_MODEL
    from rmcurate.stages.label import PIPELINE_VERSION
    from rmcurate.warehouse import connect
    from rmcurate.warehouse.feedback import learned_labels
    from rmcurate.warehouse.reviews import reviewed_gold

    learned = []
    if use_home:
        con = connect(home, read_only=True)
        try:
            reviewed = reviewed_gold(con)
            # a reviewed item's review replaces whatever the cues or a judge said of it
            ids = {r["item_id"] for r in reviewed}
            learned = [x for x in learned_labels(con, PIPELINE_VERSION, SERVED_MODEL) if x[0].get("item_id") not in ids]
            learned += [({k: r[k] for k in ("item_id", "prompt", "response", "feedback")}, r["label"], "review")
                        for r in reviewed]
        finally:
            con.close()
    if embed is None:
        from rmcurate.rules.feedback.embed import Embedder
        embed = Embedder()
    return train(rows_of(gold, learned), embed)
