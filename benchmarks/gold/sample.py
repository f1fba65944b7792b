"""Draw the follow-ups of the judge dev set from the bundled ShareGPT dump.

    python -m benchmarks.gold.sample HOME OUT.jsonl [--n 340]
    python -m benchmarks.gold.sample HOME OUT.jsonl --draw NAME --n N --skip A.jsonl [B.jsonl ...]

HOME holds a warehouse with the whole bundled file ingested (`rmcurate
ingest`). Turns are drawn by a seeded hash from conversations past the first
SAMPLE_SIZE (`make run`'s sample; it also skips every dev-set conversation), one
turn per conversation, whose reply has at least 10 words and whose next user
message is not empty: the turns a judge is asked about. Labels are then added by
hand (see README.md beside this file).

The first draw is the random stratum (English or Chinese). `--draw NAME`
draws instead, in English, turns whose next message matches one of the word
lists below (DRAWS), skipping the conversations of the files given to --skip:
explicit thanks, corrections and rejections are rare in a random draw, and a
per-class score needs some of each. The words only choose which turns to read;
many of them are still neutral and are labelled so.
"""
import hashlib
import json
import re
import sys
from pathlib import Path

from rmcurate.rules.feedback import language
from rmcurate.stages.sources import SAMPLE_SIZE
from rmcurate.warehouse import connect

# The draws of the enriched stratum, by the name each item records in its `draw` field.
DRAWS = {
    "thanks": re.compile(r"^\W*(ok(ay)?\W+)?(thanks?|thank you|thx|ty|great|perfect|awesome|excellent|amazing|nice|"
                         r"cool|wonderful|fantastic|brilliant|good job|well done|love it)\b", re.I),
    "rejection": re.compile(
        r"\b(useless|nonsense|stupid|dumb|idiot|terrible|awful|rubbish|garbage|not helpful|unhelpful|makes no sense|"
        r"doesn'?t make (any )?sense|you are wrong|you'?re wrong|that'?s (not|wrong)|this is (not|wrong|bad)|"
        r"not what i|didn'?t answer|did not answer|you didn'?t|you did not|that is not|bad\b|wrong|incorrect|no,|"
        r"nope|you (keep|always|still))", re.I),
    "rejection-strong": re.compile(
        r"\b(useless|you are wrong|you'?re wrong|wrong again|not what i asked|that'?s not what|lying|you keep|"
        r"again\b.*wrong|terrible|stupid|nonsense|rubbish|garbage|waste of time|makes no sense|bad answer|"
        r"not helpful|incorrect again|still wrong)", re.I),
    "correction": re.compile(
        r"\b(should|instead|i said|i asked|still|again|remember|i'?m (on|using)|i am (on|using)|don'?t|doesn'?t|"
        r"didn'?t|isn'?t|not|missing|forgot|why|actually|wrong|error|fix|same|without|too (long|short)|only|but|"
        r"it says|i get|i got|you (used|wrote|gave|are))\b", re.I),
}
EVALUATIVE = re.compile(r"\b(thanks?|thank you|thx|great|perfect|awesome|excellent|amazing|love|nice|good|helpful|"
                        r"wrong|incorrect|not what|useless|doesn'?t work|didn'?t work|not working|error|mistake|"
                        r"bad|terrible|stupid|nonsense|no\b|nope)\b|谢谢|不对|错", re.I)


def candidates(home: Path, order: str) -> list[tuple[str, str, str, str]]:
    """(item_id, prompt, response, feedback) of every turn a judge would be asked about, outside
    `make run`'s conversations, in the order of a hash seeded with `order`."""
    con = connect(home)
    rows = con.execute("""
        SELECT t.item_id, t.prompt, t.response, t.feedback FROM turns t JOIN conversations c USING (conversation_id)
        WHERE c.source_row >= ? AND t.prompt IS NOT NULL AND length(trim(t.feedback)) > 0
          AND len(string_split_regex(trim(t.response), '\\s+')) >= 10""", [SAMPLE_SIZE]).fetchall()
    con.close()
    return sorted(rows, key=lambda r: hashlib.sha256(f"{order}:{r[0]}".encode()).hexdigest())


def take(rows, n: int, skip: set[str], keep) -> list[dict]:
    """The first `n` rows that `keep(prompt, feedback)` accepts, one turn per conversation (more
    users, less of one user's habits), none from the conversations in `skip`."""
    out, seen = [], set()
    for item_id, prompt, response, feedback in rows:
        conv = item_id.split(":")[0]
        if conv in seen or conv in skip or not keep(prompt, feedback):
            continue
        seen.add(conv)
        out.append({"item_id": item_id, "prompt": prompt, "response": response, "feedback": feedback})
        if len(out) == n:
            break
    return out


def draw(home: Path, n: int, seed: int = 17, enriched: bool = False, skip: set[str] = frozenset()) -> list[dict]:
    def keep(prompt, feedback):
        if enriched and not EVALUATIVE.search(feedback[:300]):
            return False
        return language.detect(f"{prompt}\n{feedback}") in ("en", "zh")

    return take(candidates(home, str(seed)), n, skip, keep)


def draw_named(home: Path, name: str, n: int, skip: set[str]) -> list[dict]:
    """`n` English turns whose follow-up's opening matches DRAWS[name], in the order of a hash seeded
    with the name (so each draw reads different conversations)."""
    def keep(prompt, feedback):
        if not DRAWS[name].search(feedback[:300]):
            return False
        if (name == "thanks" and len(feedback) >= 400) or (name == "correction" and len(feedback) > 1500):
            return False  # thanks-only is short; a correction under a pasted page is read with the page
        return language.detect(f"{prompt}\n{feedback}") == "en"

    return take(candidates(home, name), n, skip, keep)


def conversations_in(paths: list[str]) -> set[str]:
    return {json.loads(line)["item_id"].split(":")[0] for p in paths for line in open(p) if line.strip()}


if __name__ == "__main__":
    args = sys.argv[1:]
    n = int(args[args.index("--n") + 1]) if "--n" in args else 340
    if "--draw" in args:  # the dev set's conversations are always skipped, and those of --skip files
        from rmcurate.stages.sources import gold_conversations
        skip = gold_conversations() | conversations_in(args[args.index("--skip") + 1:] if "--skip" in args else [])
        items = draw_named(Path(args[0]), args[args.index("--draw") + 1], n, skip)
        Path(args[1]).write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in items))
        print(f"{len(items)} turns -> {args[1]}")
        sys.exit(0)
    skip = set()
    if "--enriched" in args:  # --enriched RANDOM.jsonl: skip the random stratum's conversations
        skip = {json.loads(line)["item_id"].split(":")[0] for line in open(args[args.index("--enriched") + 1])}
    items = draw(Path(args[0]), n, enriched="--enriched" in args, skip=skip)
    Path(args[1]).write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in items))
    print(f"{len(items)} turns -> {args[1]}")
