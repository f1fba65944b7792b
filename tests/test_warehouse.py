"""The warehouse on a real DuckDB file: idempotent, incremental, all-or-nothing."""
import subprocess
import sys
import textwrap

from rmcurate.readers import detect
from rmcurate.warehouse import connect, ingest_file

from conftest import rows, write_json, write_jsonl


def ingest(con, path, kind=None):
    return ingest_file(con, path, detect(path, kind))


def counts(con):
    return {t: rows(con, f"SELECT count(*) FROM {t}")[0][0]
            for t in ("conversations", "messages", "turns", "events", "quarantine", "ingests")}


def conv(i, *msgs):
    return {"id": f"c{i}", "conversations": [{"from": f, "value": v} for f, v in msgs]}


def test_ingesting_the_same_file_twice_adds_no_rows(con, wildchat_parquet):
    first = ingest(con, wildchat_parquet)
    before = counts(con)
    second = ingest(con, wildchat_parquet)
    assert first.n_loaded == 200 and first.n_read == 200
    assert second.status == "skipped" and second.skipped_as == first.ingest_id
    assert counts(con) == before


def test_overlapping_shards_do_not_duplicate_conversations(con, tmp_path):
    a = write_json(tmp_path / "a.json", [conv(1, ("human", "q"), ("gpt", "a")), conv(2, ("human", "q2"))])
    b = write_json(tmp_path / "b.json", [conv(2, ("human", "q2")), conv(3, ("human", "q3")), conv(3, ("human", "q3"))])
    ingest(con, a)
    r = ingest(con, b)
    assert (r.n_read, r.n_loaded, r.n_duplicate, r.n_quarantined) == (3, 1, 2, 0)
    assert counts(con)["conversations"] == 3
    assert rows(con, "SELECT count(*) FROM messages") == [(4,)]


def test_every_record_is_loaded_duplicate_or_quarantined(con, tmp_path):
    path = write_jsonl(tmp_path / "mixed.jsonl", [conv(1, ("human", "q")), b"nope", conv(1, ("human", "q")),
                                                 conv(2, ("alien", "?"))])
    r = ingest(con, path)
    assert (r.n_read, r.n_loaded, r.n_duplicate, r.n_quarantined) == (4, 1, 1, 2)
    assert rows(con, "SELECT n_read, n_loaded + n_duplicate + n_quarantined, status FROM ingests") == \
        [(4, 4, "loaded")]
    assert rows(con, "SELECT reason FROM quarantine ORDER BY location") == \
        [("not JSON: Expecting value",), ("unknown speaker 'alien' in conversations.0",)]


def test_turns_pair_each_reply_with_the_next_user_message(con, tmp_path):
    path = write_json(tmp_path / "t.json", [
        conv(1, ("system", "be nice"), ("human", "q1"), ("gpt", "a1"), ("human", "thanks!"), ("gpt", "a2"),
             ("human", "  "), ("gpt", "a3"), ("human", "ok")),
        conv(2, ("gpt", "hello first"), ("human", "hi")),
    ])
    ingest(con, path)
    got = rows(con, """SELECT turn_index, history, prompt, response, feedback FROM turns
                       ORDER BY conversation_id, turn_index""")
    by_response = {r[3]: r for r in got}
    # a2 is followed by a blank message; a3's prompt is that blank message (no empty prompt is a turn);
    # a greeting with no question before it is not a turn
    assert set(by_response) == {"a1"}
    assert by_response["a1"] == (0, [{"role": "system", "content": "be nice", "tool_calls": None, "tool_call_id": None}],
                                 "q1", "a1", "thanks!")
    item_ids = {r[0] for r in rows(con, "SELECT item_id FROM turns")}
    cid = rows(con, "SELECT conversation_id FROM conversations WHERE source_id = 'c1'")[0][0]
    assert f"{cid}:2" in item_ids


