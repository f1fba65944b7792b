"""Readers turn real and broken files into records or quarantine rows, never crash."""
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rmcurate.readers import FormatError, detect
from rmcurate.readers.read import read
from rmcurate.stages.sources import bundled_sharegpt

from conftest import write_json, write_jsonl


def collect(path: Path, kind=None):
    fmt = detect(path, kind)
    good, messages, bad = [], [], []
    for chunk in read(path, fmt):
        table = chunk.conversations if chunk.conversations is not None else chunk.events
        good += table.to_pylist()
        messages += chunk.messages.to_pylist() if chunk.messages is not None else []
        bad += chunk.quarantined
    return fmt, good, messages, bad


def test_bundled_sharegpt_loads_every_complete_record_and_reports_the_truncation():
    fmt, good, messages, bad = collect(bundled_sharegpt())
    assert fmt.name == "sharegpt-json"
    assert len(good) == 17_671
    assert len({c["conversation_id"] for c in good}) == 17_671  # reused ShareGPT ids stay distinct
    assert [q.reason for q in bad] == ["truncated JSON (file ends inside a record)"]
    assert bad[0].location.startswith("record 17671")
    assert {m["role"] for m in messages} == {"user", "assistant", "system"}


def test_sharegpt_speakers_map_and_unknown_ones_are_quarantined(tmp_path):
    path = write_json(tmp_path / "s.json", [
        {"id": "a", "conversations": [{"from": "human", "value": "hi"}, {"from": "bard", "value": "hello"}]},
        {"id": "b", "conversations": [{"from": "robot", "value": "beep"}]},
        {"id": "c", "conversations": [{"from": "human", "value": 3}]},
        {"id": "d"},
    ])
    _, good, messages, bad = collect(path)
    assert [c["source_id"] for c in good] == ["a"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert [q.reason for q in bad] == [
        "unknown speaker 'robot' in conversations.0",
        "bad value for conversations.0.value: expected a string",
        "missing field: conversations",
    ]
    assert [q.location for q in bad] == ["record 1", "record 2", "record 3"]


def test_invalid_utf8_inside_a_json_array_costs_only_that_record(tmp_path):
    path = tmp_path / "s.json"
    path.write_bytes(b'[{"id": "ok1", "conversations": [{"from": "human", "value": "fine"}]},\n'
                     b' {"id": "bad", "conversations": [{"from": "human", "value": "caf\xe9"}]},\n'
                     b' {"id": "ok2", "conversations": []}]')
    _, good, _, bad = collect(path)
    assert [c["source_id"] for c in good] == ["ok1", "ok2"]
    assert [(q.location, q.reason) for q in bad] == [("record 1", "invalid UTF-8 bytes in record")]


def test_jsonl_lines_that_are_not_json_or_not_utf8_are_quarantined_with_their_line(tmp_path):
    ok = {"id": "x", "conversations": [{"from": "gpt", "value": "hi"}]}
    path = write_jsonl(tmp_path / "s.jsonl", [ok, b"{not json", b"", b'{"id": "\xff"}', {**ok, "id": "y"}])
    _, good, _, bad = collect(path)
    assert [c["source_id"] for c in good] == ["x", "y"]
    assert [q.reason for q in bad] == ["not JSON: Expecting property name enclosed in double quotes",
                                       "invalid UTF-8"]
    assert bad[0].location.startswith("line 2 ") and bad[1].location.startswith("line 4 ")


def test_long_fields_are_capped_in_quarantine_only(tmp_path):
    long = "x" * 50_000
    path = write_jsonl(tmp_path / "s.jsonl", [{"id": "ok", "conversations": [{"from": "human", "value": long}]},
                                              {"id": "bad", "conversations": [{"from": "?", "value": long}]}])
    _, good, messages, bad = collect(path)
    assert messages[0]["content"] == long
    assert len(bad[0].raw) < 2100 and bad[0].raw.endswith("more chars]")


def test_wildchat_parquet_keeps_messages_and_moderation(wildchat_parquet):
    fmt, good, messages, bad = collect(wildchat_parquet)
    source = pq.read_table(wildchat_parquet).to_pylist()
    assert fmt.name == "wildchat-parquet" and not bad
    assert [c["conversation_id"] for c in good] == [r["conversation_hash"] for r in source]
    assert len(messages) == sum(len(r["conversation"]) for r in source)
    first = next(m for m in messages if m["conversation_id"] == source[0]["conversation_hash"]
                 and m["message_index"] == 1)
    want = source[0]["openai_moderation"][1]
    assert first["content"] == source[0]["conversation"][1]["content"]
    scores = first["moderation_scores"]
    assert {k: v for k, v in scores.items() if k in want["category_scores"]} == pytest.approx(want["category_scores"])
    assert scores["illicit"] is None  # a listed name this file does not have
    assert first["moderation_categories"] == [k for k, v in want["categories"].items() if v]
    assert first["detoxify_scores"] == pytest.approx(source[0]["detoxify_moderation"][1])
    assert first["other_scores"] is None


@pytest.mark.parametrize("container", ["jsonl", "parquet"])
def test_wildchat_moderation_keeps_every_score_and_skips_what_does_not_fit(tmp_path, container):
    msg = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    scores = {"hate": 0.9, "violence": 1.0, "brand-new": 0.5}
    if container == "jsonl":
        scores["sexual"] = "high"  # JSON can carry a string where a score belongs; Parquet cannot
    openai = [{"flagged": True, "categories": {"hate": True, "violence": False}, "category_scores": scores},
              {"flagged": False, "categories": {"hate": False, "violence": False}, "category_scores": None}]
    records = [
        {"conversation_hash": "h1", "conversation": msg, "openai_moderation": openai,
         "detoxify_moderation": [{"toxicity": 0.1, "identity_hate": 0.2}, None]},
        {"conversation_hash": "h2", "conversation": msg, "openai_moderation": openai[:1],  # not aligned
         "detoxify_moderation": None},
    ]
    if container == "jsonl":
        path = write_jsonl(tmp_path / "w.jsonl", records)
    else:
        path = tmp_path / "w.parquet"
        pq.write_table(pa.Table.from_pylist(records), path)
    _, good, messages, bad = collect(path)
    assert not bad and [c["conversation_id"] for c in good] == ["h1", "h2"]
    first, second, other = messages[0], messages[1], messages[2]
    assert first["moderation_flagged"] is True and first["moderation_categories"] == ["hate"]
    assert first["moderation_scores"]["hate"] == 0.9 and first["moderation_scores"]["violence"] == 1.0
    assert first["moderation_scores"]["sexual"] is None
    assert first["detoxify_scores"]["toxicity"] == 0.1
    assert dict(first["other_scores"]) == {"openai:brand-new": 0.5, "detoxify:identity_hate": 0.2}
    assert second["moderation_flagged"] is False and second["moderation_scores"] is None
    assert second["detoxify_scores"] is None and second["other_scores"] is None
    assert other["moderation_flagged"] is None and other["moderation_scores"] is None


def test_wildchat_rows_missing_required_fields_or_with_bad_timestamps_are_quarantined(tmp_path):
    msg = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    path = write_jsonl(tmp_path / "w.jsonl", [
        {"conversation_hash": "h1", "conversation": msg, "timestamp": "2023-05-01T10:00:00Z", "language": "English"},
        {"conversation": msg},
        {"conversation_hash": "h3", "conversation": msg, "timestamp": "last tuesday"},
        {"conversation_hash": "h4", "conversation": [{"role": "robot", "content": "x"}]},
        {"conversation_hash": "h5", "conversation": "not a list"},
    ])
    fmt, good, messages, bad = collect(path)
    assert fmt.name == "wildchat-jsonl"
    assert [c["conversation_id"] for c in good] == ["h1"]
    assert good[0]["created_at"].isoformat() == "2023-05-01T10:00:00+00:00"
    assert sorted(q.reason for q in bad) == sorted([
        "missing field: conversation_hash", "unparseable timestamp", "unknown role robot",
        "bad value for conversation: expected list, got str"])


def test_events_are_validated_one_by_one(tmp_path):
    ev = {"event_id": "e1", "ts": "2024-01-01T00:00:00Z", "user_id": "u", "conversation_id": "c",
          "message_index": 1, "event": "copy", "payload": {"chars": 120}}
    path = write_jsonl(tmp_path / "e.jsonl", [
        ev, {**ev, "event_id": "e2", "event": "teleport"}, {**ev, "event_id": "e3", "ts": "soon"},
        {k: v for k, v in ev.items() if k != "conversation_id"}, {**ev, "event_id": "e5", "ts": 1_700_000_000},
    ])
    fmt, good, _, bad = collect(path)
    assert fmt.name == "events-jsonl"
    assert [e["event_id"] for e in good] == ["e1", "e5"]
    assert good[0]["payload"] == '{"chars": 120}'
    assert [q.reason for q in bad] == ["unknown event kind 'teleport'", "unparseable timestamp: 'soon'",
                                       "missing field: conversation_id"]


def test_detection_is_by_content_and_can_be_forced(tmp_path, wildchat_parquet):
    renamed = tmp_path / "data.bin"
    renamed.write_bytes(wildchat_parquet.read_bytes())
    assert detect(renamed).name == "wildchat-parquet"
    odd = write_jsonl(tmp_path / "odd.jsonl", [{"something": 1}])
    with pytest.raises(FormatError, match="use --format"):
        detect(odd)
    assert detect(odd, "events").name == "events-jsonl"
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(FormatError, match="unrecognized format"):
        detect(text)
    (tmp_path / "empty").write_bytes(b"")
    assert detect(tmp_path / "empty").name == "empty"


def test_a_null_moderation_entry_is_null_whatever_its_children_hold():
    import numpy as np

    from rmcurate.readers import moderation

    # Arrow lets a null struct keep child values; Parquet writers from other tools can leave such slots.
    entry = pa.StructArray.from_arrays([pa.array([True, True])], names=["flagged"], mask=pa.array([False, True]))
    lists = pa.ListArray.from_arrays(pa.array([0, 2], pa.int32()), entry)
    assert moderation.columns({"openai_moderation": lists}, np.array([2]))["moderation_flagged"].to_pylist() == [True, None]


@pytest.mark.parametrize("block", [1, 2, 7, 1 << 20])
def test_a_broken_array_is_salvaged_element_by_element_whatever_the_read_size(tmp_path, monkeypatch, block):
    from rmcurate.readers import records
    monkeypatch.setattr(records, "BLOCK", block)
    tricky = {"id": "q", "conversations": [{"from": "human", "value": 'brackets ] } [ { and "quotes", \\ and \\"'}]}
    path = tmp_path / "s.json"
    path.write_bytes(b"\xef\xbb\xbf[" + json.dumps({"id": "a", "conversations": []}).encode() + b",\n"
                     + b'{"id": "broken" "conversations": []},\n' + json.dumps(tricky).encode() + b", 42,\n"
                     + b'{"id": "cut", "conversations": [{"from": "human", "value": "never ends')
    got = list(records.iter_json_array(path))
    assert [r.value.get("id") if isinstance(r.value, dict) else r.value for r in got] == ["a", None, "q", 42, None]
    assert got[1].problem.startswith("malformed JSON") and got[1].location.startswith("record 1")
    assert got[2].value == tricky
    assert got[4].problem == "truncated JSON (file ends inside a record)"
