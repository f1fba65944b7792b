"""Exact and near-duplicate removal across an export (MinHash with LSH banding).

The first row in the given order is kept; later copies are dropped with a reason.
Hashes are fixed functions of the text (no Python `hash`), so the same rows give
the same result in every process, and a row's exact key and signature can be
kept from one export to the next (warehouse/exports/row_cache.py). Signatures are
computed for many rows at once in numpy: per-row Python work is only the word
split. Only rows that share a band with another row are compared in Python.
"""
import hashlib
import re
from collections import defaultdict
from collections.abc import Callable

import numpy as np

N_PERM = 128
BANDS, ROWS = 16, 8  # candidates from about 0.7 Jaccard; the estimate below decides
THRESHOLD = 0.8
SHINGLE = 3  # words
WORD_CHARS = 16  # longer words are hashed by their first 16 characters
CHUNK = 256  # rows per numpy pass
_P = np.uint64((1 << 31) - 1)
_M = np.uint64(1_000_003)
_rng = np.random.default_rng(20240601)
# Multiply-shift hashing: (a*h + b) wraps mod 2**64, the top 32 bits are the value; no modulo to pay.
_A = _rng.integers(0, 1 << 63, N_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_B = _rng.integers(0, 1 << 63, N_PERM, dtype=np.uint64)
_C = _rng.integers(1, 1 << 31, WORD_CHARS, dtype=np.uint64)
_MIX = _rng.integers(0, 1 << 63, ROWS // 2, dtype=np.uint64) * np.uint64(2) + np.uint64(1)  # odd: band hashing
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower()) or [""]


def _word_hashes(flat: list[str]) -> np.ndarray:
    """A hash below 2**31 per word: code points (< 2**21) times fixed multipliers, summed."""
    codes = np.array(flat, dtype=f"U{WORD_CHARS}").view(np.uint32).reshape(len(flat), WORD_CHARS)
    return (codes.astype(np.uint64) * _C).sum(axis=1) % _P


def signatures(word_lists: list[list[str]]) -> np.ndarray:
    """MinHash signatures (rows x N_PERM, uint32) of word 3-grams; a row under 3 words is one shingle."""
    out = np.empty((len(word_lists), N_PERM), dtype=np.uint32)
    for lo in range(0, len(word_lists), CHUNK):
        part = word_lists[lo:lo + CHUNK]
        lens = np.array([len(ws) for ws in part])
        wh = _word_hashes([w for ws in part for w in ws])
        n_sh = np.maximum(1, lens - SHINGLE + 1)
        first = np.cumsum(n_sh) - n_sh  # each row's first shingle
        row_len = np.repeat(lens, n_sh)
        start = np.repeat(np.cumsum(lens) - lens, n_sh) + np.arange(n_sh.sum()) - np.repeat(first, n_sh)
        h = np.zeros(len(start), dtype=np.uint64)
        for k in range(SHINGLE):  # polynomial of the shingle's word hashes; both factors < 2**31
            take = k < row_len
            h[take] = (h[take] * _M + wh[start[take] + k]) % _P
        buf = np.empty_like(h)
        for p in range(N_PERM):  # one permutation at a time: the arrays stay in cache
            np.multiply(h, _A[p], out=buf)
            buf += _B[p]
            buf >>= np.uint64(32)
            out[lo:lo + len(part), p] = np.minimum.reduceat(buf, first)
    return out


def exact_key(ws: list[str]) -> str:
    """Rows with the same words in the same order (case and punctuation aside) share this key."""
    return hashlib.sha256(" ".join(ws).encode()).hexdigest()


def near_duplicates(exact: list[str], sigs: np.ndarray, threshold: float = THRESHOLD,
                    known: list[str | None] = ()) -> list[str | None]:
    """For each row in order (its exact key, its signature): None to keep it, or why it is dropped.

    `known`: the answer of an earlier call for a prefix of these rows. A row is decided by the rows
    before it only, so a prefix keeps its answer when rows are added after it; only the new rows
    are decided here, against the prefix's kept rows that share a band with one of them.
    """
    start = len(known)
    reasons: list[str | None] = list(known) + [None] * (len(exact) - start)
    seen: set[str] = set(exact[:start])  # every earlier row's key, a near duplicate's too
    old = [i for i in range(start) if reasons[i] is None]  # the prefix's kept rows
    new: list[int] = []
    for i in range(start, len(exact)):
        if exact[i] in seen:
            reasons[i] = "exact duplicate"
        else:
            seen.add(exact[i])
            new.append(i)
    if not new:
        return reasons
    rows = old + new  # in order: the prefix comes first
    is_new = np.zeros(len(rows), dtype=bool)
    is_new[len(old):] = True
    sigs = np.ascontiguousarray(sigs[rows])
    # Each band's 8 values hashed to one number (a collision only adds a candidate, which the
    # estimate below then judges). A new row none of whose bands another row shares, and an old row
    # that shares none with a new row, take no Python step.
    band_hash = (sigs.view(np.uint64).reshape(len(rows), BANDS, ROWS // 2) * _MIX).sum(axis=2)
    groups = np.empty(band_hash.shape, dtype=np.int64)
    step = np.zeros(len(rows), dtype=bool)
    for b in range(BANDS):
        _, inverse, counts = np.unique(band_hash[:, b], return_inverse=True, return_counts=True)
        groups[:, b] = inverse * BANDS + b  # one number per (band, group)
        with_new = np.bincount(inverse[is_new], minlength=len(counts)) > 0
        step |= (counts[inverse] > 1) & (is_new | with_new[inverse])
    buckets: dict[int, list[int]] = defaultdict(list)
    for pos in np.flatnonzero(step):
        mine = groups[pos].tolist()
        if is_new[pos]:
            earlier = {j for band in mine for j in buckets.get(band, ())}
            if earlier and ((sigs[list(earlier)] == sigs[pos]).mean(axis=1) >= threshold).any():
                reasons[rows[pos]] = "near duplicate"
                continue  # a dropped row must not pull in later rows as its own duplicates
        for band in mine:
            buckets[band].append(pos)
    return reasons


def duplicates(texts: list[str], threshold: float = THRESHOLD,
               sign: Callable[[list[list[str]]], np.ndarray] = signatures) -> list[str | None]:
    """For each text: None to keep it, or why it is dropped. `sign` computes the signatures (rows of
    word lists in, one row each out): `signatures` here, or the same over a cluster's workers."""
    word_lists = [words(t) for t in texts]
    return near_duplicates([exact_key(ws) for ws in word_lists], sign(word_lists), threshold)
