"""Rows of each export format, read from a Parquet snapshot (never from the live warehouse).

Reading a snapshot is what makes an export repeatable: the same snapshot and seed
give the same shards, whatever ran since.
"""
import re
from pathlib import Path

import duckdb

from schemas.exports import render
from schemas.tables import TABLES

# Pairs a verifying judge inverted (both orders prefer the rejected reply) are left out. A split
# verdict (the two orders disagree) is the judge's position bias, not evidence against the pair's
# construction, and a failed call is no verdict: both are kept, as unverified pairs are.
PAIR_FILTER = "verification IS DISTINCT FROM 'disagree'"
POSITIVE = ("copy", "click", "thumbs_up", "share")
CODE = re.compile(r"```|^(?: {4}|\t)\S", re.M)


def open_snapshot(snapshot_dir: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for table in (TABLES.pairs, TABLES.feedback_labels, TABLES.feedback_judgements, TABLES.turns, TABLES.messages,
                  TABLES.events):
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{snapshot_dir / (table + '.parquet')}')")
    return con


def conversation_of(item_id: str) -> str:
    return item_id.rsplit(":", 1)[0]


def _dicts(cur) -> list[dict]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def with_text(fmt: str, row: dict) -> dict:
    """Add the `text` a scalar reward model reads (ordinal, implicit): the conversation up to and
    including the reply. Called after scrubbing, so the long text is built from scrubbed parts
    instead of being scanned again."""
    if fmt == "ordinal":
        shown = row["history"] + ([{"role": "user", "content": row["prompt"]}] if row["prompt"] is not None else [])
    elif fmt == "implicit":
        shown = row["prompt"]
    else:
        return row
    row["text"] = render(shown + [{"role": "assistant", "content": row["response"]}])
    return row


def pair_rows(con, fmt: str) -> tuple[list[dict], dict]:
    rows = _dicts(con.execute(f"""SELECT pair_id, prompt, chosen, rejected, origin, source_item_id, other_item_id
                                  FROM {TABLES.pairs} WHERE {PAIR_FILTER} ORDER BY pair_id"""))
    out = []
    for r in rows:
        chosen = [{"role": "assistant", "content": r["chosen"]}]
        rejected = [{"role": "assistant", "content": r["rejected"]}]
        if fmt == "openrlhf":
            chosen, rejected = r["prompt"] + chosen, r["prompt"] + rejected
        ids = [r["source_item_id"]] + ([r["other_item_id"]] if r["other_item_id"] else [])
        out.append({"row": {"prompt": r["prompt"], "chosen": chosen, "rejected": rejected},
                    "conversations": sorted({conversation_of(i) for i in ids}), "label": r["origin"]})
    models = [m for (m,) in con.execute(f"SELECT DISTINCT generator_model FROM {TABLES.pairs} "
                                         "WHERE generator_model IS NOT NULL ORDER BY 1").fetchall()]
    return out, {"pairs": PAIR_FILTER, "generator_models": models}


def ordinal_rows(con) -> tuple[list[dict], dict]:
    (version,) = con.execute(f"""SELECT pipeline_version FROM {TABLES.feedback_labels} GROUP BY 1
                                 ORDER BY max(labeled_at) DESC LIMIT 1""").fetchone() or (None,)
    rows = _dicts(con.execute(f"""
        SELECT l.item_id, t.history, t.prompt, t.response, t.feedback, l.label
        FROM {TABLES.feedback_labels} l JOIN {TABLES.turns} t USING (item_id)
        WHERE l.kept AND l.label IS NOT NULL AND l.pipeline_version = ? ORDER BY l.item_id""", [version]))
    out = []
    for r in rows:
        out.append({"row": r, "conversations": [conversation_of(r["item_id"])], "label": r["label"]})
    judges = [m for (m,) in con.execute(f"SELECT DISTINCT judge_model FROM {TABLES.feedback_judgements} "
                                         "ORDER BY 1").fetchall()]
    # How the kept labels were decided (cue, judged, mined, ...): a judge named above may have settled none.
    methods = dict(con.execute(f"""SELECT method, count(*) FROM {TABLES.feedback_labels}
                                   WHERE kept AND pipeline_version = ? GROUP BY 1 ORDER BY 1""", [version]).fetchall())
    return out, {"labels": f"kept, pipeline_version = {version}", "judge_models": judges, "label_methods": methods}


def implicit_rows(con) -> tuple[list[dict], dict]:
    """Every non-empty reply in a conversation with events on its messages, acted on or not."""
    rows = _dicts(con.execute(f"""
        WITH ev AS (SELECT * FROM {TABLES.events} WHERE message_index IS NOT NULL),
        users AS (SELECT conversation_id, min(user_id) AS user_id FROM ev GROUP BY 1),
        msgs AS (
            SELECT m.conversation_id, m.message_index, m.role, m.content,
                   list({{'role': m.role, 'content': m.content}}) OVER (
                       PARTITION BY m.conversation_id ORDER BY m.message_index
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prompt,
                   count(*) FILTER (WHERE m.role = 'assistant') OVER (
                       PARTITION BY m.conversation_id ORDER BY m.message_index) - 1 AS position
            FROM {TABLES.messages} m JOIN users USING (conversation_id)),
        acts AS (SELECT conversation_id, message_index, list(event ORDER BY ts, event_id) AS events
                 FROM ev GROUP BY 1, 2),
        activity AS (SELECT user_id, count(*) AS user_events FROM {TABLES.events} GROUP BY 1)
        SELECT r.conversation_id || ':' || r.message_index AS item_id, u.user_id,
               coalesce(r.prompt, []) AS prompt, r.content AS response, coalesce(a.events, []) AS events,
               r.position, coalesce(act.user_events, 0) AS user_events,
               count(*) OVER (PARTITION BY u.user_id) AS user_replies
        FROM msgs r JOIN users u USING (conversation_id)
        LEFT JOIN acts a USING (conversation_id, message_index)
        LEFT JOIN activity act ON act.user_id IS NOT DISTINCT FROM u.user_id
        WHERE r.role = 'assistant' AND trim(r.content) <> ''
        ORDER BY item_id"""))
    out = []
    for r in rows:
        ev = set(r["events"])
        r.update(copied="copy" in ev, clicked="click" in ev, thumbs_up="thumbs_up" in ev,
                 thumbs_down="thumbs_down" in ev, regenerated="regenerate" in ev,
                 acted=bool(ev & set(POSITIVE)), response_chars=len(r["response"]),
                 has_code=bool(CODE.search(r["response"])))
        out.append({"row": r, "conversations": [conversation_of(r["item_id"])], "label": r["acted"]})
    return out, {"replies": "every non-empty reply in conversations with events on a message",
                 "acted": " | ".join(POSITIVE)}


def read_rows(snapshot_dir: Path, fmt: str) -> tuple[list[dict], dict]:
    """(rows, filters): each row is {row, conversations, label}, sorted by a stable id."""
    con = open_snapshot(snapshot_dir)
    try:
        if fmt in ("trl", "openrlhf"):
            return pair_rows(con, fmt)
        if fmt == "ordinal":
            return ordinal_rows(con)
        return implicit_rows(con)
    finally:
        con.close()
