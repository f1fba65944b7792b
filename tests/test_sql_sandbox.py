"""`rmcurate sql` is read-only for real: no statement changes the warehouse or reaches past it."""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from conftest import write_json
from extractors import detect
from warehouse import connect, ingest_file

RMCURATE = str(Path(sys.executable).parent / "rmcurate")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hostile(home: Path, other: Path, secret: Path) -> list[str]:
    w = home / "warehouse.duckdb"
    return [
        f"copy (select 'gone' x) to '{w}' (format csv)",
        f"copy conversations to '{home}/out.csv'",
        f"attach '{other}' as o (READ_WRITE)",
        f"attach '{w}' as again",
        f"attach '{w}' as again; detach warehouse; attach '{w}' as warehouse (READ_WRITE); delete from messages",
        "detach warehouse",
        "use memory",
        "delete from messages",
        "drop table conversations",
        "create table x as select 1",
        "create temp table x as select 1",
        "update conversations set model = 'x'",
        "insert into quarantine select * from quarantine",
        f"select * from read_text('{secret}')",
        "select * from read_csv('/etc/passwd')",
        "select * from glob('/etc/*')",
        f"export database '{home}/dump'",
        f"import database '{home}/dump'",
        "install httpfs",
        "load httpfs",
        "set enable_external_access = true",
        "reset enable_external_access",
        "set lock_configuration = false",
        "pragma enable_profiling",
        "pragma database_list",
        "call pragma_version()",
        "checkpoint",
        "create persistent secret s (type s3, key_id 'a', secret 'b')",
        "create secret s2 (type s3, key_id 'a', secret 'b')",
        "select 1; select 2",
        "select 1; delete from messages",
        "vacuum",
    ]


def test_no_statement_changes_or_escapes_the_warehouse(home, tmp_path):
    convs = [{"id": f"c{i}", "conversations": [{"from": "human", "value": f"question {i}"},
                                               {"from": "gpt", "value": f"answer {i}"}]} for i in range(5)]
    path = write_json(tmp_path / "chats.json", convs)
    con = connect(home)
    ingest_file(con, path, detect(path))
    con.close()
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("create table o as select 42 as x").close()
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2")
    duck_home = tmp_path / "user-home"  # where DuckDB would keep extensions and persistent secrets
    duck_home.mkdir()
    env = {**os.environ, "RMCURATE_HOME": str(home), "HOME": str(duck_home)}

    def sql(query):
        return subprocess.run([RMCURATE, "sql", query, "--format", "csv"], capture_output=True, text=True, env=env)

    assert sql("select count(*) as n from messages").stdout == "n\n10\n"  # the warehouse is open and healthy
    before = {p: digest(p) for p in (home / "warehouse.duckdb", other, secret)}
    files_before = sorted(str(p) for p in tmp_path.rglob("*"))
    for query in hostile(home, other, secret):
        r = sql(query)
        assert r.returncode != 0, (query, r.stdout)
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("rmcurate: error:"), (query, r.stderr)
        assert "hunter2" not in r.stdout + r.stderr
    assert {p: digest(p) for p in before} == before  # not a byte changed
    assert sorted(str(p) for p in tmp_path.rglob("*")) == files_before  # and no file written anywhere
    assert sql("select count(*) as n from messages").stdout == "n\n10\n"
    # reads still work, in every form users type
    for query in ("describe turns", "show tables", "summarize conversations", "explain select * from turns",
                  "from conversations select count(*)", "with a as (select 1 as x) select * from a"):
        r = sql(query)
        assert r.returncode == 0, (query, r.stderr)
