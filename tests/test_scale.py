"""What keeps rmcurate answering at a million conversations, checked on small real files: the stored
`replies` table behind the views (the same turns as the window rule it replaced), counts that never
build the history, label runs bounded per night, and nothing left behind by a stopped command."""
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from rmcurate.readers import detect
from rmcurate.settings import LabelSettings
from rmcurate.stages.label import PIPELINE_VERSION, label_feedback
from rmcurate.stages.sources import sample_file
from rmcurate.warehouse import connect, ingest_file
from rmcurate.warehouse.feedback import pending_conversations
from rmcurate.warehouse.home import db_path
from rmcurate.warehouse.snapshot import write_snapshot

from conftest import rows, write_json
from test_label import embedder, seeded_judge  # noqa: F401 - fixtures

RMCURATE = str(Path(sys.executable).with_name("rmcurate"))

# The turns view as it was before `replies` (window functions over every message): the reference for
# the one turn rule, which the stored table must give for any conversation.
WINDOW_TURNS = """
WITH m AS (
    SELECT conversation_id, message_index, role, content,
           lead(role) OVER w AS next_role, lead(content) OVER w AS next_content,
           max(CASE WHEN role = 'user' THEN message_index END) OVER before AS prompt_index,
           last_value(CASE WHEN role = 'user' THEN content END IGNORE NULLS) OVER before AS prompt
    FROM messages
    WINDOW w AS (PARTITION BY conversation_id ORDER BY message_index),
           before AS (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)),
items AS (
    SELECT *, row_number() OVER (PARTITION BY conversation_id ORDER BY message_index) - 1 AS turn_index
    FROM m WHERE role = 'assistant' AND next_role = 'user' AND prompt_index IS NOT NULL
      AND trim(content) <> '' AND trim(next_content) <> '' AND trim(prompt) <> '')
SELECT i.conversation_id || ':' || i.message_index AS item_id, i.conversation_id, i.turn_index,
       (SELECT coalesce(list({'role': h.role, 'content': h.content, 'tool_calls': h.tool_calls,
                              'tool_call_id': h.tool_call_id} ORDER BY h.message_index), [])
          FROM messages h WHERE h.conversation_id = i.conversation_id AND h.message_index < i.prompt_index) AS history,
       i.prompt,
       (SELECT coalesce(list({'role': h.role, 'content': h.content, 'tool_calls': h.tool_calls,
                              'tool_call_id': h.tool_call_id} ORDER BY h.message_index), [])
          FROM messages h WHERE h.conversation_id = i.conversation_id AND h.message_index > i.prompt_index
                            AND h.message_index < i.message_index) AS steps,
       i.content AS response, i.next_content AS feedback, c.language, c.model
FROM items i JOIN conversations c USING (conversation_id)"""
WINDOW_POSITIONS = """
SELECT conversation_id || ':' || message_index, count(*) FILTER (WHERE role = 'assistant') OVER (
           PARTITION BY conversation_id ORDER BY message_index) - 1, length(content), role, content
FROM messages QUALIFY role = 'assistant' AND trim(content) <> ''"""

LONG_REPLY = "Here is a complete answer with more than ten words in it, as the filter requires."


def say(*turns):
    return [{"from": who, "value": text} for who, text in turns]


MESSY = [  # what real logs hold: each shape once
    say(("gpt", "Hello! How can I help?"), ("human", "Sort a list in Python?"), ("gpt", LONG_REPLY),
        ("human", "and in reverse order, please?"), ("gpt", "Use reverse=True.")),  # a greeting first
    say(("human", "first question"), ("human", "second question, right after"), ("gpt", LONG_REPLY),
        ("human", "that is not what I asked at all")),  # two user messages in a row
    say(("human", "q"), ("gpt", "   "), ("human", "hello? anyone there"), ("gpt", LONG_REPLY),
        ("human", "   "), ("gpt", "ok"), ("human", "thanks")),  # empty reply, empty follow-up
    say(("system", "You are terse."), ("human", "q1"), ("gpt", "a1"), ("gpt", "a1, continued"),
        ("human", "q2"), ("gpt", "a2")),  # a system prompt, two replies in a row, no follow-up last
    say(("gpt", "Only a greeting."), ("human", "bye")),  # a greeting answered: no turn
    say(*[(("human", f"step {i}: change it for case {i}") if i % 2 == 0 else ("gpt", f"{LONG_REPLY} ({i})"))
          for i in range(40)]),  # twenty turns
]


def messy_home(home: Path, tmp_path: Path):
    path = write_json(tmp_path / "messy.json", [{"id": f"m{i}", "conversations": c} for i, c in enumerate(MESSY)])
    con = connect(home)
    ingest_file(con, path, detect(path))
    return con, path


def test_the_views_over_replies_keep_the_window_rule(home, tmp_path):
    con, path = messy_home(home, tmp_path)
    turns = rows(con, "SELECT * FROM turns ORDER BY item_id")
    assert len(turns) == 1 + 1 + 0 + 1 + 0 + 19  # the third: "ok" answers a blank message, no prompt: no turn
    assert turns == rows(con, f"SELECT * FROM ({WINDOW_TURNS}) ORDER BY item_id")
    assert rows(con, "SELECT item_id, position, response_chars FROM reply_evidence ORDER BY 1") == \
        [r[:3] for r in rows(con, f"SELECT * FROM ({WINDOW_POSITIONS}) ORDER BY 1")]
    # the same file read again in place of the first: its replies go and come back with its messages
    ingest_file(con, path, detect(path), force=True)
    assert rows(con, "SELECT * FROM turns ORDER BY item_id") == turns
    assert rows(con, "SELECT count(*) FROM replies") == rows(con, "SELECT count(*) FROM reply_evidence")
    con.close()


