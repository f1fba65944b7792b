"""`rmcurate sql` is read-only for real: no statement changes a file of the home or reaches past it,
on the live warehouse and on the snapshot it falls back to while a stage writes; every query is
bounded in time, memory and spill, and csv and json stream."""
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from rmcurate.readers import detect
from rmcurate.warehouse import connect, ingest_file
from rmcurate.warehouse.nowrite import abi_version
from rmcurate.warehouse.snapshot import write_snapshot

from conftest import write_json
from warm_cli import WarmCLI

RMCURATE = str(Path(sys.executable).parent / "rmcurate")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(*roots: Path) -> dict[str, str]:
    """Every file under the roots and its hash; folders by name (an added empty one counts too)."""
    found = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            found[str(p)] = digest(p) if p.is_file() else "dir"
    return found


def hostile(home: Path, other: Path, secret: Path) -> list[str]:
    w = home / "warehouse.duckdb"
    snap = sorted((home / "snapshots").iterdir())[-1]
    part = sorted((snap / "conversations").glob("part-*.parquet"))[0]
    return [
        # writes and escapes by name
        f"copy (select 'gone' x) to '{w}' (format csv)",
        f"copy conversations to '{home}/out.csv'",
        f"attach '{other}' as o (READ_WRITE)",
        f"attach '{w}' as again; detach warehouse; attach '{w}' as warehouse (READ_WRITE); delete from messages",
        f"attach '{snap}/new.duckdb' as n",
        "detach warehouse",
        "delete from messages",
        "drop table conversations",
        "create table x as select 1",
        "create temp table x as select 1",
        "create view v as select 1",
        "update conversations set model = 'x'",
        "insert into quarantine select * from quarantine",
        "with x as (select 1) insert into quarantine select * from quarantine",
        f"select * from read_text('{secret}')",
        "select * from read_csv('/etc/passwd')",
        f"copy messages from '{secret}'",
        f"export database '{home}/dump'",
        "install httpfs",
        "load '/tmp/evil.duckdb_extension'",
        "set enable_external_access = true",
        "set lock_configuration = false",
        f"set temp_directory = '{home}'",
        "set max_temp_directory_size = '1TB'",
        "set memory_limit = '100GB'",
        "pragma enable_profiling",
        "call checkpoint()",
        "prepare p as delete from messages",
        "create persistent secret s (type s3, key_id 'a', secret 'b')",
        "select 1; delete from messages",
        "pivot messages on role using count(*); delete from messages",
        f"select * from query('copy conversations to ''{home}/q.csv''')",
        # the snapshot's files: overwritten, truncated, added to, its manifest replaced
        f"copy (select 'always prefer this reply' as t) to '{part}' (format parquet)",
        f"copy (select 1 where false) to '{part}' (format csv)",
        f"copy (select 1 as x) to '{snap}/conversations/part-evil.parquet' (format parquet)",
        f"copy (select 1 as x) to '{snap}/manifest.json' (format csv)",
        f"copy (select 1 as x) to '{home}/tmp/x.csv'",
        # EXPLAIN ANALYZE runs what it wraps; EXPLAIN's options and comments do not hide it
        f"explain analyze copy (select 'gone' as x) to '{w}' (format csv, use_tmp_file false)",
        f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{w}.wal' (FORMAT csv)",
        f"explain analyze copy (select 1) to '{w}.wal.checkpoint' (format csv)",
        f"explain analyze copy (select 'always prefer this reply' as t) to '{part}' (format parquet)",
        f"/* a read */ explain /* only */ analyze /* honest */ copy (select 1) to '{home}/x.csv'",
        f"explain (format json) copy (select 1) to '{home}/x.csv'",
        "explain analyze create temp table x as select 1",
        "explain analyze insert into quarantine select * from quarantine",
        f"explain analyze attach '{other}' as o",
        "explain analyze",
    ]


READS = ("describe turns", "show tables", "summarize conversations", "explain analyze select count(*) from turns",
         "/* comment */ from conversations select count(*) -- trailing", "values (1, 'a')")


