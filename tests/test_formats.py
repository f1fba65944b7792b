"""Real conversations written as each product writes them load without --format, keep every message,
and give the same turns whatever the format: one turn rule for all. Greeting-first and user-user
conversations are among them; compressed files stream; a second ingest adds nothing."""
import bz2
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from rmcurate.readers.records import iter_json_array
from rmcurate.readers.sharegpt import parse_sharegpt
from rmcurate.stages.sources import sample_file
from rmcurate.warehouse import connect

from conftest import rows

RMCURATE = str(Path(sys.executable).parent / "rmcurate")
N = 60
GREETING = ("assistant", "Hello! I'm your assistant. What can I do for you today?")


def sample_conversations(tmp: Path) -> list[list[tuple[str, str]]]:
    """N real ShareGPT conversations as (role, content) lists, plus the shapes WildChat really has:
    a greeting before the first question, and two user messages in a row."""
    convs = []
    for rec in iter_json_array(sample_file(tmp, N)):
        _, messages = parse_sharegpt(rec.value, rec.row)
        convs.append([(m["role"], m["content"]) for m in messages])
    greeted = [[GREETING, *c] for c in convs[:10]]
    doubled = [[c[0], ("user", "Also, keep it short please."), *c[1:]] for c in convs[10:20] if c]
    return convs + greeted + doubled


def wildchat(i, c):
    return {"conversation_hash": f"wc{i}", "model": "gpt-4", "timestamp": "2023-05-01T10:00:00Z",
            "conversation": [{"role": r, "content": t, "language": "English", "toxic": False, "redacted": False}
                             for r, t in c], "language": "English", "toxic": False, "redacted": False}


def lmsys(i, c):
    return {"conversation_id": f"lm{i}", "model": "vicuna-13b", "turn": sum(r == "user" for r, _ in c),
            "language": "English", "redacted": False, "conversation": [{"role": r, "content": t} for r, t in c],
            "openai_moderation": [{"categories": {"harassment": False}, "category_scores": {"harassment": 0.001},
                                   "flagged": False} for _ in c]}


def sharegpt(i, c):
    return {"id": f"sg{i}", "conversations": [{"from": "human" if r == "user" else "gpt" if r == "assistant" else r,
                                               "value": t} for r, t in c]}


def openai(i, c, parts=True):  # content as parts on odd records, as the newer API logs it
    return {"id": f"chatcmpl-{i}", "user": f"user-{i % 7}", "model": "gpt-4o",
            "messages": [{"role": r, "content": [{"type": "text", "text": t}] if parts and i % 2 else t}
                         for r, t in c]}


def chat_dataset(i, c):  # a Hugging Face chat dataset: messages with string content, no id
    return {"messages": openai(i, c, parts=False)["messages"]}


def write(path: Path, records: list[dict], container: str) -> Path:
    if container == "parquet":
        pq.write_table(pa.Table.from_pylist(records), path)
    elif container == "json":
        path.write_text(json.dumps(records))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


CASES = [  # (file name, builder, container, compression)
    ("wildchat.jsonl", wildchat, "jsonl", None), ("wildchat.parquet", wildchat, "parquet", None),
    ("lmsys.jsonl", lmsys, "jsonl", None), ("lmsys.parquet", lmsys, "parquet", None),
    ("sharegpt.json", sharegpt, "json", None), ("openai.jsonl", openai, "jsonl", None),
    ("chat.parquet", chat_dataset, "parquet", None), ("openai.jsonl.gz", openai, "jsonl", gzip.compress),
    ("wildchat.json.bz2", wildchat, "json", bz2.compress), ("sharegpt.jsonl.zst", sharegpt, "jsonl",
                                                              zstandard.compress),
]
KIND = {wildchat: "wildchat", lmsys: "lmsys", sharegpt: "sharegpt", openai: "openai", chat_dataset: "openai"}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    convs = sample_conversations(root)
    out = {}
    for name, build, container, compress in CASES:
        path = write(root / name, [build(i, c) for i, c in enumerate(convs)], container)
        if compress:
            path.write_bytes(compress(path.read_bytes()))
        home = root / f"home-{name}"
        first = subprocess.run([RMCURATE, "--home", str(home), "ingest", str(path)], capture_output=True, text=True)
        again = subprocess.run([RMCURATE, "--home", str(home), "ingest", str(path), "--force"], capture_output=True,
                               text=True)
        out[name] = (home, first, again)
    return convs, out


