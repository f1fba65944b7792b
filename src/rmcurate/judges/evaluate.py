"""How well a judge's 1-5 categories agree with gold labels: plain numbers, no I/O.

Macro-F1 averages over all five categories (a category with no gold item and
no prediction scores 0), so always answering "neutral" scores about 0.18 on
real follow-ups, whatever the mix.
"""
import numpy as np

from rmcurate.rules.calibration import ece

CATEGORIES = (1, 2, 3, 4, 5)


def confusion(gold: list[int], pred: list[int | None]) -> list[list[int]]:
    """Rows: gold 1-5; columns: predicted 1-5, then 'none' (failed or unparseable)."""
    m = [[0] * 6 for _ in CATEGORIES]
    for g, p in zip(gold, pred):
        m[g - 1][(p - 1) if p in CATEGORIES else 5] += 1
    return m


def per_class(gold: list[int], pred: list[int | None]) -> dict[int, dict]:
    out = {}
    for c in CATEGORIES:
        tp = sum(g == c and p == c for g, p in zip(gold, pred))
        n_pred, n_gold = sum(p == c for p in pred), sum(g == c for g in gold)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[c] = {"precision": precision, "recall": recall, "f1": f1, "support": n_gold, "predicted": n_pred}
    return out


def calibration_error(confidence: list[float], correct: list[bool], bins: int = 10) -> float | None:
    """ECE of the chosen category's probability over equal-width bins; None without probabilities."""
    return ece(confidence, correct, bins) if confidence else None


def scores(gold: list[int], pred: list[int | None]) -> dict:
    classes = per_class(gold, pred)
    return {"n": len(gold), "accuracy": float(np.mean([g == p for g, p in zip(gold, pred)])) if gold else None,
            "macro_f1": float(np.mean([c["f1"] for c in classes.values()])), "per_class": classes,
            "confusion": confusion(gold, pred)}


def report(gold: list[int], pred: list[int | None], probs: list[dict[str, float] | None] | None = None) -> dict:
    """Scores of the judge, of always-neutral beside it, and the judge's calibration where it gave probabilities."""
    out = scores(gold, pred)
    baseline = scores(gold, [3] * len(gold))
    out["always_neutral"] = {"accuracy": baseline["accuracy"], "macro_f1": baseline["macro_f1"]}
    pairs = [(max(p.values()), max(p, key=p.get) == str(g)) for g, p in zip(gold, probs or []) if p]
    out["ece"] = calibration_error([c for c, _ in pairs], [ok for _, ok in pairs])
    out["n_with_probs"] = len(pairs)
    return out
