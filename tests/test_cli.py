"""The `rmcurate` command as a user runs it: a real process, a real warehouse."""
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import write_json, write_jsonl

RMCURATE = str(Path(sys.executable).parent / "rmcurate")


def run(home, *args):
    env = {**os.environ, "RMCURATE_HOME": str(home)}
    return subprocess.run([RMCURATE, *args], capture_output=True, text=True, env=env)


def test_ingest_prints_a_summary_and_sql_answers_in_every_format(home, tmp_path, wildchat_parquet):
    events = write_jsonl(tmp_path / "clicks.jsonl", [
        {"event_id": "e1", "ts": "2024-01-01T00:00:00Z", "conversation_id": "x", "event": "click"},
        {"event_id": "e2", "ts": "2024-01-01T00:00:00Z", "conversation_id": "x", "event": "wink"},
    ])
    r = run(home, "ingest", str(wildchat_parquet), str(events))
    assert r.returncode == 0, r.stderr
    assert "wildchat-parquet" in r.stdout and "events-jsonl" in r.stdout and "total" in r.stdout
    assert (home / "warehouse.duckdb").exists()

    r = run(home, "sql", "select count(*) as n from conversations", "--format", "csv")
    assert r.returncode == 0 and r.stdout == "n\n200\n"
    r = run(home, "sql", "select count(*) from turns")
    assert r.returncode == 0 and "count_star()" in r.stdout
    r = run(home, "sql", "select event_id, event from events order by 1", "--format", "json")
    assert json.loads(r.stdout) == [{"event_id": "e1", "event": "click"}]
    r = run(home, "sql", "select reason from quarantine", "--format", "csv")
    assert list(csv.reader(io.StringIO(r.stdout))) == [["reason"], ["unknown event kind 'wink'"]]

    r = run(home, "status")
    assert r.returncode == 0
    assert "conversations" in r.stdout and "200" in r.stdout and "unknown event kind 'wink'" in r.stdout


def test_the_warehouse_is_read_only_for_sql(home, tmp_path):
    run(home, "ingest", str(write_json(tmp_path / "s.json", [{"id": "a", "conversations": []}])))
    r = run(home, "sql", "delete from conversations")
    assert r.returncode == 1 and r.stderr.startswith("rmcurate: error:") and r.stderr.count("\n") == 1
    assert run(home, "sql", "select count(*) from conversations", "--format", "csv").stdout == "count_star()\n1\n"


