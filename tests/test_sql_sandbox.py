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
         "/* comment */ from conversations select count(*) -- trailing", "values (1, 'a')",
         # PIVOT wherever it stands: DuckDB cannot serialise its tree, so its keywords are judged
         "select * from (pivot messages on role using count(*))",
         "with p as (pivot messages on role using count(*)) select * from p",
         "explain analyze pivot messages on role using count(*)",
         # keywords as names, quoted or not, and the words of a write inside a string
         'select 1 as "insert", \'delete from messages\' as "copy"', "select 1 as insert",
         "with recursive r(i) as (select 1 union all select i + 1 from r where i < 3) select * from r")


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
                # one line, after the busy note when DuckDB itself refuses; a statement the parser refuses
                # is refused before anything opens, so without the note
                refused = lines[-1].startswith("rmcurate: error: refused:")
                assert lines[-1].startswith("rmcurate: error:") and \
                    len(lines) == 1 + (holder is not None and not refused), (query, r.stderr)
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


@pytest.mark.skipif(abi_version() < 1, reason="this kernel has no Landlock")
def test_the_kernel_hides_the_home_but_the_warehouse(loaded, tmp_path):
    """Reads confined too: with DuckDB's own path check switched off, the query process can read the
    warehouse and its snapshots but not the salt (nor anything else in the home); outside it, all."""
    home = loaded
    (home / "salt").write_bytes(b"pepper-not-for-you")
    outside = tmp_path / "outside.txt"
    outside.write_text("fine")
    snap = sorted((home / "snapshots").iterdir())[-1]
    code = f"""
import duckdb
from pathlib import Path
from rmcurate.warehouse.home import db_path
from rmcurate.warehouse.nowrite import forbid_writes
home = Path({str(home)!r})
spill = home / "tmp" / "q"
spill.mkdir(parents=True)
assert forbid_writes([str(spill)], hide=str(home), show=[str(db_path(home)), str(home / "snapshots")]) >= 1
con = duckdb.connect(str(db_path(home)), read_only=True, config={{"temp_directory": str(spill)}})
print(con.execute("select count(*) from messages").fetchone()[0])
print(con.execute("select count(*) from read_parquet('{snap}/conversations/*.parquet')").fetchone()[0])
print(con.execute("select content from read_text('{outside}')").fetchone()[0])
try:
    print(con.execute("select content from read_text('{home}/salt')").fetchone()[0])
except duckdb.IOException as e:
    print("refused" if "Permission denied" in str(e) else e)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.split() == ["10", "5", "fine", "refused"], r.stdout + r.stderr


NO_LANDLOCK = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import nolandlock; nolandlock.apply()"


def hidden_writes(home: Path) -> list[str]:
    """Writes DuckDB parses as one SELECT (a CTE holding COPY, INSERT, UPDATE or DELETE), at any depth,
    under EXPLAIN ANALYZE, aimed at what DuckDB itself treats as writable: its file, its WAL, a snapshot."""
    w = home / "warehouse.duckdb"
    snap = sorted((home / "snapshots").iterdir())[-1]
    part = sorted((snap / "conversations").glob("part-*.parquet"))[0]
    writes = [f"copy (select 'gone' x) to '{w}' (format csv, use_tmp_file false)",
              f"copy (select 1) to '{w}.wal' (format csv)",
              f"copy (select 'always prefer this reply' as t) to '{part}' (format parquet)",
              "insert into quarantine select * from quarantine returning 1",
              "update conversations set model = 'planted' returning 1",
              "delete from messages returning 1"]
    out = []
    for write in writes:
        out += [f"with x as ({write}) select * from x",
                f"WITH a AS (SELECT 1), b AS ({write}) SELECT * FROM a",
                f"select * from (with x as ({write}) select 1) s",
                f"select (with x as ({write}) select count(*) from x) as n",
                f"select 1 union all (with x as ({write}) select 1)",
                f"explain analyze with x as ({write}) select * from x",
                f"with p as (pivot messages on role using count(*)) select * from p, (with x as ({write}) select 1) q",
                f"select * from query('{write.replace(chr(39), chr(39) * 2)}')"]
    return out


@pytest.mark.skipif(abi_version() < 1, reason="simulating a kernel without Landlock needs one with it to take away")
@pytest.mark.parametrize("mode", ["live", "held by a stage"])
def test_writes_hidden_in_ctes_are_refused_with_no_kernel_lock(loaded, tmp_path, mode):
    """The parser's own check, alone: Landlock's syscalls filtered away (tests/nolandlock.py) and the risk
    accepted, every hidden write is refused in one line before DuckDB runs it, and no file changes."""
    home = loaded
    holder = held(home) if mode != "live" else None
    warm = WarmCLI(prelude=NO_LANDLOCK)
    try:
        env = {"RMCURATE_SQL_UNCONFINED": "1"}
        before = tree(tmp_path)
        statements = hidden_writes(home)
        assert len(statements) >= 48
        for query in statements:
            r = warm("--home", home, "sql", query, "--format", "csv", env=env)
            assert r.returncode == 1 and r.stderr.startswith("rmcurate: error: refused: only reads run here") \
                and r.stderr.count("\n") == 1, (query, r.stderr)
            assert tree(tmp_path) == before, query
        r = warm("--home", home, "sql", "select * from (pivot messages on role using count(*))", "--format", "csv",
                 env=env)
        assert r.returncode == 0 and r.stdout.splitlines()[0].split(",")[-2:] == ["assistant", "user"], r.stderr
        # without the risk accepted, nothing runs at all, and the line says how to opt in
        r = warm("--home", home, "sql", "select 1", env={"RMCURATE_SQL_UNCONFINED": "0"})
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and "no kernel file lock" in r.stderr \
            and "RMCURATE_SQL_UNCONFINED=1" in r.stderr and r.stdout == "", r.stderr
        assert tree(tmp_path) == before
    finally:
        warm.close()
        if holder:
            holder.kill()
            holder.wait()


def test_bad_options_are_usage_errors(loaded):
    home = loaded
    warm = WarmCLI()
    for args, says in [(["--timeout", "inf"], "not inf"), (["--timeout", "1e300"], "not 1e+300"),
                       (["--timeout", "nan"], "not nan"), (["--timeout", "-1"], "from 0 to"),
                       (["--max-spill", "-1GB"], "not a size"), (["--max-spill", "abc"], "not a size"),
                       (["--max-spill", "."], "not a size")]:
        r = warm("--home", home, "sql", "select 1", *args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and says in r.stderr, (args, r.stderr)
    warm.close()
    r = subprocess.run([RMCURATE.encode(), b"--home", str(home).encode(), b"sql", b"select '\xff'"],
                       capture_output=True)
    assert r.returncode == 2 and r.stderr == b"rmcurate: error: the query is not valid UTF-8\n", r.stderr
    assert cli(home, "sql", "select 7 as n", "--timeout", "0", "--format", "csv").stdout == "n\n7\n"


def test_spill_past_its_cap_stops_the_query(loaded):
    home = loaded
    env = {"RMCURATE_MEMORY_LIMIT": "200MB"}
    t0 = time.monotonic()
    r = cli(home, "sql", SPILLING, "--max-spill", "50MB", "--timeout", "0", env=env, timeout=120)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "--max-spill of 50MB" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 60
    assert list((home / "tmp").iterdir()) == []


def test_the_query_dies_with_its_parent(loaded):
    """SIGKILL to `rmcurate sql` (no chance to clean up): its query process goes too, so the warehouse
    is free for the next writer."""
    home = loaded
    proc = subprocess.Popen([RMCURATE, "--home", str(home), "sql", "--timeout", "0",
                             "with recursive r(i) as (select 1 union all select i + 1 from r) select count(*) from r"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    children = []
    while not children and time.monotonic() < deadline:
        time.sleep(0.1)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    assert children, "the query process never started"
    time.sleep(1)  # running its query
    proc.kill()
    proc.wait()
    query = int(children[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and gone(query) is False:
        time.sleep(0.1)
    try:
        assert gone(query), "the query process outlived its parent"
    finally:
        if not gone(query):  # a broken build leaves an endless query running: not past this test
            os.kill(query, signal.SIGKILL)
    con = connect(home)  # the write lock is free
    con.close()


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # dead, waiting for init to reap it


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