def test_a_warehouse_from_before_the_replies_table_is_given_one_when_opened(home, tmp_path):
    con, _ = messy_home(home, tmp_path)
    turns = rows(con, "SELECT * FROM turns ORDER BY item_id")
    con.execute("DROP TABLE replies")  # as an earlier version left it
    con.close()
    old = duckdb.connect(str(db_path(home)), read_only=True)
    assert not rows(old, "SELECT * FROM duckdb_tables() WHERE table_name = 'replies'")
    old.close()
    con = connect(home, read_only=True)  # a reader mends it first
    assert rows(con, "SELECT * FROM turns ORDER BY item_id") == turns
    con.close()


def test_count_and_group_by_on_turns_never_build_the_history(home, tmp_path):
    """One conversation of 2,000 turns: its history is 4 million messages, far past 64 MB; a count or a
    group by of its turns reads two small columns and answers inside that limit."""
    long = say(*[(("human", f"step {i}: change the function for case {i}") if i % 2 == 0
                  else ("gpt", f"{LONG_REPLY} Case {i}.")) for i in range(4001)])
    path = write_json(tmp_path / "long.json", [{"id": "agent", "conversations": long}])
    connect(home).close()
    con = connect(home)
    ingest_file(con, path, detect(path))
    con.close()
    con = duckdb.connect(str(db_path(home)), read_only=True,
                         config={"memory_limit": "64MB", "max_temp_directory_size": "0B"})
    assert rows(con, "SELECT count(*) FROM turns") == [(2000,)]
    assert rows(con, "SELECT language, count(*) FROM turns GROUP BY 1") == [(None, 2000)]
    assert rows(con, "SELECT count(*) FROM reply_evidence") == [(2000,)]
    (last,) = rows(con, "SELECT max_by(item_id, turn_index) FROM replies")[0]
    assert rows(con, "SELECT len(history) FROM turns WHERE item_id = ?", [last]) == [(3998,)]  # one turn's, asked
    with pytest.raises(duckdb.OutOfMemoryException):  # all of them is what the limit forbids
        rows(con, "SELECT sum(len(history)) FROM turns")
    con.close()


def test_a_bounded_run_leaves_the_rest_for_the_next_and_new_conversations_go_first(home, tmp_path, embedder):
    records = sample_file(tmp_path / "s", 40)
    con = connect(home)
    ingest_file(con, records, detect(records))
    settings = LabelSettings(field_max_chars=500, undecided="neutral", batch_conversations=5)
    first = label_feedback(con, seeded_judge(con, []), "run-1", settings.model_copy(update={"max_conversations": 12}),
                           embed=embedder)
    assert first.n_left == 28 and any("28 conversations left for the next run" in n for n in first.notes)
    assert rows(con, "SELECT count(*) FROM label_backlog") == [(28,)]
    done = {c for (c,) in rows(con, "SELECT DISTINCT conversation_id FROM feedback_labels")}
    waiting = {c for (c,) in rows(con, "SELECT conversation_id FROM label_backlog")}
    assert not done & waiting and len(done | waiting) <= 40
    # a later night's conversations are read before the backlog
    later = write_json(tmp_path / "later.json", [{"id": "new", "conversations": MESSY[0]}])
    ingest_file(con, later, detect(later))
    (new,) = rows(con, "SELECT conversation_id FROM conversations WHERE ingest_id = 2")[0]
    assert pending_conversations(con, PIPELINE_VERSION)[0] == new
    rest = label_feedback(con, seeded_judge(con, []), "run-2", settings, embed=embedder)
    assert rest.n_left == 0 and rows(con, "SELECT count(*) FROM label_backlog") == [(0,)]
    # together, the two runs labelled every turn once, as one run does
    assert rows(con, "SELECT count(*), count(DISTINCT item_id) FROM feedback_labels") == \
        rows(con, "SELECT count(*), count(*) FROM turns")
    con.close()


def test_what_a_stopped_command_left_is_removed_and_said(home, tmp_path, capfd):
    connect(home).close()
    stale = home / "tmp" / "duckdb_temp_storage_S32K-0.tmp"
    stale.write_bytes(b"\0" * (1 << 20))
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    half = home / "snapshots" / "20260101T000000Z.partial"
    (half / "messages").mkdir(parents=True)
    con = connect(home)
    assert not stale.exists()
    assert "removed 1 spill files (0.00 GB) that a stopped command left" in capfd.readouterr().err
    write_snapshot(con, home, "20260102T000000Z")
    con.close()
    assert not half.exists() and (home / "snapshots" / "20260102T000000Z" / "manifest.json").exists()
    assert f"removing {half}, a snapshot left half-written by a stopped command" in capfd.readouterr().err


def test_label_with_the_embedded_defaults_starts_no_judge(home, tmp_path):
    """The embedded judge's defaults send no call (what no cue settles counts neutral): the stage starts
    no server. Its Python is pointed at nothing here, so a start would fail the command."""
    records = sample_file(tmp_path / "s", 20)
    env = {**os.environ, "RMCURATE_JUDGE_PYTHON": str(tmp_path / "no-such-python"), "RMCURATE_JUDGE_URLS": ""}
    for args in (["ingest", str(records)], ["label"]):
        r = subprocess.run([RMCURATE, "--home", str(home), *args], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
    assert "labelled" in r.stdout and not list((home / "logs").glob("judge-server-*.log"))
    con = connect(home, read_only=True)
    assert rows(con, "SELECT count(*) FROM judge_calls") == [(0,)]
    assert rows(con, "SELECT count(*) > 0 FROM feedback_labels") == [(True,)]
    con.close()
