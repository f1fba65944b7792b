"""What the PII scrubber costs on real chat text: messages it changes, by kind, and its speed.

Runs the scrubber over the first 3,000 conversations of the bundled ShareGPT sample (what `make run`
uses). Real chats hold few real secrets, so most findings here are what a reader would call false
positives (code, versions, hashes, dates): the count per kind, with examples, is the figure to keep
low. `--module PATH` runs another copy of rules/pii.py (an older one, say) in the same way, so
before and after can be compared on the same text in the same run:

    python -m benchmarks.pii --module /tmp/pii_before.py

`--held-apart` measures instead on 2,000 messages the rules were never tuned on: conversations
12,000 to 12,999 of the dump (of 17,672), which neither `make run`, the tests nor this benchmark's default
read. Every finding there is printed with `--examples`, to be judged by a reader.
"""
import argparse
import importlib.util
import time
from collections import Counter

from rmcurate.readers.records import iter_json_array
from rmcurate.stages.sources import SAMPLE_SIZE, bundled_sharegpt


def load(path: str | None):
    if path is None:
        import rmcurate.rules.pii as pii

        return pii
    spec = importlib.util.spec_from_file_location("pii_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HELD_APART = (12_000, 13_000, 2_000)  # conversations [start, end), messages kept


def sample_messages(n_conversations: int = SAMPLE_SIZE, start: int = 0, limit: int | None = None) -> list[str]:
    texts = []
    for n, rec in enumerate(iter_json_array(bundled_sharegpt())):
        if rec.problem or n >= start + n_conversations or limit is not None and len(texts) >= limit:
            break
        if n < start:
            continue
        for turn in rec.value.get("conversations") or []:
            if isinstance(turn, dict) and isinstance(turn.get("value"), str) and turn["value"].strip():
                texts.append(turn["value"])
    return texts[:limit]


def measure(pii, texts: list[str], examples: int = 0) -> dict:
    kinds, changed, shown = Counter(), 0, Counter()
    t0 = time.perf_counter()
    for text in texts:
        found = pii.find(text)
        if found:
            changed += 1
            for kind in {k for _, _, k in found}:
                kinds[kind] += 1
            for start, end, kind in found:
                if shown[kind] < examples:
                    shown[kind] += 1
                    print(f"  {kind:>8}: ...{text[max(0, start - 40):start]!r} [{text[start:end]!r}] "
                          f"{text[end:end + 30]!r}...")
    seconds = time.perf_counter() - t0
    return {"messages": len(texts), "changed": changed, "by_kind": dict(kinds.most_common()),
            "messages_per_s": round(len(texts) / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", help="another copy of rules/pii.py to measure beside this one")
    parser.add_argument("--examples", type=int, default=0, help="print this many findings of each kind")
    parser.add_argument("--held-apart", action="store_true", help="the 2,000 messages the rules were not tuned on")
    args = parser.parse_args()
    start, end, limit = HELD_APART
    texts = sample_messages(end - start, start, limit) if args.held_apart else sample_messages()
    for name, path in (("before", args.module), ("now", None)) if args.module else (("now", None),):
        module = load(path)
        module.scrub.cache_clear()
        result = measure(module, texts, args.examples)
        print(f"{name}: {result['changed']} of {result['messages']} messages changed "
              f"({100 * result['changed'] / result['messages']:.2f}%), {result['messages_per_s']:,} messages/s; "
              f"by kind {result['by_kind']}")


if __name__ == "__main__":
    main()