@pytest.fixture
def loaded(home, tmp_path):
    """A warehouse with 5 conversations and two snapshots (the second's parts hard links to the first's)."""
    convs = [{"id": f"c{i}", "conversations": [{"from": "human", "value": f"question {i}"},
                                               {"from": "gpt", "value": f"answer {i}"}]} for i in range(5)]
    path = write_json(tmp_path / "chats.json", convs)
    con = connect(home)
    ingest_file(con, path, detect(path))
    write_snapshot(con, home, "run1")
    write_snapshot(con, home, "run2")
    con.close()
    return home


def cli(home: Path, *args, env=None, **kw):
    return subprocess.run([RMCURATE, "--home", str(home), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kw)


def held(home: Path):
    """A process that holds the warehouse's write lock, as a nightly stage does while it writes."""
    proc = subprocess.Popen([sys.executable, "-c", f"""
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from rmcurate.warehouse import connect
con = connect(Path({str(home)!r}))
print("held", flush=True)
time.sleep(600)
"""], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("mode", ["live", "held by a stage"])
def test_no_statement_changes_or_escapes_the_home(loaded, tmp_path, mode):
    home = loaded
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("create table o as select 42 as x").close()
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2")
    duck_home = tmp_path / "user-home"  # where DuckDB would keep extensions and persistent secrets
    duck_home.mkdir()
    env = {"HOME": str(duck_home)}
    holder = held(home) if mode != "live" else None
    try:
        r = cli(home, "sql", "select count(*) as n from messages", "--format", "csv", env=env)
        assert r.stdout == "n\n10\n" and ("answered from snapshot" in r.stderr) == (holder is not None), r.stderr
        statements = hostile(home, other, secret)
        assert len(statements) >= 40
        before = tree(tmp_path)
        # The command's own code for every statement, without a fresh interpreter each time (warm_cli.py);
        # the tree is checked after each, so a change names its statement.
        warm = WarmCLI()
        try:
            for query in statements:
                r = warm("--home", home, "sql", query, "--format", "csv", env=env)
                lines = r.stderr.strip().splitlines()
                assert r.returncode != 0, (query, r.stdout)
                assert lines[-1].startswith("rmcurate: error:") and len(lines) == 1 + (holder is not None), \
                    (query, r.stderr)
                assert "hunter2" not in r.stdout + r.stderr
                after = tree(tmp_path)
                assert after == before, (query, set(after.items()) ^ set(before.items()))  # not a byte, not a file
        finally:
            warm.close()
        for query in READS:  # reads still work, in every form users type
            r = cli(home, "sql", query, "--format", "csv", env=env)
            assert r.returncode == 0 and r.stdout.count("\n") >= 2, (query, r.stderr)
        # PIVOT that must look up its columns first: a MULTI statement to DuckDB's parser, and a read
        pivot = cli(home, "sql", "pivot messages on role using count(*)", "--format", "csv", env=env)
        assert pivot.returncode == 0 and pivot.stdout.splitlines()[0].split(",")[-2:] == ["assistant", "user"], \
            pivot.stdout + pivot.stderr
        assert tree(tmp_path) == before
    finally:
        if holder:
            holder.kill()
            holder.wait()
    assert cli(home, "sql", "select count(*) as n from messages", "--format", "csv").stdout == "n\n10\n"


@pytest.mark.skipif(abi_version() < 1, reason="this kernel has no Landlock: the parser and DuckDB's switches are the locks")
def test_the_kernel_refuses_writes_whatever_the_sql(tmp_path):
    """The last lock alone: with the parser's check out of the way, DuckDB's own exemptions (its database
    file and WAL) still cannot be written, from any of its threads; only the spill folder can."""
    db, spill = tmp_path / "w.duckdb", tmp_path / "spill"
    spill.mkdir()
    duckdb.connect(str(db)).execute("create table t as select range i from range(100000)").close()
    before = digest(db)
    code = f"""
import duckdb
from rmcurate.warehouse.nowrite import forbid_writes
assert forbid_writes([{str(spill)!r}]) >= 1
con = duckdb.connect({str(db)!r}, read_only=True, config={{"threads": 4, "temp_directory": {str(spill)!r}}})
for q in ["explain analyze copy (select 'gone' x) to '{db}' (format csv, use_tmp_file false)",
          "copy t to '{tmp_path}/out' (format parquet, per_thread_output true)", "copy t to '{db}.wal' (format csv)"]:
    try:
        con.execute(q)
        print("WROTE", q)
    except duckdb.IOException as e:
        assert "Permission denied" in str(e), e
con.execute("copy t to '{spill}/ok.csv'")
print(con.execute("select count(*) from t").fetchone()[0])
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "100000\n", r.stdout + r.stderr
    assert digest(db) == before and sorted(p.name for p in tmp_path.iterdir()) == ["spill", "w.duckdb"]
    assert (spill / "ok.csv").exists()


def spills(home: Path) -> list[Path]:
    return [p for p in (home / "tmp").glob("rmcurate-sql-*/duckdb/*") if p.is_file()]


SPILLING = ("select sum(r) from (select row_number() over (order by hash(range)) r, repeat('y', 40) s "
            "from range(400000000))")


def test_timeout_stops_a_query_and_its_spill_goes_with_it(loaded):
    home = loaded
    # an endless recursive CTE: stopped at its timeout, in one line
    t0 = time.monotonic()
    r = cli(home, "sql", "--timeout", "2", "with recursive r(i) as (select 1 union all select i + 1 from r) "
                                          "select count(*) from r", timeout=120)
    assert r.returncode == 1 and time.monotonic() - t0 < 60, r.stderr
    assert r.stderr.count("\n") == 1 and "--timeout of 2 s" in r.stderr
    # a sort far past the memory limit spills under home/tmp; the timeout ends it and the spill is removed
    env = {**os.environ, "RMCURATE_MEMORY_LIMIT": "200MB"}
    proc = subprocess.Popen([RMCURATE, "--home", str(home), "sql", "--timeout", "20", SPILLING], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not spills(home) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert spills(home), "the query never spilled"
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "--timeout of 20 s" in err and err.count("\n") == 1, err
    assert list((home / "tmp").iterdir()) == []
    # killed outright (no chance to clean up): the next query removes what it left
    proc = subprocess.Popen([RMCURATE, "--home", str(home), "sql", "--timeout", "0", SPILLING], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while not spills(home) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert spills(home), "the query never spilled"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # the forked child dies with its group
    assert spills(home)
    assert cli(home, "sql", "select 1 as one", "--format", "csv").stdout == "one\n1\n"
    assert list((home / "tmp").iterdir()) == []


def peak_rss_mb(home: Path, *args: str, env: dict | None = None) -> tuple[int, int, str]:
    """(exit status, peak RSS in MB of rmcurate and its query process, stderr); stdout is counted, not kept."""
    code = f"""
import resource, subprocess, sys
p = subprocess.Popen({[RMCURATE, "--home", str(home), *args]!r}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
lines = 0
while chunk := p.stdout.read(1 << 20):
    lines += chunk.count(b"\\n")
err = p.stderr.read().decode()
p.wait()
print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, lines)
sys.stderr.write(err)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **(env or {})})
    status, peak, lines = map(int, r.stdout.split())
    return status, peak, lines, r.stderr


def test_memory_is_bounded_for_every_query_and_json_streams(loaded):
    home = loaded
    # strings DuckDB builds outside its buffer manager: 4 GB unbounded, a one-line error here
    status, peak, _, err = peak_rss_mb(home, "sql", "select max(length(repeat('x', 100000000) || range::varchar)) "
                                       "from range(40)", env={"RMCURATE_MEMORY_LIMIT": "500MB"})
    assert status == 1 and err.count("\n") == 1 and "needs more memory than it may use" in err, err
    assert peak < 1500, peak
    # 10M rows as JSON: printed as they come, memory independent of the row count
    status, peak, lines, err = peak_rss_mb(home, "sql", "--format", "json", "--timeout", "0",
                                           "select range as i, 'row ' || range as s from range(10000000)")
    assert status == 0 and lines == 10_000_001, (status, lines, err)  # "[", then a row a line
    assert peak < 400, peak
