"""Train/test split by conversation, the same for every format of a snapshot and seed.

A conversation's split depends only on the seed and its id, so a model trained on
one format's train split never meets those conversations in another format's test split.
"""
import hashlib


def split_of(conversation_id: str, seed: int, test_fraction: float) -> str:
    digest = hashlib.sha256(f"{seed}\x1f{conversation_id}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"


def assign(conversations_of_rows: list[list[str]], seed: int, test_fraction: float) -> list[str | None]:
    """'train' or 'test' per row; None for a row whose conversations fall on both sides (a natural pair)."""
    memo: dict[str, str] = {}  # a conversation has several rows: hash it once
    out = []
    for convs in conversations_of_rows:
        sides = {memo.get(c) or memo.setdefault(c, split_of(c, seed, test_fraction)) for c in convs}
        out.append(sides.pop() if len(sides) == 1 else None)
    return out
