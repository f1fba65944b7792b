"""The review queue and the reviews: filled by strategies, read one item at a time, written one
review at a time, exported and imported for teams that annotate elsewhere.

Strategies, each a share of the items queued (`fill`):
- random: a uniform draw from the labelled turns, the only unbiased measure of label quality on
  this home's traffic (the report's review section measures on these alone);
- uncertain: the first pass's and the judge's answers given with the lowest probability;
- disagree: turns the audit judge placed in another category than the label;
- similar: turns whose follow-up is nearest (MiniLM cosine) to one a reviewer corrected.
An item is queued once, under the first strategy that picked it; the page shows strategies
interleaved. Several reviewers may review one item; each sees the others' count.
"""
import csv
import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from rmcurate.schemas.tables import TABLES

STRATEGIES = ("random", "uncertain", "disagree", "similar")
LABELLED = f"""SELECT l.item_id, l.category, l.method, l.confidence FROM {TABLES.feedback_labels} l
               WHERE l.pipeline_version = ? AND l.category IS NOT NULL"""


class ReviewError(ValueError):
    """A review file or a request that cannot be taken: one line."""


def shares(text: str) -> dict[str, float]:
    """'random=0.4,uncertain=0.2,...' -> {strategy: share}, shares summing to 1."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if name.strip() not in STRATEGIES:
            raise ReviewError(f"unknown review strategy {name.strip()!r} (known: {', '.join(STRATEGIES)})")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ReviewError(f"the share of {name.strip()} is not a number: {value!r}") from None
    total = sum(out.values())
    if total <= 0 or any(v < 0 for v in out.values()):
        raise ReviewError("review strategy shares must be >= 0 and not all 0")
    return {k: v / total for k, v in out.items()}


def _fresh(version: str) -> str:
    """Labelled items neither queued nor reviewed yet."""
    return f"""SELECT * FROM ({LABELLED}) x
               WHERE NOT EXISTS (SELECT 1 FROM {TABLES.review_queue} q WHERE q.item_id = x.item_id)
                 AND NOT EXISTS (SELECT 1 FROM {TABLES.reviews} r WHERE r.item_id = x.item_id)"""


def pick(con, strategy: str, n: int, version: str, seed: int = 0, embed=None) -> list[str]:
    """Up to `n` item ids the strategy chooses among the fresh items."""
    if n <= 0:
        return []
    fresh = _fresh(version)
    if strategy == "random":
        sql = f"SELECT item_id FROM ({fresh}) ORDER BY hash(item_id || ?::VARCHAR) LIMIT ?"
        return [r[0] for r in con.execute(sql, [version, seed, n]).fetchall()]
    if strategy == "uncertain":
        sql = f"""SELECT item_id FROM ({fresh}) WHERE method IN ('first_pass', 'judged') AND confidence IS NOT NULL
                  ORDER BY confidence, item_id LIMIT ?"""
        return [r[0] for r in con.execute(sql, [version, n]).fetchall()]
    if strategy == "disagree":
        sql = f"""SELECT f.item_id FROM ({fresh}) f JOIN {TABLES.feedback_judgements} j
                    ON j.item_id = f.item_id AND j.kind = 'audit' AND j.raw_category IS NOT NULL
                  WHERE j.raw_category <> f.category
                  GROUP BY f.item_id ORDER BY max(abs(j.raw_category - f.category)) DESC, f.item_id LIMIT ?"""
        return [r[0] for r in con.execute(sql, [version, n]).fetchall()]
    if strategy == "similar":
        return _similar(con, fresh, n, version, embed)
    raise ReviewError(f"unknown review strategy {strategy!r}")


def _similar(con, fresh: str, n: int, version: str, embed, pool: int = 5000) -> list[str]:
    """Fresh items nearest to the ones reviewers corrected (their category differs from the label's)."""
    corrected = [r[0] for r in con.execute(f"""
        SELECT t.feedback FROM {TABLES.reviews} r JOIN {TABLES.turns} t USING (item_id)
        WHERE r.category IS NOT NULL AND r.category IS DISTINCT FROM r.label_category""").fetchall()]
    if not corrected or embed is None:
        return []
    candidates = con.execute(f"""SELECT f.item_id, t.feedback FROM ({fresh}) f JOIN {TABLES.turns} t USING (item_id)
                                 ORDER BY hash(f.item_id) LIMIT ?""", [version, pool]).fetchall()
    if not candidates:
        return []
    import numpy as np

    a, b = np.asarray(embed(corrected)), np.asarray(embed([c[1] for c in candidates]))
    nearest = (b @ a.T).max(axis=1)
    return [candidates[i][0] for i in np.argsort(-nearest)[:n]]


def fill(con, n: int, version: str, weights: dict[str, float], seed: int = 0, embed=None) -> dict[str, int]:
    """Queue about `n` new items, each strategy its share (what one cannot fill, random fills).
    Returns how many each strategy queued."""
    now = datetime.now(UTC)
    start = con.execute(f"SELECT coalesce(max(priority), 0) FROM {TABLES.review_queue}").fetchone()[0]
    queued: dict[str, list[str]] = {}
    taken: set[str] = set()
    for strategy, share in weights.items():
        if strategy == "random":
            continue
        ids = [i for i in pick(con, strategy, round(n * share), version, seed, embed) if i not in taken]
        queued[strategy] = ids
        taken.update(ids)
    rest = n - len(taken)
    queued["random"] = [i for i in pick(con, "random", rest + len(taken), version, seed) if i not in taken][:rest]
    rows, k = [], 0
    lists = {s: ids for s, ids in queued.items() if ids}
    while any(lists.values()):  # interleaved: a page of reviews samples every strategy
        for strategy, ids in lists.items():
            if ids:
                k += 1
                rows.append((ids.pop(0), strategy, start + k, version, now))
    if rows:
        con.executemany(f"INSERT INTO {TABLES.review_queue} VALUES (?, ?, ?, ?, ?)", rows)
    return {s: sum(r[1] == s for r in rows) for s in STRATEGIES if any(r[1] == s for r in rows)}


ITEM = f"""
    SELECT q.item_id, q.strategy, t.prompt, t.response, t.feedback, t.history, t.language,
           l.category AS label_category, l.method AS label_method, l.confidence AS label_confidence,
           (SELECT count(DISTINCT reviewer) FROM {TABLES.reviews} o WHERE o.item_id = q.item_id) AS reviewers
    FROM {TABLES.review_queue} q
    JOIN {TABLES.turns} t USING (item_id)
    LEFT JOIN {TABLES.feedback_labels} l ON l.item_id = q.item_id AND l.pipeline_version = q.pipeline_version"""


def next_item(con, reviewer: str) -> dict | None:
    """The first queued item this reviewer has not reviewed (or skipped), with what the page shows."""
    cur = con.execute(f"""{ITEM} WHERE NOT EXISTS (SELECT 1 FROM {TABLES.reviews} r
                                                  WHERE r.item_id = q.item_id AND r.reviewer = ?)
                          ORDER BY q.priority LIMIT 1""", [reviewer])
    row = cur.fetchone()
    if row is None:
        return None
    item = dict(zip([d[0] for d in cur.description], row))
    item["history"] = [{"role": m["role"], "content": m["content"]} for m in item["history"] or []]
    return item


def remaining(con, reviewer: str) -> int:
    return con.execute(f"""SELECT count(*) FROM {TABLES.review_queue} q WHERE NOT EXISTS (
                             SELECT 1 FROM {TABLES.reviews} r WHERE r.item_id = q.item_id AND r.reviewer = ?)""",
                       [reviewer]).fetchone()[0]


def save(con, item_id: str, reviewer: str, category: int | None, note: str | None = None,
         strategy: str | None = None) -> str:
    """Store one review (category None: skipped) beside the label it saw; returns its id."""
    if category is not None and category not in (1, 2, 3, 4, 5):
        raise ReviewError(f"a category is 1 to 5, not {category!r}")
    label = con.execute(f"""SELECT l.category, l.method, l.confidence, l.pipeline_version, q.strategy
                            FROM {TABLES.review_queue} q LEFT JOIN {TABLES.feedback_labels} l
                              ON l.item_id = q.item_id AND l.pipeline_version = q.pipeline_version
                            WHERE q.item_id = ?""", [item_id]).fetchone()
    if label is None:
        raise ReviewError(f"{item_id} is not in the review queue")
    review_id = uuid.uuid4().hex
    con.execute(f"INSERT INTO {TABLES.reviews} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [review_id, item_id, category, category is None, note or None, reviewer, datetime.now(UTC),
                 strategy or label[4], label[0], label[1], label[2], label[3]])
    return review_id


