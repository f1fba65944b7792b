"""Run a command so that it dies with the process that asked for it, whatever kills that one.

    python supervise.py PARENT_PID -- COMMAND...

The embedded judge server is vLLM plus engine processes of its own. If the
rmcurate process that started it is killed (SIGKILL, or SIGTERM, which skips
Python's cleanup), nothing would stop them. This supervisor asks the kernel
for a SIGTERM when its parent dies (prctl PR_SET_PDEATHSIG), leads its own
process group, and on SIGTERM, SIGINT or the command's exit takes the whole
group down: SIGTERM, then SIGKILL for what is left after a grace period.
The command gets a temp folder of its own (TMPDIR, and VLLM_RPC_BASE_PATH for vLLM's IPC
sockets), removed once the group is down: each start left 7 socket files in /tmp before.
Standard library only: it runs under the judge virtualenv's Python.
"""
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PR_SET_PDEATHSIG = 1
GRACE_S = 20.0


def take_down(pgid: int, grace_s: float = GRACE_S) -> None:
    """SIGTERM the group (ourselves excepted), then SIGKILL whatever is still there."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:  # reap our own child so it does not linger as a zombie
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            pass
        if not _others_in(pgid):
            return
        time.sleep(0.2)
    for pid in _others_in(pgid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _others_in(pgid: int) -> list[int]:
    """The group's processes other than this one."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit() and int(p) != os.getpid():
            try:
                if os.getpgid(int(p)) == pgid:
                    out.append(int(p))
            except (ProcessLookupError, PermissionError):
                pass
    return out


def main() -> int:
    parent, command = int(sys.argv[1]), sys.argv[sys.argv.index("--") + 1:]
    if os.getpgrp() != os.getpid():
        os.setpgrp()
    pgid = os.getpgrp()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the kernel could be told
        return 1
    stopping = False
    private = tempfile.mkdtemp(prefix="rmcurate-judge-")

    def stop(*_):
        nonlocal stopping
        stopping = True
        take_down(pgid)
        shutil.rmtree(private, ignore_errors=True)
        sys.exit(143)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    child = subprocess.Popen(command, env={**os.environ, "TMPDIR": private, "VLLM_RPC_BASE_PATH": private})
    rc = child.wait()
    if not stopping:
        take_down(pgid, grace_s=5.0)  # the server exited on its own: leave none of its engine behind
    shutil.rmtree(private, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
