"""Draw the follow-ups of the judge dev set from the bundled ShareGPT dump.

    python -m benchmarks.gold.sample HOME OUT.jsonl [--n 340]

HOME holds a warehouse with the whole bundled file ingested (`rmcurate
ingest`). Turns are drawn by a seeded hash from conversations past the first
300 (those are `make run`'s sample), in English or Chinese, whose reply has at
least 10 words and whose next user message is not empty: the turns a judge is
asked about. Labels are then added by hand (see README.md beside this file).

`--enriched` draws instead from turns whose next message holds a word of
judgement (EVALUATIVE below), skipping the random stratum's conversations:
explicit thanks and rejections are rare in a random draw, and a per-class
score needs some of each.
"""
import hashlib
import json
import re
import sys
from pathlib import Path

from rmcurate.rules.feedback import language
from rmcurate.stages.sources import SAMPLE_SIZE
from rmcurate.warehouse import connect

EVALUATIVE = re.compile(r"\b(thanks?|thank you|thx|great|perfect|awesome|excellent|amazing|love|nice|good|helpful|"
                        r"wrong|incorrect|not what|useless|doesn'?t work|didn'?t work|not working|error|mistake|"
                        r"bad|terrible|stupid|nonsense|no\b|nope)\b|谢谢|不对|错", re.I)


def draw(home: Path, n: int, seed: int = 17, enriched: bool = False, skip: set[str] = frozenset()) -> list[dict]:
    con = connect(home)
    rows = con.execute("""
        SELECT t.item_id, t.prompt, t.response, t.feedback FROM turns t JOIN conversations c USING (conversation_id)
        WHERE c.source_row >= ? AND t.prompt IS NOT NULL AND length(trim(t.feedback)) > 0
          AND len(string_split_regex(trim(t.response), '\\s+')) >= 10""", [SAMPLE_SIZE]).fetchall()
    con.close()
    rows.sort(key=lambda r: hashlib.sha256(f"{seed}:{r[0]}".encode()).hexdigest())
    out, seen = [], set()
    for item_id, prompt, response, feedback in rows:
        conv = item_id.split(":")[0]
        if enriched and not EVALUATIVE.search(feedback[:300]):
            continue
        if conv in seen or conv in skip:  # one turn per conversation: more users, less of one user's habits
            continue
        if language.detect(f"{prompt}\n{feedback}") not in ("en", "zh"):
            continue
        seen.add(conv)
        out.append({"item_id": item_id, "prompt": prompt, "response": response, "feedback": feedback})
        if len(out) == n:
            break
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    n = int(args[args.index("--n") + 1]) if "--n" in args else 340
    skip = set()
    if "--enriched" in args:  # --enriched RANDOM.jsonl: skip the random stratum's conversations
        skip = {json.loads(line)["item_id"].split(":")[0] for line in open(args[args.index("--enriched") + 1])}
    items = draw(Path(args[0]), n, enriched="--enriched" in args, skip=skip)
    Path(args[1]).write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in items))
    print(f"{len(items)} turns -> {args[1]}")
