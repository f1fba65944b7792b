"""`rmcurate sql`: one read-only query, bounded in time, memory and spill, its rows streamed out.

The statement is judged first (warehouse/sandbox.py `check`), before anything opens. The query then
runs in a child process that gives up the right to write any file but its spill folder, and to read
anything in the home but the warehouse and its snapshots (warehouse/nowrite.py), and to grow past
the memory budget (RLIMIT_DATA, which counts the strings and lists DuckDB builds outside its buffer
manager too). Where the kernel has no such lock, nothing runs unless RMCURATE_SQL_UNCONFINED says
to accept the risk. The parent stays small and holds the bounds: it mends the warehouse before the
child locks itself in, stops the child past its timeout or its spill cap (DuckDB's own cap is not
enough: it does not count every file it spills), removes the spill folder whatever became of the
child, and says in one line why a child that died did so. The child dies with the parent.
"""
import csv
import fcntl
import json
import os
import re
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb

from rmcurate.schemas.values import csv_cell, plain
from rmcurate.warehouse.db import WarehouseError, memory_limit
from rmcurate.warehouse.home import db_path, snapshots, standin
from rmcurate.warehouse.nowrite import abi_version, forbid_writes
from rmcurate.warehouse.sandbox import RefusedStatement, check, mend, open_sandboxed

# What the child may use beyond DuckDB's memory_limit: Python, the libraries, a batch of rows.
HEADROOM = 768 << 20
# A child that ignores its interrupt this long past --timeout is killed.
KILL_GRACE_S = 15.0
# A spill folder without its lock file is another query's that has not taken the lock yet, unless older.
STALE_UNLOCKED_S = 60.0
BATCH = 10_000
# Values JSON and CSV take as DuckDB returns them; every other type goes through plain().
AS_IS = {"VARCHAR", "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
         "UINTEGER", "UBIGINT", "UHUGEINT"}
UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
         "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


PR_SET_PDEATHSIG = 1
# How often the parent measures the spill folder against --max-spill.
SPILL_POLL_S = 0.05
NO_KERNEL_LOCK = ("this system has no kernel file lock for queries (Landlock: Linux 5.13+, not macOS or Windows, "
                  "and some containers filter it), so `rmcurate sql` does not run; to accept the risk that a "
                  "statement the parser check misses changes the warehouse, set RMCURATE_SQL_UNCONFINED=1")


def size_bytes(text: str) -> int:
    """'2GB' -> 2e9, '512MiB' -> 512 * 2**20: DuckDB's own units."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in UNITS:
        raise WarehouseError(f"not a size: {text!r} (write it as DuckDB does, e.g. 2GB or 512MiB)")
    return int(float(m.group(1)) * UNITS[m.group(2).upper()])


def one_line_sql_error(message: str) -> str:
    """DuckDB's first line and its hints ("Did you mean", candidate bindings); not the LINE 1 echo and caret."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    hints = [line for line in lines[1:] if line.startswith(("Candidate", "Did you mean"))]
    return " ".join(lines[:1] + hints)


def spill_root(home: Path) -> Path:
    """home/tmp, where the nightly spills too (made by every writer), else the system's temp folder."""
    return home / "tmp" if (home / "tmp").is_dir() else Path(tempfile.gettempdir())


def remove_stale_spills(root: Path) -> None:
    """Spill folders of `rmcurate sql` processes that are gone (killed, say): their lock is free."""
    for folder in root.glob("rmcurate-sql-*"):
        try:
            fd = os.open(folder / ".lock", os.O_RDONLY)
        except OSError:
            try:  # a folder made this instant has no lock yet: another query's, about to take it
                if time.time() - folder.stat().st_mtime > STALE_UNLOCKED_S:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                pass
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live query's
        finally:
            os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)


