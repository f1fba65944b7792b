"""One settings module: every RMCURATE_* variable the code reads is a field there, `run --help` lists
them all, docs/settings.md is generated from them, and a value that does not parse is one line."""
import os
import re
import subprocess
import sys
from pathlib import Path

from rmcurate.settings import settings_markdown, variables

ROOT = Path(__file__).parents[1]
RMCURATE = str(Path(sys.executable).parent / "rmcurate")


def test_every_variable_the_code_reads_is_a_setting():
    names = {name for _, name, _, _ in variables()}
    prefixes = {name.rsplit("_", 1)[0] + "_" for name in names} | {"RMCURATE_"}
    used = set()
    for path in (ROOT / "src").rglob("*.py"):
        used |= set(re.findall(r"RMCURATE_[A-Z_]+", path.read_text()))
    unknown = {u for u in used if u not in names and u not in prefixes and not u.endswith("_")}
    assert not unknown, f"read outside rmcurate.settings, or a setting misspelt: {sorted(unknown)}"
    assert {"RMCURATE_HOME", "RMCURATE_MEMORY_LIMIT", "RMCURATE_LOCK_WAIT_S", "RMCURATE_TEARDOWN_STDERR",
            "RMCURATE_SQL_TIMEOUT_S", "RMCURATE_JUDGE_URLS", "RMCURATE_FLOW_WORKERS"} <= names


def test_the_settings_page_is_generated_from_the_code():
    page = (ROOT / "docs" / "settings.md").read_text()
    assert page == settings_markdown(), "docs/settings.md is stale: python -m rmcurate.settings > docs/settings.md"
    for _, name, _, description in variables():
        assert f"`{name}`" in page and description, name


def test_run_help_lists_every_setting_and_a_bad_value_is_one_line(tmp_path):
    helptext = subprocess.run([RMCURATE, "run", "--help"], capture_output=True, text=True,
                              env={**os.environ, "COLUMNS": "250"}).stdout
    flat = " ".join(helptext.replace("│", " ").split())
    for _, name, _, _ in variables():
        assert f"{name}=" in flat, name
    r = subprocess.run([RMCURATE, "--home", str(tmp_path), "status"], capture_output=True, text=True,
                       env={**os.environ, "RMCURATE_LOCK_WAIT_S": "soon"})
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("rmcurate: error: RMCURATE_LOCK_WAIT_S='soon': ") and "number" in r.stderr
