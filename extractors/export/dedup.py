"""Exact and near-duplicate removal across an export (MinHash with LSH banding).

The first row in the given order is kept; later copies are dropped with a reason.
Hashes are fixed functions of the text (no Python `hash`), so the same rows give
the same result in every process.
"""
import hashlib
import re
from collections import defaultdict

import numpy as np

N_PERM = 128
BANDS, ROWS = 16, 8  # candidates from about 0.7 Jaccard; the estimate below decides
THRESHOLD = 0.8
SHINGLE = 3  # words
_P = np.uint64((1 << 31) - 1)
_rng = np.random.default_rng(20240601)
_A = _rng.integers(1, (1 << 31) - 1, N_PERM, dtype=np.uint64)
_B = _rng.integers(0, (1 << 31) - 1, N_PERM, dtype=np.uint64)
_WORD = re.compile(r"\w+")


def normalize(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _word_hashes(words: list[str], cache: dict[str, int]) -> np.ndarray:
    out = np.empty(len(words), dtype=np.uint64)
    for i, w in enumerate(words):
        h = cache.get(w)
        if h is None:
            h = cache[w] = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=4).digest(), "little") % int(_P)
        out[i] = h
    return out


def signature(text: str, cache: dict[str, int] | None = None) -> np.ndarray:
    """MinHash of the text's word 3-grams; a shingle's hash is a polynomial of its words' hashes."""
    w = _word_hashes(normalize(text).split() or [""], {} if cache is None else cache)
    n = max(1, len(w) - SHINGLE + 1)
    h = np.zeros(n, dtype=np.uint64)
    for k in range(min(SHINGLE, len(w))):
        h = (h * np.uint64(1_000_003) + w[k:k + n]) % _P  # stays below 2**63: both factors < 2**31
    h = np.unique(h)
    return ((np.outer(_A, h) + _B[:, None]) % _P).min(axis=1)


def duplicates(texts: list[str], threshold: float = THRESHOLD) -> list[str | None]:
    """For each text: None to keep it, or why it is dropped."""
    reasons: list[str | None] = [None] * len(texts)
    seen: dict[str, int] = {}
    kept: list[int] = []
    for i, t in enumerate(texts):
        key = hashlib.sha256(normalize(t).encode()).hexdigest()
        if key in seen:
            reasons[i] = "exact duplicate"
        else:
            seen[key] = i
            kept.append(i)
    buckets: dict[tuple, list[int]] = defaultdict(list)
    sigs: dict[int, np.ndarray] = {}
    cache: dict[str, int] = {}
    for i in kept:
        sig = sigs[i] = signature(texts[i], cache)
        bands = [(b, sig[b * ROWS:(b + 1) * ROWS].tobytes()) for b in range(BANDS)]
        match = None
        for band in bands:
            for j in buckets.get(band, ()):
                if float(np.mean(sigs[j] == sig)) >= threshold:
                    match = j
                    break
            if match is not None:
                break
        if match is not None:
            reasons[i] = "near duplicate"
            continue  # a dropped row must not pull in later rows as its own duplicates
        for band in bands:
            buckets[band].append(i)
    return reasons