def run_sql(home: Path, query: str, fmt: str, max_rows: int, timeout_s: float, max_spill: str,
            unconfined: bool = False) -> int:
    """Run the query in a locked-down child; returns the exit status. Errors are one line on stderr."""
    try:
        check(query)
    except RefusedStatement as e:
        say(f"refused: {e}")
        return 1
    if abi_version() < 1 and not unconfined:
        say(NO_KERNEL_LOCK)
        return 1
    cap = size_bytes(max_spill)
    mend(home)  # may write (an interrupted ingest undone), so before the child locks itself in
    root = spill_root(home)
    remove_stale_spills(root)
    spill = Path(tempfile.mkdtemp(prefix="rmcurate-sql-", dir=root))
    lock = os.open(spill / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)  # held by the child too (a forked copy shares it): stale once both are gone
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    alive_r, alive_w = os.pipe()  # the child reads end-of-file on it when the parent is gone, however
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(alive_w)
            die_with(parent, alive_r)
            code = child(home, query, fmt, max_rows, timeout_s, max_spill, spill)
        except BaseException as e:  # noqa: BLE001 - the child never returns into the CLI
            say(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
        finally:
            try:
                sys.stdout.flush()
            except (BrokenPipeError, ValueError):
                pass
            os._exit(code)
    os.close(alive_r)
    try:
        return wait(pid, timeout_s, spill, cap, max_spill)
    finally:
        os.close(alive_w)
        shutil.rmtree(spill, ignore_errors=True)
        os.close(lock)


def die_with(parent: int, alive: int) -> None:
    """This process ends when its parent does, even by SIGKILL: the kernel's parent-death signal on
    Linux, and everywhere a thread waiting for the parent's end of a pipe to close."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)

    def watch():
        os.read(alive, 1)  # returns b"" once every copy of the write end is closed
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def spilled(folder: Path) -> int:
    """Bytes of disk the files under `folder` take (blocks, so sparse files count as what they use)."""
    total, stack = 0, [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    total += e.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                pass  # removed while we looked
    return total


def wait(pid: int, timeout_s: float, spill: Path, cap: int, max_spill: str) -> int:
    """The child's exit status; kill it if it spills past `cap`, outlives its timeout by KILL_GRACE_S,
    or we are told to stop."""
    def stop(signum, frame):
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, stop)
    deadline = time.monotonic() + timeout_s + KILL_GRACE_S if timeout_s > 0 else None
    next_look = 0.0
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if deadline is not None and time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                say(f"the query did not stop within {KILL_GRACE_S:.0f} s of its --timeout of {timeout_s:g} s: killed")
                return 1
            if time.monotonic() >= next_look:
                next_look = time.monotonic() + SPILL_POLL_S
                used = spilled(spill)
                if used > cap:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    say(f"the query spilled more than its --max-spill of {max_spill} to disk ({used / 1e6:,.0f} MB) "
                        "and was stopped (give --max-spill a larger size, or narrow the query)")
                    return 1
            time.sleep(0.02)
    except BaseException:  # Ctrl-C, SIGTERM: the child goes too, and its spill with it
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        signal.signal(signal.SIGTERM, old)
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        say(f"the query's process was killed by {sig}" + (" (out of memory?)" if sig == "SIGKILL" else ""))
        return 1
    return os.WEXITSTATUS(status)


def say(message: str) -> None:
    print(f"rmcurate: error: {message}", file=sys.stderr, flush=True)


def child(home: Path, query: str, fmt: str, max_rows: int, timeout_s: float, max_spill: str, spill: Path) -> int:
    db = db_path(home)
    forbid_writes([str(spill)], hide=str(home),
                  show=[str(db), f"{db}.wal", str(snapshots(home)), str(standin(home))])
    budget = size_bytes(memory_limit()) + HEADROOM
    resource.setrlimit(resource.RLIMIT_DATA, (budget, budget))
    try:
        con, note = open_sandboxed(home, spill=spill / "duckdb", mended=True, max_spill=f"{size_bytes(max_spill)}B")
    except WarehouseError as e:
        say(str(e))
        return 2
    if note:  # on stderr: stdout stays the answer alone, for csv and json readers
        print(f"rmcurate: note: {note}", file=sys.stderr, flush=True)
    timed_out = threading.Event()

    def interrupt():
        timed_out.set()
        con.interrupt()

    timer = threading.Timer(timeout_s, interrupt) if timeout_s > 0 else None
    if timer:
        timer.daemon = True
        timer.start()
    try:
        write(con, query, fmt, max_rows)
    except BrokenPipeError:  # `rmcurate sql ... | head`: the reader has all it wanted
        sys.stdout = open(os.devnull, "w")
        return 0
    except duckdb.InterruptException:
        if timed_out.is_set():
            say(f"the query ran past its --timeout of {timeout_s:g} s and was stopped "
                "(give --timeout a larger number of seconds, or 0 for none)")
            return 1
        raise
    except (duckdb.OutOfMemoryException, MemoryError) as e:
        say(f"the query needs more memory than it may use (RMCURATE_MEMORY_LIMIT={memory_limit()}, "
            f"spill up to RMCURATE_SQL_MAX_SPILL={max_spill}): "
            f"{one_line_sql_error(str(e)) or type(e).__name__}")
        return 1
    except duckdb.Error as e:
        message = one_line_sql_error(str(e)) or type(e).__name__
        if "temp_directory" in message or "max_temp_directory_size" in message:
            message += f" (the spill limit is RMCURATE_SQL_MAX_SPILL={max_spill})"
        say(message)
        return 1
    finally:
        if timer:
            timer.cancel()
    return 0


def write(con: duckdb.DuckDBPyConnection, query: str, fmt: str, max_rows: int) -> None:
    """The answer on stdout, a batch of rows at a time: memory does not grow with the row count."""
    if fmt == "table":
        rel = con.sql(query)
        if rel is not None:  # None for statements that return no rows
            rel.show(max_rows=max_rows, max_width=240)
        return
    cur = con.execute(query)
    names = [d[0] for d in cur.description] if cur.description else []
    convert = [None if str(d[1]) in AS_IS else plain for d in cur.description or []]
    out = sys.stdout
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        while rows := cur.fetchmany(BATCH):
            writer.writerows([csv_cell(v) for v in r] for r in rows)
        return
    encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=str).encode
    out.write("[")
    first = True
    while rows := cur.fetchmany(BATCH):
        out.write(("\n" if first else ",\n") + ",\n".join(
            encode({n: (v if f is None else f(v)) for n, f, v in zip(names, convert, r)}) for r in rows))
        first = False
    out.write("]\n")
