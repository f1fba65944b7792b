"""Reading RMBoost seeds and natural pairs; storing pairs and attempts."""
from schemas.tables import TABLES
from warehouse.feedback import insert_models


def seeds(con, label_version: str, pairs_version: str, seed: int, where: str, limit: int) -> list[dict]:
    """Labelled turns (filtered by `where`, SQL over turns t and feedback_labels l) not yet tried with this seed."""
    cur = con.execute(f"""
        SELECT t.item_id, t.history, t.prompt, t.response
        FROM {TABLES.turns} t JOIN {TABLES.feedback_labels} l USING (item_id)
        WHERE l.pipeline_version = $1 AND ({where})
          AND NOT EXISTS (SELECT 1 FROM {TABLES.pair_attempts} a
                          WHERE a.source_item_id = t.item_id AND a.pipeline_version = $2 AND a.seed = $3)
        ORDER BY t.item_id LIMIT $4""", [label_version, pairs_version, seed, limit])
    return [dict(zip(("item_id", "history", "prompt", "response"), r)) for r in cur.fetchall()]


def natural_candidates(con, label_version: str) -> list[dict]:
    """Two kept replies to the same context (history and prompt) with different labels: (better, worse)."""
    cur = con.execute(f"""
        WITH lab AS (
            SELECT t.item_id, t.history, t.prompt, t.response, l.label,
                   md5(CAST(to_json(t.history) AS VARCHAR) || '\x1f' || coalesce(t.prompt, '')) AS ctx
            FROM {TABLES.turns} t JOIN {TABLES.feedback_labels} l USING (item_id)
            WHERE l.kept AND l.pipeline_version = ? AND t.prompt IS NOT NULL)
        SELECT a.item_id, b.item_id, a.history, a.prompt, a.response, b.response
        FROM lab a JOIN lab b ON a.ctx = b.ctx AND a.label > b.label AND a.response <> b.response
        ORDER BY a.item_id, b.item_id""", [label_version])
    keys = ("item_id", "other_item_id", "history", "prompt", "chosen", "rejected")
    return [dict(zip(keys, r)) for r in cur.fetchall()]


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
