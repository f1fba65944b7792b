"""Model checkpoints kept per home: the last N runs', and whatever those link to."""
import re
import shutil
from pathlib import Path

RUN_ID = re.compile(r"\d{8}T\d{6}Z")  # models/<run id>/; other folders (the converted judge) are never pruned


def prune_checkpoints(home: Path, keep_runs: int) -> list[str]:
    """Delete models/<run>/ of all but the newest `keep_runs` runs, keeping any folder a kept run
    reuses (an unchanged export links to the earlier model). Returns the run ids removed."""
    root = home / "models"
    runs = sorted(p for p in root.glob("*") if p.is_dir() and not p.is_symlink() and RUN_ID.fullmatch(p.name)) \
        if root.exists() else []
    kept = runs[-keep_runs:] if keep_runs > 0 else []
    needed = {link.resolve().parent for run in kept for link in run.iterdir() if link.is_symlink()}
    removed = []
    for run in runs:
        if run not in kept and run.resolve() not in needed:
            shutil.rmtree(run)
            removed.append(run.name)
    return removed