def turns(home: Path) -> list[tuple]:
    con = connect(home, read_only=True)
    try:
        return sorted(rows(con, "SELECT [h.content for h in history], prompt, response, feedback FROM turns"))
    finally:
        con.close()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_format_loads_every_conversation_and_message_as_written(loaded, case):
    convs, out = loaded
    name, build, container, _ = case
    home, first, again = out[name]
    assert first.returncode == 0, first.stderr
    assert f"{KIND[build]}-{container}" in first.stdout
    con = connect(home, read_only=True)
    try:
        assert rows(con, "SELECT count(*), sum(n_messages) FROM conversations") == \
            [(len(convs), sum(len(c) for c in convs))]
        assert rows(con, "SELECT count(*) FROM quarantine") == [(0,)]
        stored = rows(con, "SELECT list((role, content) ORDER BY message_index) FROM messages "
                           "GROUP BY conversation_id")
        assert sorted(tuple(tuple(m) for m in c) for (c,) in stored) == sorted(tuple(c) for c in convs)
        # read again, forced: it replaces itself, nothing is added
        assert again.returncode == 0, again.stderr
        assert rows(con, "SELECT count(*) FROM conversations") == [(len(convs),)]
    finally:
        con.close()


def test_every_format_gives_the_same_turns(loaded):
    convs, out = loaded
    reference = turns(out["sharegpt.json"][0])
    assert len(reference) > 50
    # a greeting is never a turn's reply; the doubled question is history, the later one the prompt
    assert not any(response == GREETING[1] for _, _, response, _ in reference)
    assert any(prompt == "Also, keep it short please." for _, prompt, _, _ in reference) or \
        any("Also, keep it short please." in history for history, _, _, _ in reference)
    for name, *_ in CASES:
        assert turns(out[name][0]) == reference, name


def test_a_second_plain_ingest_is_skipped(loaded, tmp_path):
    _, out = loaded
    home, _, _ = out["openai.jsonl.gz"]
    path = next(p for p in home.parent.iterdir() if p.name == "openai.jsonl.gz")
    r = subprocess.run([RMCURATE, "--home", str(home), "ingest", str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and "skipped (same content" in r.stdout, r.stdout + r.stderr


def up_to_last_reply(convs: list, prefix: str) -> dict:
    """What a trace export holds of each conversation: up to its last reply that had a question before it
    (the user's last message is in no call's input)."""
    expected = {}
    for i, c in enumerate(convs):
        last = max((k for k, (role, _) in enumerate(c) if role == "assistant" and
                    any(r == "user" for r, _ in c[:k])), default=None)
        if last is not None:
            expected[f"{prefix}{i}"] = c[:last + 1]
    return expected


def forced_reingest_adds_nothing(home: Path, path: Path, conversations: int, events: int) -> None:
    again = subprocess.run([RMCURATE, "--home", str(home), "ingest", str(path), "--force"], capture_output=True,
                           text=True)
    assert again.returncode == 0, again.stderr
    con = connect(home, read_only=True)
    try:
        assert rows(con, "SELECT count(*) FROM conversations") == [(conversations,)]
        assert rows(con, "SELECT count(*) FROM events") == [(events,)]
    finally:
        con.close()


def otlp_line(spans: list[dict]) -> str:
    return json.dumps({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name",
                                                                        "value": {"stringValue": "chat"}}]},
                                          "scopeSpans": [{"scope": {"name": "genai"}, "spans": spans}]}]})


