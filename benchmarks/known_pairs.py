"""Pairs sets whose preference is known and learnable, from the bundled ShareGPT conversations.

Chosen: a conversation's first reply to its own first user message. Rejected, by kind:
- `other`: a reply of about the same length written for another conversation. A model that
  beats the length baseline (near chance here) has read the prompt.
- `shuffled`: the chosen reply's own words in a random order: same words, same length, only
  fluency tells them apart. A 135M model learns this one in a few CPU steps.
Written as a `trl` export, so every trainer objective reads it as it reads the flow's own.

    python -m benchmarks.known_pairs OUT [--kind other|shuffled] [--pairs 400] [--test 100]
"""
import argparse
import json
import random
from pathlib import Path

from rmcurate.readers.chunk import BadRecord
from rmcurate.readers.records import iter_json_array
from rmcurate.readers.sharegpt import parse_sharegpt
from rmcurate.rules.replies import replies_of
from rmcurate.stages.sources import bundled_sharegpt
from rmcurate.warehouse.exports.shards import write_shards


def first_replies(n: int, max_prompt: int, reply_chars: tuple[int, int]) -> list[dict]:
    """Up to n first (prompt, reply) turns of bundled conversations, short and mostly ASCII."""
    out = []
    for row, rec in enumerate(iter_json_array(bundled_sharegpt())):
        if rec.problem or len(out) >= n:
            break
        try:
            conv, messages = parse_sharegpt(rec.value, row)
        except BadRecord:
            continue
        for r in replies_of({conv["conversation_id"]: messages})[:1]:
            text = r["prompt"] + r["response"]
            if (10 <= len(r["prompt"]) <= max_prompt and reply_chars[0] <= len(r["response"]) <= reply_chars[1]
                    and sum(c.isascii() for c in text) >= 0.95 * len(text)):
                out.append(r)
    return out


def known_pairs(n: int, kind: str = "other", seed: int = 0, max_prompt: int = 200,
                reply_chars: tuple[int, int] = (60, 250)) -> list[dict]:
    """n trl rows {prompt, chosen, rejected}; `kind` says what the rejected reply is (see above)."""
    turns = first_replies(n + 1, max_prompt, reply_chars)
    if len(turns) < 2:
        raise ValueError("too few bundled conversations pass the filters")
    by_length = sorted(range(len(turns)), key=lambda i: len(turns[i]["response"]))
    rank = {i: k for k, i in enumerate(by_length)}
    rng = random.Random(seed)
    rows = []
    for i, t in enumerate(turns[:n]):
        if kind == "other":
            near = [j for j in (rank[i] - 1, rank[i] + 1) if 0 <= j < len(turns)]
            rejected = turns[by_length[rng.choice(near)]]["response"]
        elif kind == "shuffled":
            words = t["response"].split()
            rng.shuffle(words)
            rejected = " ".join(words)
            if rejected == " ".join(t["response"].split()):  # a shuffle that changed nothing
                rejected = " ".join(reversed(words))
        else:
            raise ValueError(f"unknown kind {kind!r}: other or shuffled")
        rows.append({"prompt": [{"role": "user", "content": t["prompt"]}],
                     "chosen": [{"role": "assistant", "content": t["response"]}],
                     "rejected": [{"role": "assistant", "content": rejected}]})
    return rows


def write_export(out: Path, rows: list[dict], n_test: int) -> Path:
    """A trl export folder (shards and manifest.json) with the last n_test rows as the test split."""
    split = {"train": rows[:-n_test], "test": rows[-n_test:]}
    shards = write_shards(out, "trl", split, 50_000, jsonl=False)
    manifest = {"format": "trl", "source": "benchmarks.known_pairs (bundled ShareGPT)",
                "splits": {k: {"rows": len(v)} for k, v in split.items()}, "shards": shards}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--kind", default="other", choices=("other", "shuffled"))
    ap.add_argument("--pairs", type=int, default=400)
    ap.add_argument("--test", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(write_export(args.out, known_pairs(args.pairs, args.kind, args.seed), args.test))


if __name__ == "__main__":
    main()
