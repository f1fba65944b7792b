"""Issue 32's learned first pass, measured as the label stage runs it: does it catch corrections
the cues miss, at what precision?

    python -m benchmarks.first_pass [--precision 0.6] [--seed 0]

On the judge dev set (src/rmcurate/judges/gold): the cues and the prefilter settle what they can;
the first pass (rules/feedback/first_pass.py) answers the rest where it is confident; everything
else stays neutral, as the embedded default leaves it. Figures are for the random stratum only,
held out: its turns are split in 5 folds, and each fold is answered by a model trained, and its
threshold calibrated (stages/first_pass.py, by its own inner cross-validation), on every other
dev-set item (the enriched strata and the other four folds). Beside them: the cues alone.
Goal (issue 32): correction recall >= 0.4 at precision >= 0.6, macro-F1 >= 0.45.
"""
import argparse
import json
from collections import Counter

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold

from rmcurate.judges import GOLD
from rmcurate.rules.feedback.embed import Embedder
from rmcurate.rules.feedback.first_pass import features
from rmcurate.settings import LabelSettings
from rmcurate.stages.first_pass import rows_of, train_on
from rmcurate.stages.label import FIRST_PASS_PRECISION
from rmcurate.stages.judge_eval import categorise_gold


class NoJudge:
    """The embedded default's judge: never asked (undecided turns stay neutral)."""
    model = "none"

    def run(self, requests):
        assert not requests
        return []


def table(gold, predicted) -> str:
    p, r, f, n = precision_recall_fscore_support(gold, predicted, labels=[1, 2, 3, 4, 5], zero_division=0)
    lines = ["| category | precision | recall | F1 | gold | predicted |", "|---|---|---|---|---|---|"]
    for c in range(5):
        lines.append(f"| {c + 1} | {p[c]:.2f} | {r[c]:.2f} | {f[c]:.2f} | {n[c]} | {int((predicted == c + 1).sum())} |")
    return "\n".join(lines)


def figures(gold, predicted) -> str:
    p, r, _, _ = precision_recall_fscore_support(gold, predicted, labels=[2], zero_division=0)
    f1 = f1_score(gold, predicted, labels=[1, 2, 3, 4, 5], average="macro", zero_division=0)
    present = f1_score(gold, predicted, labels=sorted(set(gold.tolist())), average="macro", zero_division=0)
    return (f"correction precision {p[0]:.2f} recall {r[0]:.2f}; macro-F1 {f1:.3f} over categories 1-5, "
            f"{present:.3f} over those in the stratum; accuracy {np.mean(gold == predicted):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--precision", type=float, default=FIRST_PASS_PRECISION["neutral"],
                    help="precision asked of the first pass (the label stage's default when undecided turns count neutral)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the outer split of the random stratum")
    args = ap.parse_args()
    gold = [json.loads(line) for line in GOLD.read_text().split("\n") if line.strip()]
    rows = rows_of(gold)
    y = rows.category
    cues = categorise_gold([dict(x) for x in gold], NoJudge(), LabelSettings(cues=True, undecided="neutral"))
    cue_category = np.array([c["category"] or 3 for c in cues])
    settled = np.array([c["method"] in ("cue", "prefiltered") for c in cues])
    X = features(rows.turns, Embedder())
    random = np.array([i for i, x in enumerate(gold) if x.get("stratum") == "random"])
    final, chosen, answered = cue_category.copy(), [], 0
    for _, test in StratifiedKFold(5, shuffle=True, random_state=args.seed).split(random, np.minimum(y[random], 4)):
        test = random[test]
        train = np.setdiff1d(np.arange(len(y)), test)
        sub = rows_of([gold[i] for i in train])
        model = train_on(X[train], sub)
        chosen.append([float(t) if t <= 1 else None for t in model.thresholds(args.precision)])
        for i, a in zip(test, model.answers(X[test], args.precision)):
            if a and not settled[i]:
                final[i] = a[0]
                answered += 1
    g = y[random]
    print(f"dev set: {len(gold)} follow-ups ({dict(sorted(Counter(y.tolist()).items()))}); "
          f"random stratum {len(random)} ({dict(sorted(Counter(g.tolist()).items()))})")
    print(f"thresholds chosen per fold: {chosen}; the first pass answered {answered} of the stratum's "
          f"{int((~settled[random]).sum())} turns the cues left")
    print(f"cues alone:           {figures(g, cue_category[random])}")
    print(f"cues + first pass:    {figures(g, final[random])}")
    print("\ncues alone, per category (random stratum):\n" + table(g, cue_category[random]))
    print("\ncues + first pass, per category (random stratum):\n" + table(g, final[random]))


if __name__ == "__main__":
    main()
