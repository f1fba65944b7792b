"""Rows of each export format, read from a Parquet snapshot (never from the live warehouse).

Reading a snapshot is what makes an export repeatable: the same snapshot and seed
give the same shards, whatever ran since.
"""
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa

from rmcurate.rules.feedback.language import from_source
from rmcurate.rules.replies import has_code, has_list
from rmcurate.schemas.exports import export_message, render
from rmcurate.schemas.tables import STORED, TABLES, VIEWS
from rmcurate.warehouse.db import memory_limit, spill_cap
from rmcurate.warehouse.snapshot import open_views, table_glob
from rmcurate.warehouse.sql import scoped_view

# Pairs a verifying judge inverted (both orders prefer the rejected reply) are left out. A split
# verdict (the two orders disagree) is the judge's position bias, not evidence against the pair's
# construction, and a failed call is no verdict: both are kept, as unverified pairs are.
PAIR_FILTER = "verification IS DISTINCT FROM 'disagree'"
POSITIVE = ("copy", "click", "thumbs_up", "share")


def open_snapshot(snapshot_dir: Path) -> duckdb.DuckDBPyConnection:
    """The snapshot's tables as views over its Parquet parts, and the warehouse's views over those
    (a snapshot written before the views were left out holds them as files: those are read)."""
    # The warehouse's memory limit, and its spill folder (home/snapshots/<run> -> home/tmp): an in-memory
    # database otherwise takes 80% of the machine and spills into the current directory.
    spill = snapshot_dir.parent.parent / "tmp"
    con = duckdb.connect(config={"memory_limit": memory_limit(), **({"temp_directory": str(spill),
                                 "max_temp_directory_size": spill_cap(spill)} if spill.is_dir() else {})})
    have = set()
    for table in [*STORED, *VIEWS]:
        glob = table_glob(snapshot_dir, table)
        if Path(glob).exists() or list(Path(glob).parent.glob("*.parquet")):
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{glob}')")
            have.add(table)
    open_views(con, have)
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
        shown = row["history"] + ([{"role": "user", "content": row["prompt"]}] if row["prompt"] is not None else []) \
            + row["steps"]
    elif fmt == "implicit":
        shown = row["prompt"]
    else:
        return row
    row["text"] = render(shown + [{"role": "assistant", "content": row["response"]}])
    return row


# Each format reads from one query and builds an item {row, conversations, label} from each of its
# rows in Python. A row's key is the MD5 of the query row as JSON: the export cache
# (warehouse/exports/row_cache.py) prepares a row only when its key is new, so only new or changed
# rows are built here. Rows are ordered by `arrival` (when the warehouse got them: a label's time,
# a pair's, a conversation's ingest), then `order_id`: a night's new rows come last, so the shards
# before them are the same files as the night before and are carried over, not written again.

def pair_source(con) -> tuple[str, list, dict]:
    models = [m for (m,) in con.execute(f"SELECT DISTINCT generator_model FROM {TABLES.pairs} "
                                         "WHERE generator_model IS NOT NULL ORDER BY 1").fetchall()]
    return (f"""SELECT created_at AS arrival, pair_id AS order_id, prompt, chosen, rejected, origin, source_item_id,
                       other_item_id
                FROM {TABLES.pairs} WHERE {PAIR_FILTER}""", [],
            {"pairs": PAIR_FILTER, "generator_models": models})


def pair_item(fmt: str, r: dict) -> dict:
    r["prompt"] = [export_message(m) for m in r["prompt"]]
    chosen = [export_message({"role": "assistant", "content": r["chosen"]})]
    rejected = [export_message({"role": "assistant", "content": r["rejected"]})]
    if fmt == "openrlhf":
        chosen, rejected = r["prompt"] + chosen, r["prompt"] + rejected
    ids = [r["source_item_id"]] + ([r["other_item_id"]] if r["other_item_id"] else [])
    return {"row": {"prompt": r["prompt"], "chosen": chosen, "rejected": rejected},
            "conversations": sorted({conversation_of(i) for i in ids}), "label": r["origin"]}


def has_table(con, name: str) -> bool:
    """A table, or a snapshot's view of one (exports read snapshots, which older versions wrote without it)."""
    return con.execute("""SELECT count(*) FROM (SELECT table_name AS n FROM duckdb_tables()
                                                UNION ALL SELECT view_name FROM duckdb_views()) WHERE n = ?""",
                       [name]).fetchone()[0] > 0