def undo(con, reviewer: str) -> str | None:
    """Remove this reviewer's latest review; returns its item id (shown again next), or None."""
    row = con.execute(f"""SELECT review_id, item_id FROM {TABLES.reviews} WHERE reviewer = ?
                          ORDER BY reviewed_at DESC LIMIT 1""", [reviewer]).fetchone()
    if row is None:
        return None
    con.execute(f"DELETE FROM {TABLES.reviews} WHERE review_id = ?", [row[0]])
    return row[1]


# --- round trip ---------------------------------------------------------------------------------
FIELDS = ("item_id", "strategy", "prompt", "response", "feedback", "label_category", "label_method")


def export_queue(con, path: Path, reviewer: str = "") -> int:
    """The queue (what `reviewer` has not reviewed) as JSON lines, CSV, or Label Studio tasks (.json)."""
    cur = con.execute(f"""{ITEM} WHERE NOT EXISTS (SELECT 1 FROM {TABLES.reviews} r
                                                  WHERE r.item_id = q.item_id AND r.reviewer = ?)
                          ORDER BY q.priority""", [reviewer])
    names = [d[0] for d in cur.description]
    items = [dict(zip(names, r)) for r in cur.fetchall()]
    rows = [{k: it[k] for k in FIELDS} for it in items]
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=[*FIELDS, "category", "note"])
            w.writeheader()
            w.writerows(rows)
    elif path.suffix == ".json":  # Label Studio's task list: each task's fields under "data"
        path.write_text(json.dumps([{"id": n, "data": r} for n, r in enumerate(rows, 1)], ensure_ascii=False, indent=1))
    else:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows)


