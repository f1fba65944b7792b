"""Reading RMBoost seeds and natural pairs; storing pairs and attempts."""
from rmcurate.schemas.tables import TABLES
from rmcurate.warehouse.feedback import insert_models
from rmcurate.warehouse.sql import scoped_view


def seeds(con, label_version: str, pairs_version: str, seed: int, where: str, limit: int) -> list[dict]:
    """Labelled turns (filtered by `where`, SQL over turns t and feedback_labels l) not yet tried with this seed.

    The seeds are chosen first without their history (DuckDB then builds none), and their history is
    read from their own conversations: selecting t.history in the same query built every turn's
    history, which ran out of memory at a million conversations.
    """
    chosen = [r[0] for r in con.execute(f"""
        SELECT t.item_id
        FROM {TABLES.turns} t JOIN {TABLES.feedback_labels} l USING (item_id)
        WHERE l.pipeline_version = $1 AND ({where})
          AND NOT EXISTS (SELECT 1 FROM {TABLES.pair_attempts} a
                          WHERE a.source_item_id = t.item_id AND a.pipeline_version = $2 AND a.seed = $3)
        ORDER BY t.item_id LIMIT $4""", [label_version, pairs_version, seed, limit]).fetchall()]
    if not chosen:
        return []
    turns = scoped_view(con, TABLES.turns, f"""SELECT conversation_id FROM {TABLES.replies}
                                               WHERE item_id IN (SELECT unnest(?::VARCHAR[]))""", [chosen])
    cur = con.execute(f"""SELECT item_id, history, prompt, steps, response FROM {turns}
                          WHERE item_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY item_id""", [chosen])
    return [dict(zip(("item_id", "history", "prompt", "steps", "response"), r)) for r in cur.fetchall()]


# A turn's context: the history's roles and texts (as hashed before messages carried tools, so stored hashes
# still match), the prompt, and the tool steps where there are any.
CONTEXT_HASH = """coalesce(md5(CAST(to_json(list_transform(t.history, lambda h: {'role': h.role, 'content': h.content}))
                                   AS VARCHAR) || '\x1f' || t.prompt
                              || CASE WHEN len(t.history) > 0 AND list_bool_or(list_transform(t.history,
                                        lambda h: h.tool_calls IS NOT NULL)) OR len(t.steps) > 0
                                      THEN '\x1f' || CAST(to_json(t.history) AS VARCHAR) || CAST(to_json(t.steps) AS VARCHAR)
                                      ELSE '' END), '')"""


def fill_context_hashes(con, label_version: str) -> int:
    """Give kept labels that have none the hash of their turn's context; returns how many.

    Only labels new since the last pass lack one, so this reads those conversations' messages alone.
    """
    ids = f"""SELECT DISTINCT conversation_id FROM {TABLES.feedback_labels}
              WHERE kept AND pipeline_version = ? AND context_hash IS NULL"""
    turns = scoped_view(con, TABLES.turns, ids, [label_version])
    return con.execute(f"""
        UPDATE {TABLES.feedback_labels} l SET context_hash = {CONTEXT_HASH} FROM {turns} t
        WHERE l.item_id = t.item_id AND l.kept AND l.pipeline_version = ? AND l.context_hash IS NULL""",
                       [label_version]).fetchone()[0]


def natural_candidates(con, label_version: str) -> list[dict]:
    """Two kept replies to the same context (history and prompt) with different labels: (better, worse),
    for the pairs not made yet. A join of kept labels on their context hash: no pass over the history."""
    fill_context_hashes(con, label_version)
    found = con.execute(f"""
        WITH k AS (SELECT item_id, conversation_id, context_hash, label FROM {TABLES.feedback_labels}
                   WHERE kept AND pipeline_version = ? AND context_hash <> '')
        SELECT a.item_id, b.item_id, a.conversation_id, b.conversation_id
        FROM k a JOIN k b ON a.context_hash = b.context_hash AND a.label > b.label
        WHERE NOT EXISTS (SELECT 1 FROM {TABLES.pairs} p WHERE p.origin = 'natural'
                          AND p.source_item_id = a.item_id AND p.other_item_id = b.item_id)
        ORDER BY 1, 2""", [label_version]).fetchall()
    if not found:
        return []
    conversations = sorted({c for _, _, a, b in found for c in (a, b)})
    turns = scoped_view(con, TABLES.turns, "SELECT unnest(?::VARCHAR[])", [conversations])
    items = sorted({i for a, b, _, _ in found for i in (a, b)})
    text = {r[0]: r[1:] for r in con.execute(f"""SELECT item_id, history, prompt, steps, response FROM {turns}
                                                 WHERE list_contains(?, item_id)""", [items]).fetchall()}
    keys = ("item_id", "other_item_id", "history", "prompt", "steps", "chosen", "rejected")
    return [dict(zip(keys, (a, b, *text[a], text[b][3]))) for a, b, _, _ in found if text[a][3] != text[b][3]]


def existing_pair_ids(con, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    return {r[0] for r in con.execute(f"SELECT pair_id FROM {TABLES.pairs} WHERE pair_id IN (SELECT unnest(?))",
                                      [ids]).fetchall()}


def write_pairs(con, pairs, attempts) -> None:
    con.execute("BEGIN")
    try:
        insert_models(con, TABLES.pairs, pairs)
        insert_models(con, TABLES.pair_attempts, attempts)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
