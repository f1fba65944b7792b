import os
import tempfile

# Prefect keeps its state in PREFECT_HOME: give the test session its own, before prefect is imported.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="rmcurate-prefect-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
# Prefect logs "stopping temporary server" at exit, after pytest closed the captured streams.
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from benchmarks.wildchat_gen import generate  # noqa: E402
from warehouse import connect  # noqa: E402


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