def read_reviews(path: Path) -> list[dict]:
    """(item_id, category or None, note, reviewer or None) from JSON lines, CSV, or a Label Studio
    export (.json: tasks with their `annotations`, the choice a category or a "1".."5" label)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ReviewError(f"cannot read {path}: {e}") from None
    out = []
    if path.suffix == ".csv":
        records = list(csv.DictReader(io.StringIO(text)))  # quoted fields may hold newlines
    elif path.suffix == ".json":
        try:
            tasks = json.loads(text)
        except ValueError as e:
            raise ReviewError(f"{path}: not JSON ({e})") from None
        records = []
        for t in tasks if isinstance(tasks, list) else []:
            for a in t.get("annotations") or []:
                choice = next((c for r in a.get("result") or [] for c in (r.get("value") or {}).get("choices") or []), None)
                records.append({"item_id": (t.get("data") or {}).get("item_id"), "category": choice,
                                "reviewer": str(a.get("completed_by") or "") or None})
    else:
        records = []
        for n, line in enumerate(text.split("\n"), 1):  # not splitlines: JSON strings may hold U+2028
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    raise ReviewError(f"{path}: line {n} is not JSON") from None
    for n, r in enumerate(records, 1):
        raw = r.get("category")
        if raw in (None, "", "skip"):
            category = None
        else:
            try:
                category = int(str(raw).strip().split()[0])
            except ValueError:
                raise ReviewError(f"{path}: record {n}: category {raw!r} is not 1 to 5") from None
            if category not in (1, 2, 3, 4, 5):
                raise ReviewError(f"{path}: record {n}: category {raw!r} is not 1 to 5")
        if not r.get("item_id"):
            raise ReviewError(f"{path}: record {n} has no item_id")
        out.append({"item_id": str(r["item_id"]), "category": category, "note": r.get("note") or None,
                    "reviewer": r.get("reviewer")})
    return out


def import_reviews(con, path: Path, reviewer: str, version: str) -> int:
    """Store the file's reviews (items not queued yet are queued as `imported`); returns how many."""
    records = read_reviews(path)
    known = {r[0] for r in con.execute(f"SELECT item_id FROM {TABLES.turns} WHERE list_contains(?, item_id)",
                                       [[r["item_id"] for r in records]]).fetchall()}
    unknown = [r["item_id"] for r in records if r["item_id"] not in known]
    if unknown:
        raise ReviewError(f"{path}: {len(unknown)} item_id(s) not in this warehouse, e.g. {unknown[0]}")
    now = datetime.now(UTC)
    start = con.execute(f"SELECT coalesce(max(priority), 0) FROM {TABLES.review_queue}").fetchone()[0]
    queued = {r[0] for r in con.execute(f"SELECT item_id FROM {TABLES.review_queue}").fetchall()}
    new = sorted({r["item_id"] for r in records} - queued)
    if new:
        con.executemany(f"INSERT INTO {TABLES.review_queue} VALUES (?, 'imported', ?, ?, ?)",
                        [(i, start + k, version, now) for k, i in enumerate(new, 1)])
    for r in records:
        save(con, r["item_id"], r["reviewer"] or reviewer, r["category"], r["note"])
    return len(records)


# --- what the report and the learners read --------------------------------------------------------
LATEST = f"""SELECT * FROM {TABLES.reviews} WHERE category IS NOT NULL
             QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY reviewed_at DESC) = 1"""


def reviewed_gold(con) -> list[dict]:
    """Each item's latest non-skipped review as a gold item (prompt, response, feedback, label)."""
    cur = con.execute(f"""SELECT r.item_id, t.prompt, t.response, t.feedback, r.category AS label
                          FROM ({LATEST}) r JOIN {TABLES.turns} t USING (item_id) WHERE r.category IS NOT NULL
                          ORDER BY r.item_id""")
    return [dict(zip([d[0] for d in cur.description], row)) for row in cur.fetchall()]