def attr(key, value):
    kind = "stringValue" if isinstance(value, str) else "doubleValue" if isinstance(value, float) else "intValue"
    return {"key": key, "value": {kind: value if kind != "intValue" else str(value)}}


def otel_spans(i: int, c: list[tuple[str, str]]) -> list[dict]:
    """One span per model call, as an instrumented chat app records them: the history so far in, the
    reply out; thumbs and copies as evaluation events on some calls; an HTTP span beside them."""
    spans = [{"traceId": f"t{i}", "spanId": f"http{i}", "name": "POST /chat", "attributes": [attr("http.method", "POST")]}]
    for k, (role, text) in enumerate(c):
        if role != "assistant" or not any(r == "user" for r, _ in c[:k]):
            continue
        inp = [{"role": r, "parts": [{"type": "text", "content": t}]} for r, t in c[:k]]
        events = []
        if k % 3 == 1:
            events.append({"name": "gen_ai.evaluation.result", "timeUnixNano": "1714000000000000000",
                           "attributes": [attr("gen_ai.evaluation.name", "user_feedback"),
                                          attr("gen_ai.evaluation.score.value", 1.0 if i % 2 else -1.0)]})
        if k % 4 == 1:
            events.append({"name": "gen_ai.evaluation.result", "attributes": [attr("gen_ai.evaluation.name", "copy")]})
        if i == 0 and k == 1:
            events.append({"name": "gen_ai.evaluation.result", "attributes": [attr("gen_ai.evaluation.name", "vibes"),
                                                                              attr("gen_ai.evaluation.score.value", 3)]})
        spans.append({"traceId": f"t{i}-{k}", "spanId": f"s{i}-{k}", "name": "chat gpt-4o",
                      "startTimeUnixNano": str(1714000000000000000 + k), "events": events,
                      "attributes": [attr("gen_ai.conversation.id", f"conv-{i}"),
                                     attr("gen_ai.request.model", "gpt-4o"),
                                     attr("gen_ai.input.messages", json.dumps(inp)),
                                     attr("gen_ai.output.messages", json.dumps(
                                         [{"role": "assistant", "parts": [{"type": "text", "content": text}],
                                           "finish_reason": "stop"}]))]})
    return spans


