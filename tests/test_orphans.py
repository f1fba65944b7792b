"""The embedded judge server dies with the process that started it, however that process dies."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rmcurate.judges.embedded import SUPERVISE_SCRIPT, stop_stale

# A parent that starts the supervisor over a command which itself forks a grandchild, as vLLM's engine does.
TREE = """
import subprocess, sys, time
cmd = [sys.executable, "-c", "import subprocess, sys, time; "
       "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
       "print('grandchild', g.pid, flush=True); time.sleep(600)"]
sup = subprocess.Popen([sys.executable, sys.argv[1], str(__import__('os').getpid()), "--", *cmd],
                       start_new_session=True)
print('supervisor', sup.pid, flush=True)
time.sleep(600)
"""


def group_members(pgid: int) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.getpgid(int(p)) == pgid and Path(f"/proc/{p}/stat").read_text().split()[2] != "Z":
                    out.append(int(p))
            except (ProcessLookupError, FileNotFoundError, PermissionError):
                pass
    return out


def wait_until(cond, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_the_supervised_tree_dies_with_its_starter(sig):
    parent = subprocess.Popen([sys.executable, "-c", TREE, str(SUPERVISE_SCRIPT)], stdout=subprocess.PIPE, text=True)
    supervisor = int(parent.stdout.readline().split()[1])
    assert wait_until(lambda: len(group_members(supervisor)) >= 3, 20)  # supervisor, command, grandchild
    parent.send_signal(sig)
    parent.wait()
    assert wait_until(lambda: group_members(supervisor) == [], 30), group_members(supervisor)


def test_a_stale_server_group_is_stopped_and_a_live_ones_left_alone(tmp_path):
    home = tmp_path / "home"
    (home / "run").mkdir(parents=True)
    stale = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    dead_parent = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_parent.wait()
    (home / "run" / f"judge-{stale.pid}.pid").write_text(str(dead_parent.pid))
    (home / "run" / f"judge-{live.pid}.pid").write_text(str(os.getpid()))
    assert stop_stale(home, grace_s=5) == [stale.pid]
    assert stale.wait(timeout=10) is not None and live.poll() is None
    assert not (home / "run" / f"judge-{stale.pid}.pid").exists()
    live.kill()
    live.wait()


SERVE = """
import sys, time
from pathlib import Path
from rmcurate.judges.embedded import EmbeddedServer
server = EmbeddedServer(Path(sys.argv[1])).start()
print(server.url, server.proc.pid, flush=True)
time.sleep(600)
"""


def test_killing_the_starter_stops_the_real_embedded_server(tmp_path):
    """SIGKILL, the worst case: no cleanup code of ours runs, yet no vLLM process outlives it."""
    starter = subprocess.Popen([sys.executable, "-c", SERVE, str(tmp_path / "home")], stdout=subprocess.PIPE,
                               text=True)
    line = starter.stdout.readline()
    assert line, "the embedded server did not start"
    url, group = line.split()[0], int(line.split()[1])
    assert httpx.get(f"{url}/health", timeout=5).status_code == 200
    assert len(group_members(group)) >= 2  # the supervisor and vLLM's processes
    starter.kill()
    starter.wait()

    def down():
        try:
            httpx.get(f"{url}/health", timeout=1)
        except httpx.HTTPError:
            return group_members(group) == []
        return False
    assert wait_until(down, 60), group_members(group)
