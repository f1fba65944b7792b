"""Implicit mining: a neutral item borrows the label of a close later one.

WildReward's rule: look ahead up to `lookahead` later turns of the same
conversation (by turn number, so turns dropped in between still count as
distance); if one is rated 4 or 5 and its feedback message is similar to
this item's (cosine >= threshold), the neutral item takes that label. Unlike
their code, an item is relabelled at most once: the nearest qualifying later
item wins.
"""
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

POSITIVE = (4, 5)


@dataclass(frozen=True)
class Mined:
    item_id: str
    category: int
    source_item_id: str
    similarity: float


def candidates(items: Sequence[tuple[str, int | None, int]], lookahead: int = 2) -> list[tuple[int, int]]:
    """(neutral index, later positive index) pairs to compare, nearest first.

    items: (item_id, category, turn_index) of one conversation in turn order; a
    later item qualifies when it is at most `lookahead` turns after the neutral one.
    """
    pairs = []
    for i, (_, cat, turn) in enumerate(items):
        if cat != 3:
            continue
        for j in range(i + 1, len(items)):
            if items[j][2] - turn > lookahead:
                break
            if items[j][1] in POSITIVE:
                pairs.append((i, j))
    return pairs


def mine(conversations: Sequence[Sequence[tuple[str, int | None, str, int]]],
         embed: Callable[[list[str]], np.ndarray], lookahead: int = 2, threshold: float = 0.5) -> list[Mined]:
    """Relabel neutral items. Each conversation: (item_id, category, feedback, turn_index) in turn order.

    `embed` turns texts into L2-normalised vectors; it is called once, only
    for the feedback messages that take part in a comparison.
    """
    work = [(c, candidates([(i, cat, turn) for i, cat, _, turn in c], lookahead)) for c in conversations]
    texts: dict[str, str] = {}
    for conv, pairs in work:
        for i, j in pairs:
            texts[conv[i][0]], texts[conv[j][0]] = conv[i][2], conv[j][2]
    if not texts:
        return []
    ids = list(texts)
    vectors = dict(zip(ids, embed([texts[k] for k in ids])))
    mined = []
    for conv, pairs in work:
        done = set()
        for i, j in pairs:  # nearest later item first, so the first match wins
            if i in done:
                continue
            sim = float(np.dot(vectors[conv[i][0]], vectors[conv[j][0]]))
            if sim >= threshold:
                mined.append(Mined(conv[i][0], conv[j][1], conv[j][0], sim))
                done.add(i)
    return mined