def ordinal_source(con) -> tuple[str, list, dict]:
    (version,) = con.execute(f"""SELECT pipeline_version FROM {TABLES.feedback_labels} GROUP BY 1
                                 ORDER BY max(labeled_at) DESC LIMIT 1""").fetchone() or (None,)
    judges = [m for (m,) in con.execute(f"SELECT DISTINCT judge_model FROM {TABLES.feedback_judgements} "
                                         "ORDER BY 1").fetchall()]
    # How the kept labels were decided (cue, judged, mined, ...): a judge named above may have settled none.
    methods = dict(con.execute(f"""SELECT method, count(*) FROM {TABLES.feedback_labels}
                                   WHERE kept AND pipeline_version = ? GROUP BY 1 ORDER BY 1""", [version]).fetchall())
    # A reviewed item reads its latest review's category first (rmcurate review): a 3 leaves the export,
    # a 1, 2, 4 or 5 enters it even where the label stage dropped the turn. Older snapshots have no reviews.
    reviewed = f"""SELECT item_id, category FROM {TABLES.reviews} WHERE category IS NOT NULL
                   QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY reviewed_at DESC) = 1""" \
        if has_table(con, TABLES.reviews) else "SELECT NULL::VARCHAR AS item_id, NULL::INT AS category WHERE false"
    n_reviewed = con.execute(f"SELECT count(*) FROM ({reviewed})").fetchone()[0]
    wanted = """(CASE WHEN r.item_id IS NOT NULL THEN r.category <> 3 ELSE l.kept AND l.label IS NOT NULL END)"""
    # The turns view over the labelled conversations alone: joined to the whole view, DuckDB builds every
    # turn's history before the join keeps the labelled ones (out of memory at a million conversations).
    turns = scoped_view(con, TABLES.turns, f"""SELECT DISTINCT l.conversation_id FROM {TABLES.feedback_labels} l
                                               LEFT JOIN ({reviewed}) r USING (item_id)
                                               WHERE {wanted} AND l.pipeline_version = ?""", [version])
    return (f"""SELECT l.labeled_at AS arrival, l.item_id AS order_id, l.item_id, t.history, t.prompt, t.steps, t.response,
                       t.feedback, CASE WHEN r.item_id IS NULL THEN l.label
                                        ELSE CASE r.category WHEN 1 THEN 1 WHEN 2 THEN 2 WHEN 4 THEN 3 WHEN 5 THEN 4 END
                                   END AS label
                FROM {TABLES.feedback_labels} l JOIN {turns} t USING (item_id) LEFT JOIN ({reviewed}) r USING (item_id)
                WHERE {wanted} AND l.pipeline_version = ?""", [version],
            {"labels": f"kept, pipeline_version = {version}" + (f"; {n_reviewed} items read from people's reviews "
                                                                 "first (rmcurate review)" if n_reviewed else ""),
             "judge_models": judges, "label_methods": methods, "reviewed": n_reviewed})


def ordinal_item(fmt: str, r: dict) -> dict:
    r["history"], r["steps"] = [export_message(m) for m in r["history"]], [export_message(m) for m in r["steps"]]
    return {"row": r, "conversations": [conversation_of(r["item_id"])], "label": r["label"]}


def implicit_source(con) -> tuple[str, list, dict]:
    """Every non-empty reply in a conversation with events, acted on or not, from `reply_evidence`."""
    sql = f"""
        WITH msgs AS (
            SELECT conversation_id, message_index,
                   list({{'role': role, 'content': content, 'tool_calls': tool_calls,
                          'tool_call_id': tool_call_id}}) OVER (
                       PARTITION BY conversation_id ORDER BY message_index
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prompt, content
            FROM {TABLES.messages}
            WHERE conversation_id IN (SELECT conversation_id FROM {TABLES.reply_evidence}
                                      WHERE conversation_has_events))
        SELECT c.ingest_id AS arrival, e.item_id AS order_id, e.item_id, e.user_id, coalesce(m.prompt, []) AS prompt, m.content AS response,
               e.events, e.position, e.user_events, count(*) OVER (PARTITION BY e.user_id) AS user_replies,
               e.copies, e.clicks, e.thumbs_up AS n_thumbs_up, e.thumbs_down AS n_thumbs_down,
               e.regenerations, e.shares, e.feedback_label, e.simulated_preference, e.simulated_preferred
        FROM {TABLES.reply_evidence} e JOIN msgs m USING (conversation_id, message_index)
             JOIN {TABLES.conversations} c USING (conversation_id)
        WHERE e.conversation_has_events"""
    return sql, [], {"replies": "every non-empty reply in conversations with events on a message",
                     "acted": " | ".join(POSITIVE), "explicit_negatives": "thumbs_down | regenerate",
                     "events_not_on_a_reply": events_not_on_a_reply(con), "simulated_events": simulated(con)}


def implicit_item(fmt: str, r: dict) -> dict:
    r["prompt"] = [export_message(m) for m in r["prompt"]]
    ev = set(r["events"])
    r.update(copied=r.pop("copies") > 0, clicked=r.pop("clicks") > 0, thumbs_up=r.pop("n_thumbs_up") > 0,
             thumbs_down=r.pop("n_thumbs_down") > 0, regenerated=r.pop("regenerations") > 0,
             shared=r.pop("shares") > 0, acted=bool(ev & set(POSITIVE)), response_chars=len(r["response"]),
             has_code=has_code(r["response"]), has_list=has_list(r["response"]))
    return {"row": r, "conversations": [conversation_of(r["item_id"])], "label": r["acted"]}


