"""The `rmcurate` command without its interpreter's start-up, for tests that run it a hundred times.

One helper process imports `rmcurate.cli` once; for each command it forks, and the child runs the
same `cli()` entry point the console script calls, with its own argv, environment and output
files, and exits with its status. Everything after import is the real command: the sql sandbox's
own fork, Landlock and DuckDB included.
"""
import json
import subprocess
import sys
from types import SimpleNamespace

SERVER = r"""
import json, os, sys, tempfile
from rmcurate.cli import cli
for line in sys.stdin:
    args, env = json.loads(line)
    out, err = tempfile.mkstemp(), tempfile.mkstemp()
    pid = os.fork()
    if pid == 0:
        os.environ.update(env)
        os.dup2(out[0], 1)
        os.dup2(err[0], 2)
        sys.argv = ["rmcurate", *args]
        code = 0
        try:
            cli()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    texts = []
    for fd, path in (out, err):
        os.close(fd)
        with open(path, encoding="utf-8", errors="replace") as f:
            texts.append(f.read())
        os.unlink(path)
    print(json.dumps([os.waitstatus_to_exitcode(status), *texts]), flush=True)
"""


class WarmCLI:
    def __init__(self, prelude: str = ""):
        """`prelude`: Python run first in the helper (tests/nolandlock.py's filter, say)."""
        self.proc = subprocess.Popen([sys.executable, "-c", prelude + "\n" + SERVER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def __call__(self, *args, env=None) -> SimpleNamespace:
        self.proc.stdin.write(json.dumps([list(map(str, args)), env or {}]) + "\n")
        self.proc.stdin.flush()
        code, out, err = json.loads(self.proc.stdout.readline())
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
