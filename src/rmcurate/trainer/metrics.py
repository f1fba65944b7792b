"""Evaluation on the test split: ranking, calibration, and for ordinal labels error and correlation."""

import numpy as np

from rmcurate.rules.calibration import ece
from rmcurate.schemas.values import dumps


def ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties sharing their average rank."""
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    _, inverse = np.unique(x, return_inverse=True)
    sums = np.bincount(inverse, weights=r)
    return sums[inverse] / np.bincount(inverse)[inverse]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def pair_accuracy(higher: np.ndarray, lower: np.ndarray) -> float:
    """Share of pairs the score orders right; a tie counts half."""
    if len(higher) == 0:
        return float("nan")
    return float(np.mean((higher > lower) + 0.5 * (higher == lower)))


def label_pairs(labels: np.ndarray, limit: int = 20_000, seed: int = 0, exact_below: int = 2_000
                ) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (better, worse) of test items with different labels: all of them for a small test
    set, else `limit` drawn at random (with replacement), never the n x n matrix (100k rows: 10 GB)."""
    n = len(labels)
    rng = np.random.default_rng(seed)
    if n < exact_below:
        i, j = np.nonzero(labels[:, None] > labels[None, :])
        if len(i) > limit:
            keep = rng.choice(len(i), limit, replace=False)
            i, j = i[keep], j[keep]
        return i, j
    if len(np.unique(labels)) < 2:
        return np.array([], dtype=int), np.array([], dtype=int)
    found_i, found_j, total = [], [], 0
    while total < limit:
        a, b = rng.integers(0, n, 2 * limit), rng.integers(0, n, 2 * limit)
        differ = labels[a] != labels[b]
        a, b = a[differ], b[differ]
        better = labels[a] > labels[b]
        found_i.append(np.where(better, a, b))
        found_j.append(np.where(better, b, a))
        total += len(a)
    return np.concatenate(found_i)[:limit], np.concatenate(found_j)[:limit]


def pairwise_metrics(chosen: np.ndarray, rejected: np.ndarray) -> dict:
    p = 1 / (1 + np.exp(-(chosen - rejected)))
    return {"pairwise_accuracy": pair_accuracy(chosen, rejected),
            "ece": ece(np.maximum(p, 1 - p), (p > 0.5) == True)}  # noqa: E712 - elementwise


def ordinal_metrics(score: np.ndarray, probs: np.ndarray | None, labels: np.ndarray) -> dict:
    i, j = label_pairs(labels)
    out = {"pairwise_accuracy": pair_accuracy(score[i], score[j]),
           "mae": float(np.mean(np.abs(score - labels))) if len(labels) else float("nan"),
           "spearman": spearman(score, labels)}
    if probs is not None:
        out["ece"] = ece(probs.max(1), probs.argmax(1) + 1 == labels)
    return out


def length_to_level(train_lengths: np.ndarray, train_labels: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The length baseline's level: a length's quantile among train replies, read off the train label spread."""
    if len(train_lengths) == 0:
        return np.full(len(lengths), np.nan)
    q = np.searchsorted(np.sort(train_lengths), lengths, side="right") / len(train_lengths)
    return np.quantile(np.sort(train_labels), np.clip(q, 0, 1), method="inverted_cdf").astype(float)


def auc(score: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve (ties count half); None when one class is missing."""
    positive = positive.astype(bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return None
    r = ranks(score)
    return float((r[positive].sum() - n_pos * (n_pos - 1) / 2) / (n_pos * n_neg))  # ranks are 0-based


def implicit_metrics(score: np.ndarray, targets: dict) -> dict:
    """How well a reward ranks replies: against what users did, and, in a simulated log, the hidden truth."""
    out = {"auc_vs_acted": auc(score, targets["acted"])}
    if targets.get("truth") is not None:
        out["auc_vs_truth"] = auc(score, targets["truth"])
        prob = 1 / (1 + np.exp(-score))
        out["mae_vs_truth"] = float(np.mean(np.abs(prob - targets["truth_p"])))
    return out


def write_json(path, value) -> None:
    path.write_text(dumps(value, indent=2))