SOURCES = {"trl": (pair_source, pair_item), "openrlhf": (pair_source, pair_item),
           "ordinal": (ordinal_source, ordinal_item), "implicit": (implicit_source, implicit_item)}


def events_not_on_a_reply(con) -> dict[str, int]:
    """Events the implicit export cannot attach to a reply, counted by why (never silently skipped)."""
    return dict(con.execute(f"""
        SELECT CASE WHEN e.message_index IS NULL THEN 'no message_index'
                    WHEN NOT EXISTS (SELECT 1 FROM {TABLES.messages} c WHERE c.conversation_id = e.conversation_id)
                        THEN 'unknown conversation'
                    WHEN m.role IS NULL THEN 'no such message'
                    ELSE 'a ' || m.role || ' message, not an assistant reply' END AS why, count(*)
        FROM {TABLES.events} e
        LEFT JOIN {TABLES.messages} m USING (conversation_id, message_index)
        WHERE e.message_index IS NULL OR m.role IS DISTINCT FROM 'assistant' OR trim(m.content) = ''
        GROUP BY 1 ORDER BY 1""").fetchall())


def simulated(con) -> str | None:
    """The simulator's name when the log's impressions carry a simulated truth, else None."""
    (name,) = con.execute(f"""SELECT max(json_extract_string(payload, '$.simulator')) FROM {TABLES.events}
                              WHERE event = 'impression'""").fetchone()
    return name


def provenance(snapshot_dir: Path, conversation_ids: set[str]) -> dict:
    """Where the rows' conversations came from, their languages (ISO 639-1, from the source or from
    the labelled turns), and the judge models and templates that labelled their turns: the card's facts."""
    con = open_snapshot(snapshot_dir)
    try:
        ids = pa.table({"conversation_id": sorted(conversation_ids)})  # noqa: F841 - read by DuckDB
        sources = dict(con.execute(f"""SELECT source, count(*) FROM {TABLES.conversations}
                                       WHERE conversation_id IN (SELECT conversation_id FROM ids)
                                       GROUP BY 1 ORDER BY 2 DESC, 1""").fetchall())
        per_conversation = con.execute(f"""
            SELECT c.conversation_id, c.language, mode(l.language) FILTER (WHERE l.language IS NOT NULL)
            FROM {TABLES.conversations} c LEFT JOIN {TABLES.feedback_labels} l USING (conversation_id)
            WHERE c.conversation_id IN (SELECT conversation_id FROM ids) GROUP BY 1, 2""").fetchall()
        languages = Counter(from_source(source) or labelled for _, source, labelled in per_conversation
                            if from_source(source) or labelled)
        judges = [dict(zip(("model", "template", "template_version", "judgements"), r)) for r in con.execute(f"""
            SELECT judge_model, template, template_version, count(*) FROM {TABLES.feedback_judgements}
            WHERE regexp_replace(item_id, ':[^:]*$', '') IN (SELECT conversation_id FROM ids)
            GROUP BY ALL ORDER BY 4 DESC, 1, 2""").fetchall()]
    finally:
        con.close()
    return {"sources": sources, "languages": dict(languages.most_common()), "judges": judges}


def read_rows(snapshot_dir: Path, fmt: str, known: pa.ChunkedArray | None = None) -> tuple[pa.Array, list[dict], dict]:
    """(keys, items, filters): every row's key in a stable order, and an item {key, row, conversations,
    label} for each row whose key is not among the `known` keys, in the same order."""
    source, build = SOURCES[fmt]
    con = open_snapshot(snapshot_dir)
    try:
        sql, params, filters = source(con)
        # Keys first, without keeping the rows (their history is most of an export's bytes); then
        # the rows of new keys only, found by order id and checked against their key.
        con.execute(f"CREATE TEMP TABLE source_keys AS SELECT arrival, order_id, md5(to_json(q)) AS row_key "
                    f"FROM ({sql}) q", params)
        keys = con.sql("SELECT row_key FROM source_keys ORDER BY arrival, order_id").to_arrow_table()["row_key"].combine_chunks()
        con.register("known", pa.table({"row_key": known if known is not None else pa.array([], pa.string())}))
        new = _dicts(con.execute(f"""
            WITH fresh AS (SELECT order_id, row_key FROM source_keys ANTI JOIN known USING (row_key)),
                 candidates AS (SELECT md5(to_json(q)) AS row_key, q.* FROM ({sql}) q SEMI JOIN fresh USING (order_id))
            SELECT c.* EXCLUDE (arrival, order_id) FROM candidates c SEMI JOIN fresh USING (row_key)
            ORDER BY c.arrival, c.order_id""", params))
    finally:
        con.close()
    items = []
    for r in new:
        key = r.pop("row_key")
        items.append({"key": key, **build(fmt, r)})
    return keys, items, filters
