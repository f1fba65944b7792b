"""Issue 32's learned first pass, measured before it is built: can a small head on the MiniLM
embeddings we ship catch corrections the cues miss?

    python -m benchmarks.first_pass [--folds 5]

On the judge dev set (src/rmcurate/judges/gold): the stage's own cues settle what they can; a
logistic regression on the follow-up's MiniLM embedding may then call the rest a correction (2)
when its probability reaches a threshold; everything else stays neutral, as the embedded default
leaves it. Figures are cross-validated: each outer fold's model and threshold come from the other
folds only (the threshold by an inner cross-validation: the lowest whose correction precision
there is >= 0.6), and the figures are those of the held-out items of the random stratum, beside
the cues alone. Goal (issue 32): correction recall >= 0.4 at precision >= 0.6, macro-F1 >= 0.45.
"""
import argparse
import json

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold

from rmcurate.judges import GOLD
from rmcurate.rules.feedback.embed import Embedder
from rmcurate.settings import LabelSettings
from rmcurate.stages.judge_eval import categorise_gold

THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)


class NoJudge:
    """The embedded default's judge: never asked (undecided turns stay neutral)."""
    model = "none"

    def run(self, requests):
        assert not requests
        return []


def p_correction(X, y, train, test, C: float) -> np.ndarray:
    model = LogisticRegression(C=C, max_iter=2000, class_weight="balanced").fit(X[train], y[train])
    return model.predict_proba(X[test])[:, list(model.classes_).index(2)]


def pick_threshold(X, y, settled, train, C: float, folds: int) -> float:
    """The lowest threshold whose correction precision, out of fold within `train`, is >= 0.6."""
    p = np.zeros(len(train))
    for inner_tr, inner_te in StratifiedKFold(folds, shuffle=True, random_state=1).split(train, np.minimum(y[train], 4)):
        p[inner_te] = p_correction(X, y, train[inner_tr], train[inner_te], C)
    open_ = ~settled[train]
    for t in THRESHOLDS:
        called = open_ & (p >= t)
        if called.sum() and (y[train][called] == 2).mean() >= 0.6:
            return t
    return 1.1  # nothing reaches it: the head stays silent


def figures(gold_labels, predicted) -> str:
    p, r, _, _ = precision_recall_fscore_support(gold_labels, predicted, labels=[2], zero_division=0)
    f1 = f1_score(gold_labels, predicted, labels=[1, 2, 3, 4, 5], average="macro", zero_division=0)
    return (f"correction precision {p[0]:.2f} recall {r[0]:.2f}, macro-F1 {f1:.3f}, "
            f"accuracy {np.mean(gold_labels == predicted):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--C", type=float, default=0.5, help="inverse regularisation of the head")
    args = ap.parse_args()
    gold = [json.loads(line) for line in GOLD.read_text().split("\n") if line.strip()]
    y = np.array([x["label"] for x in gold])
    random = np.array([x.get("stratum") == "random" for x in gold])
    cues = categorise_gold([dict(x) for x in gold], NoJudge(), LabelSettings(cues=True, undecided="neutral"))
    cue_category = np.array([c["category"] or 3 for c in cues])
    settled = np.array([c["method"] in ("cue", "prefiltered") for c in cues])
    X = Embedder()([x["feedback"][:1000] for x in gold])
    final = cue_category.copy()
    chosen = []
    for train, test in StratifiedKFold(args.folds, shuffle=True, random_state=0).split(X, np.minimum(y, 4)):
        t = pick_threshold(X, y, settled, train, args.C, args.folds)
        chosen.append(t)
        p = p_correction(X, y, train, test, args.C)
        final[test] = np.where(settled[test], cue_category[test], np.where(p >= t, 2, 3))
    print(f"dev set: {len(gold)} items, random stratum {random.sum()} ({(y[random] == 2).sum()} corrections); "
          f"thresholds chosen per fold: {', '.join(f'{t:g}' for t in chosen)}")
    print(f"cues alone (random stratum):               {figures(y[random], cue_category[random])}")
    print(f"cues + correction head (random, held out): {figures(y[random], final[random])}")
    print(f"cues + correction head (all, held out):    {figures(y, final)}")


if __name__ == "__main__":
    main()