def test_missing_paths_and_unknown_formats_are_one_line_errors_with_status_2(home, tmp_path):
    r = run(home, "ingest", str(tmp_path / "nope.json"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no such file" in r.stderr
    notes = tmp_path / "notes.txt"
    notes.write_text("just words")
    r = run(home, "ingest", "--format", "chats", str(notes))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "'chats' is not one of 'wildchat'" in r.stderr
    assert not (home / "warehouse.duckdb").exists()  # nothing was touched
    # A file no reader understands is that file's error alone: reported in one line, status 1.
    r = run(home, "ingest", str(notes))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "unrecognized format" in r.stderr
    assert "rejected" in r.stdout


def test_home_option_overrides_the_environment(tmp_path):
    other = tmp_path / "other"
    src = write_json(tmp_path / "s.json", [{"id": "a", "conversations": []}])
    r = subprocess.run([RMCURATE, "--home", str(other), "ingest", str(src)], capture_output=True, text=True,
                       env={**os.environ, "RMCURATE_HOME": str(tmp_path / "unused")})
    assert r.returncode == 0, r.stderr
    assert (other / "warehouse.duckdb").exists() and not (tmp_path / "unused").exists()


def sharegpt_file(path: Path, n: int = 30) -> Path:
    return write_json(path, [{"id": f"s{i}", "conversations": [{"from": "human", "value": f"question {i}"},
                                                               {"from": "gpt", "value": f"answer {i}"}]}
                             for i in range(n)])


def test_a_wrong_format_does_not_block_a_file_and_force_replaces_in_place(home, tmp_path):
    from rmcurate.warehouse import connect

    path = sharegpt_file(tmp_path / "chats.json")
    r = run(home, "ingest", "--format", "wildchat", str(path))
    assert r.returncode == 1 and "nothing loaded as wildchat-json: 30 records quarantined" in r.stderr, r.stderr
    r = run(home, "sql", "select status, n_quarantined from ingests", "--format", "csv")
    assert r.stdout == "status,n_quarantined\nquarantined,30\n"  # not 'loaded': nothing loaded
    r = run(home, "ingest", "--format", "wildchat", str(path))  # the same mistake: said, not redone
    assert "skipped" in r.stdout and "check --format, or --force" in r.stderr
    r = run(home, "ingest", str(path))  # read as what it is: loads, in place of the quarantined attempt
    assert r.returncode == 0 and "replaces ingest 1" in r.stdout, r.stdout
    con = connect(home, read_only=True)
    assert con.execute("SELECT count(*) FROM conversations").fetchall() == [(30,)]
    assert con.execute("SELECT count(*) FROM quarantine").fetchall() == [(0,)]  # the wrong-format rows are gone
    assert con.execute("SELECT ingest_id, status FROM ingests ORDER BY 1").fetchall() == \
        [(1, "replaced"), (2, "loaded")]
    con.close()
    assert "skipped" in run(home, "ingest", str(path)).stdout
    r = run(home, "ingest", "--force", str(path))
    assert r.returncode == 0 and "replaces ingest 2" in r.stdout, r.stdout
    con = connect(home, read_only=True)
    assert con.execute("SELECT count(*), count(DISTINCT ingest_id) FROM conversations").fetchall() == [(30, 1)]
    assert con.execute("SELECT count(*) FROM messages").fetchall() == [(60,)]
    con.close()


def test_a_forced_reingest_that_fails_leaves_the_earlier_rows(home, tmp_path):
    from rmcurate.readers import detect
    from rmcurate.warehouse import connect, ingest_file

    path = sharegpt_file(tmp_path / "chats.json", 3000)
    con = connect(home)
    first = ingest_file(con, path, detect(path))

    def crash(chunk):
        raise RuntimeError("disk full")

    try:
        ingest_file(con, path, detect(path), force=True, batch_size=1000, on_chunk=crash)
    except RuntimeError:
        pass
    assert con.execute("SELECT count(*) FROM conversations WHERE ingest_id = ?", [first.ingest_id]).fetchall() == \
        [(3000,)]
    assert con.execute("SELECT status FROM ingests ORDER BY ingest_id").fetchall() == [("loaded",), ("failed",)]
    con.close()


def test_cli_conventions(home, tmp_path):
    r = subprocess.run([RMCURATE, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("rmcurate 0.")
    # a reader pointed at a home with no warehouse says so, and makes nothing there
    nowhere = tmp_path / "typo"
    for args in (["sql", "select 1"], ["status"], ["report"]):
        r = subprocess.run([RMCURATE, "--home", str(nowhere), *args], capture_output=True, text=True)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no warehouse at" in r.stderr, (args, r.stderr)
    assert not nowhere.exists()
    run(home, "ingest", str(write_json(tmp_path / "s.json", [{"id": "a", "conversations": [
        {"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}])))
    # --home after the command, as users type it
    r = subprocess.run([RMCURATE, "sql", "select count(*) as n from conversations", "--home", str(home),
                        "--format", "csv"], capture_output=True, text=True)
    assert r.stdout == "n\n1\n", r.stderr
    # before and after the command: the one after it wins
    r = subprocess.run([RMCURATE, "--home", str(nowhere), "sql", "select count(*) as n from conversations",
                        "--home", str(home), "--format", "csv"], capture_output=True, text=True)
    assert r.stdout == "n\n1\n" and not nowhere.exists(), r.stderr
    # choices are validated and shown, in one line
    r = run(home, "sql", "select 1", "--format", "xml")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "'xml' is not one of 'table', 'csv', 'json'" in r.stderr
    assert "<table|csv|json>" in run(home, "sql", "--help").stdout
    # every setting the nightly reads, with its variable, in --help
    helptext = subprocess.run([RMCURATE, "run", "--help"], capture_output=True, text=True,
                              env={**os.environ, "COLUMNS": "200"}).stdout
    for name in ("RMCURATE_JUDGE_URLS", "RMCURATE_LABEL_TEMPLATE", "RMCURATE_PAIRS_MAX_SEEDS",
                 "RMCURATE_TRAIN_MAX_STEPS", "RMCURATE_FLOW_RETRIES"):
        assert name in helptext, name
    # DuckDB's hints survive
    r = run(home, "sql", "select conversaton_id from conversations")
    assert r.returncode == 1 and "Candidate bindings" in r.stderr and '"conversation_id"' in r.stderr
    assert run(home, "report", "--run", "nope").returncode == 1
    # CSV and JSON: true/false, nested values as JSON, ISO 8601 times, null for NaN
    query = ("select true as b, [1, 2] as l, {'a': 1} as s, TIMESTAMPTZ '2026-01-02 03:04:05+00' as t, "
             "'nan'::double as n")
    row = next(csv.DictReader(io.StringIO(run(home, "sql", query, "--format", "csv").stdout)))
    assert row == {"b": "true", "l": "[1, 2]", "s": '{"a": 1}', "t": "2026-01-02T03:04:05+00:00", "n": ""}
    got = run(home, "sql", query, "--format", "json").stdout
    assert "NaN" not in got and json.loads(got) == [{"b": True, "l": [1, 2], "s": {"a": 1},
                                                      "t": "2026-01-02T03:04:05+00:00", "n": None}]