def test_opentelemetry_genai_spans_give_each_conversation_once_and_its_feedback(tmp_path):
    convs = sample_conversations(tmp_path)
    path = tmp_path / "traces.jsonl"
    # a few conversations to a line, as the collector's file exporter batches them
    spans = [otel_spans(i, c) for i, c in enumerate(convs)]
    path.write_text("".join(otlp_line([s for group in spans[j:j + 5] for s in group]) + "\n"
                            for j in range(0, len(spans), 5)))
    home = tmp_path / "home"
    r = subprocess.run([RMCURATE, "--home", str(home), "ingest", str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and "otel-jsonl" in r.stdout, r.stdout + r.stderr
    expected = up_to_last_reply(convs, "conv-")
    con = connect(home, read_only=True)
    try:
        stored = dict(rows(con, "SELECT conversation_id, list((role, content) ORDER BY message_index) FROM messages "
                                "GROUP BY 1"))
        assert {k: [tuple(m) for m in v] for k, v in stored.items()} == expected
        assert rows(con, "SELECT DISTINCT source, model FROM conversations") == [("otel", "gpt-4o")]
        # every feedback event sits on the reply its call produced
        got = rows(con, """SELECT e.conversation_id, e.message_index, e.event, m.role FROM events e
                           JOIN messages m USING (conversation_id, message_index) ORDER BY 1, 2, 3""")
        want = sorted((f"conv-{i}", k, kind, "assistant") for i, c in enumerate(convs) for k, (role, _) in enumerate(c)
                      if role == "assistant" and any(r == "user" for r, _ in c[:k])
                      for kind in (["thumbs_up" if i % 2 else "thumbs_down"] if k % 3 == 1 else []) +
                      (["copy"] if k % 4 == 1 else []))
        assert got == want and len(got) > 20
        assert rows(con, "SELECT count(*) FROM events WHERE NOT conversation_known") == [(0,)]
        (reason,), = rows(con, "SELECT reason FROM quarantine")
        assert reason.startswith("feedback 'vibes' is not mapped to an event kind")
    finally:
        con.close()
    forced_reingest_adds_nothing(home, path, len(expected), len(want))
    # a team's own feedback name, mapped in settings, becomes an event instead of a quarantine row
    mapped = tmp_path / "mapped"
    r = subprocess.run([RMCURATE, "--home", str(mapped), "ingest", str(path)], capture_output=True, text=True,
                       env={**os.environ, "RMCURATE_SOURCES_FEEDBACK_NAMES": "vibes=share"})
    assert r.returncode == 0, r.stderr
    con = connect(mapped, read_only=True)
    try:
        assert rows(con, "SELECT count(*) FROM quarantine") == [(0,)]
        assert rows(con, "SELECT conversation_id, message_index FROM events WHERE event = 'share'") == [("conv-0", 1)]
    finally:
        con.close()


def langfuse_traces(i: int, c: list[tuple[str, str]], full_history: bool) -> list[dict]:
    """One trace per model call in session `s{i}`, as Langfuse's API returns them: the input holds the
    history so far (`full_history`) or only what the user said since the last reply; the output the reply."""
    traces, last = [], 0
    for k, (role, text) in enumerate(c):
        if role != "assistant" or not any(r == "user" for r, _ in c[:k]):
            continue
        sent = c[:k] if full_history else c[last:k]
        inp = [{"role": r, "content": t} for r, t in sent]
        traces.append({"id": f"tr-{i}-{k}", "timestamp": f"2026-11-0{1 + i % 9}T{10 + k // 60}:{k % 60:02d}:00.000Z",
                       "name": "chat", "sessionId": f"s{i}", "userId": f"u{i % 5}", "release": None,
                       "input": inp if i % 3 else {"messages": inp},
                       "output": {"role": "assistant", "content": text}, "metadata": {}, "tags": [],
                       "observations": [f"obs-{i}-{k}"], "scores": [], "htmlPath": f"/project/x/traces/tr-{i}-{k}",
                       "latency": 1.5, "totalCost": 0.0})
        last = k + 1
    return traces


def langfuse_scores(traces: list[dict]) -> list[dict]:
    """Thumbs as BOOLEAN scores, copies as NUMERIC ones, on some traces; and two that attach to nothing."""
    scores = []
    for n, t in enumerate(traces):
        base = {"traceId": t["id"], "timestamp": t["timestamp"], "source": "API", "observationId": None,
                "comment": None, "createdAt": t["timestamp"], "updatedAt": t["timestamp"]}
        if n % 3 == 0:
            scores.append({**base, "id": f"sc-{n}", "name": "user-feedback", "dataType": "BOOLEAN",
                           "value": float(n % 2), "stringValue": "True" if n % 2 else "False"})
        if n % 4 == 0:
            scores.append({**base, "id": f"cp-{n}", "name": "copied", "dataType": "NUMERIC", "value": 1.0})
    scores.append({"id": "lost", "traceId": "tr-never-loaded", "name": "user-feedback", "dataType": "BOOLEAN",
                   "value": 1.0, "stringValue": "True", "timestamp": "2026-11-02T10:00:00Z", "source": "API"})
    scores.append({"id": "session-level", "traceId": None, "sessionId": "s1", "name": "user-feedback",
                   "dataType": "NUMERIC", "value": 1.0, "timestamp": "2026-11-02T10:00:00Z", "source": "API"})
    return scores


def page(items: list[dict]) -> dict:
    return {"data": items, "meta": {"page": 1, "limit": 100, "totalItems": len(items), "totalPages": 1}}


def test_langfuse_traces_and_scores_load_as_conversations_and_the_feedback_on_each_reply(tmp_path):
    convs = sample_conversations(tmp_path)
    traces = [t for i, c in enumerate(convs) for t in langfuse_traces(i, c, full_history=i % 2 == 0)]
    scores = langfuse_scores(traces)
    folder = tmp_path / "langfuse"
    folder.mkdir()
    # scores first by name: the ingest still reads the traces before them
    (folder / "a-scores.json").write_text(json.dumps(page(scores), indent=2))
    half = len(traces) // 2  # the traces in two API pages: one pretty-printed, one a line per trace
    (folder / "traces-1.json").write_text(json.dumps(page(traces[:half]), indent=2))
    (folder / "traces-2.jsonl").write_text("".join(json.dumps(t) + "\n" for t in traces[half:]))
    home = tmp_path / "home"
    r = subprocess.run([RMCURATE, "--home", str(home), "ingest", str(folder)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "langfuse-object" in r.stdout and "langfuse-jsonl" in r.stdout
    expected = up_to_last_reply(convs, "s")
    con = connect(home, read_only=True)
    try:
        stored = dict(rows(con, """SELECT c.source_id, list((role, content) ORDER BY message_index) FROM messages
                                   JOIN conversations c USING (conversation_id) GROUP BY 1"""))
        # a history repeated in every trace is stored once; traces that log only the new message add up
        assert {k: [tuple(m) for m in v] for k, v in stored.items()} == expected
        assert rows(con, "SELECT DISTINCT source FROM conversations") == [("langfuse",)]
        got = rows(con, """SELECT c.source_id, e.message_index, e.event, m.role FROM events e
                           JOIN messages m USING (conversation_id, message_index)
                           JOIN conversations c USING (conversation_id) ORDER BY 1, 2, 3""")
        reply_of = {t["id"]: (t["sessionId"], int(t["id"].rsplit("-", 1)[1])) for t in traces}
        want = sorted((*reply_of[s["traceId"]], {"user-feedback": "thumbs_up" if s.get("stringValue") == "True"
                                                  else "thumbs_down", "copied": "copy"}[s["name"]], "assistant")
                      for s in scores[:-2])
        assert got == want and len(got) > 20
        reasons = sorted(r for (r,) in rows(con, "SELECT reason FROM quarantine"))
        assert len(reasons) == 2
        assert reasons[0].startswith("score 'user-feedback' names no trace")
        assert reasons[1].startswith("unattached: trace tr-never-loaded is in no ingest so far")
    finally:
        con.close()
    forced_reingest_adds_nothing(home, folder, len(expected), len(want))


def test_langfuse_scores_of_a_later_night_find_the_replies_of_an_earlier_one(tmp_path):
    convs = sample_conversations(tmp_path)[:6]
    traces = [t for i, c in enumerate(convs) for t in langfuse_traces(i, c, full_history=True)]
    scores = langfuse_scores(traces)[:-2]
    home = tmp_path / "home"
    night1 = write(tmp_path / "traces.jsonl", traces, "jsonl")
    night2 = write(tmp_path / "scores.jsonl", scores, "jsonl")
    for path in (night1, night2):
        r = subprocess.run([RMCURATE, "--home", str(home), "ingest", str(path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    con = connect(home, read_only=True)
    try:
        assert rows(con, "SELECT count(*) FROM events WHERE conversation_known") == [(len(scores),)]
        assert rows(con, "SELECT count(*) FROM quarantine") == [(0,)]
    finally:
        con.close()


def test_one_pretty_printed_document_loads_as_its_records(tmp_path):
    """An OTLP export saved pretty-printed, as a collector's debug output or a hand-saved API answer is."""
    convs = sample_conversations(tmp_path)[:5]
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(json.loads(otlp_line([s for i, c in enumerate(convs) for s in otel_spans(i, c)])),
                               indent=2))
    home = tmp_path / "home"
    r = subprocess.run([RMCURATE, "--home", str(home), "ingest", str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and "otel-object" in r.stdout, r.stdout + r.stderr
    con = connect(home, read_only=True)
    try:
        assert rows(con, "SELECT count(*) FROM conversations") == [(5,)]
    finally:
        con.close()