def test_events_for_unknown_conversations_are_kept_and_flagged_until_it_arrives(con, tmp_path):
    convs = write_jsonl(tmp_path / "w.jsonl", [{"conversation_hash": "h1", "conversation": [
        {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}])
    events = write_jsonl(tmp_path / "e.jsonl", [
        {"event_id": "e1", "ts": "2024-01-01T00:00:00Z", "conversation_id": "h1", "message_index": 1, "event": "copy"},
        {"event_id": "e1", "ts": "2024-01-01T00:00:00Z", "conversation_id": "h1", "message_index": 1, "event": "copy"},
        {"event_id": "e2", "ts": "2024-01-01T00:00:01Z", "conversation_id": "h1", "event": "thumbs_up"},
    ])
    r = ingest(con, events)
    assert (r.n_loaded, r.n_duplicate) == (2, 1)
    assert rows(con, "SELECT count(*) FROM events WHERE NOT conversation_known") == [(2,)]
    ingest(con, convs)
    assert rows(con, "SELECT count(*) FROM events WHERE conversation_known") == [(2,)]


def test_an_empty_file_is_recorded_not_lost(con, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    r = ingest(con, empty)
    assert r.status == "empty"
    assert rows(con, "SELECT status, n_read FROM ingests") == [("empty", 0)]


def test_a_killed_ingest_leaves_nothing_behind_and_can_be_redone(home, tmp_path):
    good = write_json(tmp_path / "first.json", [conv(0, ("human", "keep me"))])
    big = write_json(tmp_path / "big.json", [conv(i, ("human", f"q{i}"), ("gpt", f"a{i}")) for i in range(1, 301)])
    con = connect(home)
    ingest(con, good)
    con.close()
    # Die by SIGKILL after two chunks of `big` are committed: no Python cleanup runs.
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from rmcurate.readers import detect
        from rmcurate.warehouse import connect, ingest_file
        seen = []
        def die(chunk):
            seen.append(chunk)
            if len(seen) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        con = connect(Path({str(home)!r}))
        ingest_file(con, Path({str(big)!r}), detect(Path({str(big)!r})), batch_size=100, on_chunk=die)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    con = connect(home, read_only=True)  # a reader first: it must not see half a file
    assert rows(con, "SELECT count(*) FROM conversations") == [(1,)]
    assert rows(con, "SELECT status FROM ingests ORDER BY ingest_id") == [("loaded",), ("failed",)]
    con.close()
    con = connect(home)
    r = ingest(con, big)
    assert r.n_loaded == 300 and counts(con)["conversations"] == 301
    con.close()


OLD_MESSAGES = """CREATE TABLE messages (conversation_id VARCHAR NOT NULL, message_index BIGINT NOT NULL,
    role VARCHAR NOT NULL, content VARCHAR NOT NULL, language VARCHAR, created_at TIMESTAMPTZ, toxic BOOLEAN,
    redacted BOOLEAN, moderation_flagged BOOLEAN, moderation_categories VARCHAR[],
    moderation_scores MAP(VARCHAR, DOUBLE), detoxify_scores MAP(VARCHAR, DOUBLE))"""


def test_a_warehouse_with_score_maps_is_migrated_without_losing_a_score(home):
    import duckdb

    from rmcurate.warehouse.home import db_path

    connect(home).close()
    old = duckdb.connect(str(db_path(home)))
    old.execute("DROP TABLE messages")
    old.execute(OLD_MESSAGES)
    old.execute("""INSERT INTO messages VALUES
        ('c', 0, 'user', 'hi', NULL, NULL, NULL, NULL, true, ['hate'],
         MAP {'hate': 0.5, 'brand-new': 0.25}, MAP {'toxicity': 0.1, 'identity_hate': 0.2}),
        ('c', 1, 'assistant', 'hello', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)""")
    old.close()
    con = connect(home, read_only=True)  # a reader sees the migrated tables too
    got = rows(con, """SELECT moderation_scores['hate'], moderation_scores['violence'], detoxify_scores.toxicity,
                              other_scores, moderation_categories FROM messages ORDER BY message_index""")
    assert got == [(0.5, None, 0.1, {"openai:brand-new": 0.25, "detoxify:identity_hate": 0.2}, ["hate"]),
                   (None, None, None, None, None)]
    con.close()


def test_a_warehouse_from_before_tool_calls_keeps_its_pairs_and_turns(home, tmp_path):
    import duckdb

    from rmcurate.warehouse.home import db_path

    path = write_json(tmp_path / "c.json", [conv(1, ("human", "q1"), ("gpt", "a1"), ("human", "thanks!"))])
    con = connect(home)
    ingest(con, path)
    con.close()
    old = duckdb.connect(str(db_path(home)))  # as rmcurate left it before messages carried tools
    old.execute("DROP VIEW turns")
    for column in ("tool_calls", "tool_call_id", "tool_name", "reasoning", "non_text_parts", "trace_ref"):
        old.execute(f"ALTER TABLE messages DROP COLUMN {column}")
    old.execute("ALTER TABLE pairs ALTER prompt SET DATA TYPE STRUCT(role VARCHAR, content VARCHAR)[] "
                "USING list_transform(prompt, lambda x: {'role': x.role, 'content': x.content})")
    old.execute("""INSERT INTO pairs (pair_id, prompt, chosen, rejected, origin, source_item_id, pipeline_version,
                                      run_id, created_at)
                   VALUES ('p1', [{'role': 'user', 'content': 'q1'}], 'good', 'bad', 'rmboost', 'x:1', 'v', 'r', now())""")
    old.close()
    con = connect(home)
    try:
        assert rows(con, "SELECT prompt FROM pairs") == [([{"role": "user", "content": "q1", "tool_calls": None,
                                                            "tool_call_id": None}],)]
        assert rows(con, "SELECT prompt, response, steps FROM turns") == [("q1", "a1", [])]
    finally:
        con.close()


def test_an_unkeyed_judge_call_cache_gets_its_key_and_keeps_the_newest_row_of_a_key(home):
    import duckdb

    from rmcurate.warehouse.home import db_path

    connect(home).close()
    old = duckdb.connect(str(db_path(home)))  # as an older rmcurate left it: no key, no run_id or failures
    old.execute("CREATE TABLE old_calls AS SELECT * EXCLUDE (run_id, failures) FROM judge_calls")
    old.execute("DROP TABLE judge_calls")
    old.execute("ALTER TABLE old_calls RENAME TO judge_calls")
    for key, status in (("a", "failed"), ("a", "ok"), ("b", "ok")):
        old.execute("""INSERT INTO judge_calls (key, model, template, template_version, request, status, attempts,
                       hits, started_at, finished_at) VALUES (?, 'm', 't', 1, '{}', ?, 1, 0, now(), now())""",
                    [key, status])
    old.close()
    con = connect(home, read_only=True)  # a reader finds it mended
    assert rows(con, "SELECT key, status, run_id, failures FROM judge_calls ORDER BY key") == \
        [("a", "ok", None, None), ("b", "ok", None, None)]
    assert rows(con, """SELECT constraint_column_names FROM duckdb_constraints()
                        WHERE table_name = 'judge_calls' AND constraint_type = 'PRIMARY KEY'""") == [(["key"],)]
    con.close()


def test_a_column_of_another_type_is_a_one_line_error_not_a_rewrite(home):
    import duckdb
    import pytest

    from rmcurate.warehouse import WarehouseError
    from rmcurate.warehouse.home import db_path

    connect(home).close()
    old = duckdb.connect(str(db_path(home)))
    old.execute("DROP TABLE messages")
    old.execute(OLD_MESSAGES.replace("toxic BOOLEAN", "toxic VARCHAR"))
    old.execute("INSERT INTO messages (conversation_id, message_index, role, content, toxic) VALUES ('c', 0, 'user', 'hi', 'yes')")
    old.close()
    with pytest.raises(WarehouseError, match=r"messages\.toxic is VARCHAR, expected BOOLEAN") as e:
        connect(home)
    assert "\n" not in str(e.value)
    check = duckdb.connect(str(db_path(home)), read_only=True)
    assert check.execute("SELECT toxic FROM messages").fetchall() == [("yes",)]
    check.close()


def test_old_checkpoints_are_pruned_but_not_what_a_kept_run_reuses(tmp_path):
    import os

    from rmcurate.warehouse.retention import prune_checkpoints

    models = tmp_path / "models"
    for run in ("20260101T000000Z", "20260102T000000Z", "20260103T000000Z", "20260104T000000Z"):
        (models / run / "ordinal").mkdir(parents=True)
        (models / run / "ordinal" / "metrics.json").write_text("{}")
    (models / "SmolLM2-135M-Instruct").mkdir()  # the converted judge: not a run
    # the newest run found its export unchanged and links the pairwise model of the first
    (models / "20260101T000000Z" / "pairwise").mkdir()
    os.symlink("../20260101T000000Z/pairwise", models / "20260104T000000Z" / "pairwise")
    assert prune_checkpoints(tmp_path, keep_runs=2) == ["20260102T000000Z"]
    assert sorted(p.name for p in models.iterdir()) == [
        "20260101T000000Z", "20260103T000000Z", "20260104T000000Z", "SmolLM2-135M-Instruct"]
    assert (models / "20260104T000000Z" / "pairwise").resolve().exists()


def test_the_warehouse_file_keeps_its_name_so_earlier_homes_open(home):
    """Homes made by every earlier version hold home/warehouse.duckdb: a new name would strand them."""
    from rmcurate.warehouse.home import db_path

    connect(home).close()
    assert db_path(home) == home / "warehouse.duckdb" and db_path(home).exists()
