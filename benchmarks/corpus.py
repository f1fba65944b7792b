"""A WildChat-schema Parquet corpus of N real conversations: the bundled ShareGPT dump, repeated
with new ids, for measuring rmcurate at WildChat's size (benchmarks/scale.py).

Each conversation of the dump (the judge dev set's left out, as in `make run`) becomes a WildChat
row: its messages in `conversation`, a fresh `conversation_hash`, a timestamp. Copy k of the dump
gets hashes that differ from copy k-1's, so every row is a new conversation to the warehouse, with
real text. `python -m benchmarks.corpus OUT -n 100000` writes one.
"""
import argparse
import hashlib
import json
from pathlib import Path

import pyarrow as pa

from benchmarks.wildchat_gen import write_parquet
from rmcurate.readers.chunk import BadRecord
from rmcurate.readers.records import iter_json_array
from rmcurate.readers.sharegpt import parse_sharegpt
from rmcurate.stages.sources import bundled_sharegpt, gold_conversations

MESSAGE = pa.struct([("content", pa.string()), ("role", pa.string()), ("language", pa.string()),
                     ("toxic", pa.bool_()), ("redacted", pa.bool_()), ("timestamp", pa.timestamp("us", tz="UTC"))])
START_US = 1_700_000_000_000_000


def base_conversations() -> list[list[tuple[str, str]]]:
    """The dump's loadable conversations (role, content), judge dev set excluded."""
    held_out = gold_conversations()
    out = []
    for n, rec in enumerate(iter_json_array(bundled_sharegpt())):
        if rec.problem:
            break
        try:
            conv, messages = parse_sharegpt(rec.value, n)
        except BadRecord:
            continue
        if conv["conversation_id"] in held_out or not messages:
            continue
        out.append([(m["role"], m["content"]) for m in messages])
    return out


def rows(base: list, first: int, n: int) -> pa.Table:
    """Rows first .. first+n of the corpus: conversation i is base[i % len(base)] under a new hash."""
    convs = [base[i % len(base)] for i in range(first, first + n)]
    ts = [START_US + i * 1_000_000 for i in range(first, first + n)]
    messages = [[{"content": c, "role": r, "language": "English", "toxic": False, "redacted": False,
                  "timestamp": t + j} for j, (r, c) in enumerate(conv)] for conv, t in zip(convs, ts)]
    return pa.table({
        "conversation_hash": [hashlib.md5(f"rmcurate-scale-{i}".encode()).hexdigest() for i in range(first, first + n)],
        "model": ["gpt-3.5-turbo"] * n,
        "timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "conversation": pa.array(messages, pa.list_(MESSAGE)),
        "turn": [sum(r == "user" for r, _ in conv) for conv in convs],
        "language": ["English"] * n,
        "toxic": [False] * n, "redacted": [False] * n,
        "country": ["United States"] * n, "hashed_ip": ["0" * 64] * n,
    })


def write(path: Path, n: int, first: int = 0, base: list | None = None, batch: int = 20_000) -> Path:
    """Conversations first .. first+n as one Parquet file (written whole, then renamed into place)."""
    base = base if base is not None else base_conversations()
    return write_parquet(path, (rows(base, start, min(batch, first + n - start))
                                for start in range(first, first + n, batch)), batch)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--first", type=int, default=0, help="the first conversation's number (a later night's file)")
    args = ap.parse_args()
    base = base_conversations()
    print(json.dumps({"base_conversations": len(base), "out": str(write(args.out, args.n, args.first, base))}))
