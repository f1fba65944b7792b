"""How far labels agree with people: per-category precision and recall with Wilson intervals, and
Cohen's kappa (quadratic weights for the ordinal 1-5 scale) with a bootstrap interval. Pure
functions on lists of categories; the report (warehouse/report.py) and `benchmarks/review_sim.py`
call them."""
import math
import random

CATEGORIES = (1, 2, 3, 4, 5)
Z95 = 1.959964


def wilson(hits: int, n: int) -> tuple[float, float] | None:
    """95% Wilson score interval of a proportion; None when there is nothing to count."""
    if n == 0:
        return None
    p = hits / n
    centre = (p + Z95 ** 2 / (2 * n)) / (1 + Z95 ** 2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n * n)) / (1 + Z95 ** 2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def per_category(truth: list[int], predicted: list[int]) -> dict[int, dict]:
    """Per category: precision and recall of `predicted` against `truth`, each with its count and interval."""
    out = {}
    for c in CATEGORIES:
        tp = sum(t == c and p == c for t, p in zip(truth, predicted))
        n_pred = sum(p == c for p in predicted)
        n_true = sum(t == c for t in truth)
        out[c] = {"precision": tp / n_pred if n_pred else None, "precision_n": n_pred,
                  "precision_ci": wilson(tp, n_pred), "recall": tp / n_true if n_true else None,
                  "recall_n": n_true, "recall_ci": wilson(tp, n_true)}
    return out


def kappa(a: list[int], b: list[int], weighted: bool = True) -> float | None:
    """Cohen's kappa of two raters over the five categories; quadratic weights when `weighted`.
    None when it is undefined (no items, or both raters always give one and the same category)."""
    n = len(a)
    if n == 0:
        return None
    k = len(CATEGORIES)
    index = {c: i for i, c in enumerate(CATEGORIES)}
    observed = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b):
        observed[index[x]][index[y]] += 1 / n
    rows = [sum(r) for r in observed]
    cols = [sum(observed[i][j] for i in range(k)) for j in range(k)]

    def w(i, j):
        return ((i - j) / (k - 1)) ** 2 if weighted else float(i != j)

    disagree_seen = sum(w(i, j) * observed[i][j] for i in range(k) for j in range(k))
    disagree_chance = sum(w(i, j) * rows[i] * cols[j] for i in range(k) for j in range(k))
    return None if disagree_chance == 0 else 1 - disagree_seen / disagree_chance


def kappa_interval(a: list[int], b: list[int], weighted: bool = True, resamples: int = 500,
                   seed: int = 0) -> tuple[float, float] | None:
    """95% percentile bootstrap interval of `kappa` over items."""
    if len(a) < 2:
        return None
    rng = random.Random(seed)
    values = []
    for _ in range(resamples):
        idx = [rng.randrange(len(a)) for _ in a]
        v = kappa([a[i] for i in idx], [b[i] for i in idx], weighted)
        if v is not None:
            values.append(v)
    if not values:
        return None
    values.sort()
    return values[int(0.025 * (len(values) - 1))], values[int(0.975 * (len(values) - 1))]
