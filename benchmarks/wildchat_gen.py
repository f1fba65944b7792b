"""Synthetic WildChat-schema Parquet with realistic shapes, for benchmarks and tests.

Conversation lengths and message sizes follow WildChat's rough shape
(2-3 user turns on average, replies ~4x longer than prompts); every column
of the Hugging Face schema is present, moderation included.
"""
import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CATEGORIES = ["harassment", "harassment/threatening", "hate", "hate/threatening", "self-harm",
              "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence",
              "violence/graphic"]
DETOXIFY = ["identity_attack", "insult", "obscene", "severe_toxicity", "sexual_explicit", "threat", "toxicity"]
WORDS = ("the model answer code python error please thanks explain why how data table query function "
         "return value list user write story translate summary fix bug great wrong again example").split()


def _text_pool(rng, n_chars: int) -> str:
    words = rng.choice(WORDS, size=n_chars // 5)
    return " ".join(words)[:n_chars]


def _slices(rng, pool: str, lengths: np.ndarray) -> pa.Array:
    starts = rng.integers(0, len(pool) - lengths.max() - 1, size=len(lengths))
    return pa.array([pool[s:s + n] for s, n in zip(starts.tolist(), lengths.tolist())], pa.string())


def _struct(names, arrays):
    return pa.StructArray.from_arrays(arrays, names=names)


def batch(rng, n: int, first: int, pool: str, messy: bool = False) -> pa.Table:
    turns = np.minimum(rng.geometric(0.4, size=n), 30)
    n_msgs = turns * 2
    total = int(n_msgs.sum())
    offsets = np.concatenate([[0], np.cumsum(n_msgs)]).astype(np.int32)
    is_user = (np.arange(total) - np.repeat(offsets[:-1], n_msgs)) % 2 == 0
    lengths = np.where(is_user, rng.lognormal(5.0, 1.0, total), rng.lognormal(6.6, 0.8, total))
    lengths = np.clip(lengths, 1, 20000).astype(np.int64)
    roles = np.where(is_user, "user", "assistant").astype(object)
    if messy:  # as real WildChat dumps are: about a third open with a greeting and hold two questions in a row,
        # and 2% hold a message no reader knows (quarantined)
        swap = offsets[:-1][rng.random(n) < 0.35]
        roles[swap], roles[swap + 1] = "assistant", "user"
        roles[offsets[:-1][rng.random(n) < 0.02] + 1] = "tool"
    ts = pa.array(1_680_000_000_000_000 + rng.integers(0, 10**13, total), pa.timestamp("us", tz="UTC"))
    lang = pa.array(rng.choice(["English", "Chinese", "Russian"], size=total, p=[.6, .3, .1]))
    bools = lambda p, k: pa.array(rng.random(k) < p)  # noqa: E731
    message = _struct(
        ["content", "country", "hashed_ip", "header", "language", "redacted", "role", "state", "timestamp",
         "toxic", "turn_identifier"],
        [_slices(rng, pool, lengths), pa.array(np.where(is_user, "United States", None)),
         pa.array(np.where(is_user, "a" * 64, None)),
         _struct(["accept-language", "user-agent"], [pa.array(np.where(is_user, "en-US", None)),
                                                     pa.array(np.where(is_user, "Mozilla/5.0", None))]),
         lang, bools(.01, total), pa.array(roles, pa.string()),
         pa.array(np.where(is_user, "California", None)), ts, bools(.02, total),
         pa.array(rng.integers(0, 10**8, total))])
    scores = _struct(CATEGORIES, [pa.array(rng.random(total) * 1e-3) for _ in CATEGORIES])
    flags = _struct(CATEGORIES, [bools(.001, total) for _ in CATEGORIES])
    moderation = _struct(["categories", "category_scores", "flagged"], [flags, scores, bools(.01, total)])
    detox = _struct(DETOXIFY, [pa.array(rng.random(total) * 1e-3) for _ in DETOXIFY])
    lists = lambda values: pa.ListArray.from_arrays(pa.array(offsets), values)  # noqa: E731
    hashes = [f"{i:032x}" for i in range(first, first + n)]
    return pa.table({
        "conversation_hash": pa.array(hashes),
        "model": pa.array(rng.choice(["gpt-3.5-turbo-0613", "gpt-4-0314"], size=n)),
        "timestamp": pa.array(1_680_000_000_000_000 + rng.integers(0, 10**13, n), pa.timestamp("us", tz="UTC")),
        "conversation": lists(message),
        "turn": pa.array(turns.astype(np.int64)),
        "language": pa.array(rng.choice(["English", "Chinese", "Russian"], size=n, p=[.6, .3, .1])),
        "openai_moderation": lists(moderation),
        "detoxify_moderation": lists(detox),
        "toxic": bools(.02, n), "redacted": bools(.01, n),
        "state": pa.array(["California"] * n), "country": pa.array(["United States"] * n),
        "hashed_ip": pa.array(["b" * 64] * n),
        "header": _struct(["accept-language", "user-agent"], [pa.array(["en-US"] * n), pa.array(["Mozilla/5.0"] * n)]),
    })


def write_parquet(path: Path, tables, row_group_size: int) -> Path:
    """The tables, one after another, as one zstd Parquet file (written aside, then renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    writer = None
    for table in tables:
        writer = writer or pq.ParquetWriter(tmp, table.schema, compression="zstd")
        writer.write_table(table, row_group_size=row_group_size)
    writer.close()
    tmp.rename(path)
    return path


def generate(path: Path, n: int, seed: int = 0, first: int = 0, batch_size: int = 10_000, messy: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    pool = _text_pool(rng, 2_000_000)
    return write_parquet(path, (batch(rng, min(batch_size, n - start), first + start, pool, messy)
                                for start in range(0, n, batch_size)), batch_size)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    generate(args.out, args.n, args.seed)
