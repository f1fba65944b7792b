import atexit
import os
import shutil
import tempfile

# Prefect keeps its state in PREFECT_HOME: give the test session its own, before prefect is imported.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="rmcurate-prefect-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")  # a busy 2-core CI box starts it slowly
# Prefect logs "stopping temporary server" at exit, after pytest closed the captured streams.
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
# Hugging Face `datasets` caches what it loads: a shared cache would answer for an earlier session's files.
os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="rmcurate-hf-datasets-")
os.environ["HF_HUB_OFFLINE"] = "1"
# Both go at exit (6-8 MB a session otherwise left in /tmp). Registered before prefect is imported, so
# this runs after Prefect's own exit handler has stopped its temporary server.
for _tmp in (os.environ["PREFECT_HOME"], os.environ["HF_DATASETS_CACHE"]):
    atexit.register(shutil.rmtree, _tmp, True)

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from rmcurate.warehouse import connect  # noqa: E402

from benchmarks.wildchat_gen import generate  # noqa: E402


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def con(home):
    c = connect(home)
    yield c
    c.close()


def write_json(path: Path, value) -> Path:
    path.write_text(json.dumps(value))
    return path


def write_jsonl(path: Path, lines) -> Path:
    with open(path, "wb") as f:
        for line in lines:
            f.write(line if isinstance(line, bytes) else json.dumps(line).encode())
            f.write(b"\n")
    return path


@pytest.fixture(scope="session")
def wildchat_parquet(tmp_path_factory) -> Path:
    """200 conversations in the full WildChat Parquet schema."""
    return generate(tmp_path_factory.mktemp("wc") / "wildchat.parquet", 200, seed=1)


def rows(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def judge_home(tmp_path_factory) -> Path:
    """The home of the session's judge server: the converted SmolLM2 lives under it."""
    return tmp_path_factory.mktemp("judge-home")


@pytest.fixture(scope="session")
def smollm2(judge_home) -> Path:
    """SmolLM2-135M-Instruct as safetensors (converted once per session, shared with the judge server)."""
    from rmcurate.judges.embedded import ensure_model
    from rmcurate.settings import JudgeSettings

    return ensure_model(judge_home, JudgeSettings().python)


@pytest.fixture(scope="session")
def judge_url(judge_home) -> str:
    """One real vLLM server for the whole session, started through `rmcurate judge serve`.

    Set RMCURATE_TEST_JUDGE_URL to reuse a server you already run (saves its start-up).
    """
    if url := os.environ.get("RMCURATE_TEST_JUDGE_URL"):
        assert _healthy(url), f"RMCURATE_TEST_JUDGE_URL={url} is not healthy"
        yield url
        return
    import signal
    import subprocess
    import sys
    import time

    from rmcurate.judges.embedded import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = judge_home / "serve.log"
    with log.open("w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "rmcurate.cli", "--home", str(judge_home), "judge", "serve",
                                 "--port", str(port)], stdout=f, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while not _healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"`rmcurate judge serve` did not come up:\n{log.read_text()[-3000:]}")
        time.sleep(1)
    yield url
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
    assert not _healthy(url), "the judge server outlived `rmcurate judge serve`"
