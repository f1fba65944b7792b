"""Logs as teams keep them: one record per model call, tools in the conversation, feedback keyed by the app's ids.

The same conversations (real ShareGPT ones, a third of them with a tool call midway) are written as each
exporter documents its records, then ingested: every source must store the same messages (tool calls and
results included) and give the same turns. Field names follow the exporters' documentation:
- OpenAI chat completions (tool_calls, tool messages, refusal): https://platform.openai.com/docs/api-reference/chat
- Anthropic Messages (system, tool_use/tool_result/thinking blocks): https://docs.anthropic.com/en/api/messages
- LiteLLM StandardLoggingPayload (id, trace_id, call_type, messages, response, startTime, metadata):
  https://docs.litellm.ai/docs/proxy/logging_spec
- LangSmith runs (run_type, inputs, outputs, parent_run_id, trace_id, extra.metadata.thread_id) and feedback
  (run_id, key, score): https://docs.smith.langchain.com/reference/data_formats/run_data_format
- PostHog $ai_generation ($ai_input, $ai_output_choices, $ai_trace_id, $ai_session_id) and $ai_metric:
  https://posthog.com/docs/llm-analytics/generations
- OpenInference semantic conventions (llm.input_messages.N.message.*, session.id):
  https://github.com/Arize-ai/openinference/blob/main/spec/semantic_conventions.md
- OpenLLMetry (gen_ai.prompt.N.*, gen_ai.completion.N.*, traceloop.association.properties.*):
  https://github.com/traceloop/openllmetry
- OTel GenAI events (gen_ai.user.message, gen_ai.choice, ...) and log records:
  https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-events/
- Segment track spec: https://segment.com/docs/connections/spec/track/ ; Amplitude export API:
  https://amplitude.com/docs/apis/analytics/export ; Phoenix span annotations:
  https://arize.com/docs/phoenix/tracing/how-to-tracing/feedback-and-annotations
"""
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rmcurate.readers.records import iter_json_array
from rmcurate.readers.sharegpt import parse_sharegpt
from rmcurate.stages.sources import sample_file
from rmcurate.warehouse import connect
from rmcurate.warehouse.ingest import ingest_path

from conftest import rows

RMCURATE = str(Path(sys.executable).parent / "rmcurate")
SYSTEM = "You are a helpful assistant."


def conversations(tmp: Path) -> list[list[dict]]:
    """Neutral conversations: system, then user/assistant turns ending on a reply; every third has a tool
    call between a question and its answer."""
    out = []
    for n, rec in enumerate(iter_json_array(sample_file(tmp, 40))):
        _, msgs = parse_sharegpt(rec.value, rec.row)
        pairs = [(m["role"], m["content"]) for m in msgs if m["content"].strip()]
        turns, expect = [], "user"
        for role, text in pairs:
            if role == expect:
                turns.append({"role": role, "content": text[:400]})
                expect = "assistant" if expect == "user" else "user"
        turns = turns[:6]
        if len(turns) < 4:
            continue
        if turns[-1]["role"] != "assistant":
            turns = turns[:-1]
        if len(out) % 3 == 0:  # the first question's answer comes after a tool call
            call = f"call_{len(out)}"
            turns[1:1] = [{"role": "assistant", "content": "", "call": {"id": call, "name": "lookup",
                                                                        "arguments": json.dumps({"q": "x"})}},
                          {"role": "tool", "content": f"result {len(out)}", "call_id": call}]
        out.append([{"role": "system", "content": SYSTEM}, *turns])
        if len(out) == 15:
            break
    return out


def openai_msg(m: dict) -> dict:
    if m["role"] == "tool":
        return {"role": "tool", "tool_call_id": m["call_id"], "content": m["content"]}
    if "call" in m:
        c = m["call"]
        return {"role": "assistant", "content": None, "tool_calls": [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}]}
    return {"role": m["role"], "content": m["content"]}


def anthropic_msgs(conv: list[dict]) -> list[dict]:
    out = []
    for m in conv[1:]:
        if m["role"] == "tool":
            out.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": m["call_id"],
                                                     "content": m["content"]}]})
        elif "call" in m:
            c = m["call"]
            out.append({"role": "assistant", "content": [
                {"type": "thinking", "thinking": "I should look it up.", "signature": "sig"},
                {"type": "tool_use", "id": c["id"], "name": c["name"], "input": json.loads(c["arguments"])}]})
        else:
            out.append({"role": m["role"], "content": [{"type": "text", "text": m["content"]}]})
    return out


def calls(conv: list[dict]):
    """(request messages, reply) of each model call: every assistant message is one call's reply."""
    for k, m in enumerate(conv):
        if m["role"] == "assistant":
            yield conv[:k], m


def sessions(i: int) -> str:
    return f"app-conv-{i}"


def write_lines(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def openai_records(convs):
    return [{"id": sessions(i), "model": "gpt-4o", "messages": [openai_msg(m) for m in c]} for i, c in enumerate(convs)]


def sharegpt_records(convs):
    """A function-calling dataset in ShareGPT's shape (Glaive/ToolACE style): function_call and observation turns;
    it has no call ids."""
    def turn(m):
        if m["role"] == "tool":
            return {"from": "observation", "value": m["content"]}
        if "call" in m:
            return {"from": "function_call", "value": json.dumps({"name": m["call"]["name"],
                                                                  "arguments": json.loads(m["call"]["arguments"])})}
        return {"from": {"user": "human", "assistant": "gpt"}.get(m["role"], m["role"]), "value": m["content"]}
    return [{"id": sessions(i), "conversations": [turn(m) for m in c]} for i, c in enumerate(convs)]


def anthropic_records(convs):
    return [{"id": sessions(i), "model": "claude", "system": SYSTEM, "messages": anthropic_msgs(c)}
            for i, c in enumerate(convs)]


def gateway_records(convs):
    return [{"id": f"req-{i}-{k}", "timestamp": f"2024-05-01T10:{i:02d}:{k:02d}Z",
             "request": {"model": "gpt-4o", "messages": [openai_msg(m) for m in req]},
             "response": {"id": f"chatcmpl-{i}-{k}", "object": "chat.completion", "model": "gpt-4o",
                          "choices": [{"index": 0, "message": openai_msg(reply), "finish_reason": "stop"}]}}
            for i, c in enumerate(convs) for k, (req, reply) in enumerate(calls(c))]


def litellm_records(convs):
    return [{"id": f"ll-{i}-{k}", "trace_id": f"tr-{i}-{k}", "call_type": "acompletion", "status": "success",
             "startTime": 1714557600.0 + i * 60 + k, "model": "gpt-4o", "messages": [openai_msg(m) for m in req],
             "response": {"id": f"chatcmpl-{i}-{k}", "choices": [{"message": openai_msg(reply)}], "model": "gpt-4o"},
             "metadata": {"user_api_key_hash": "abc"}}
            for i, c in enumerate(convs) for k, (req, reply) in enumerate(calls(c))]


def lc(m: dict) -> dict:
    """A LangChain message as LangSmith serialises it."""
    kind = {"user": "human", "assistant": "ai", "system": "system", "tool": "tool"}[m["role"]]
    cls = {"human": "HumanMessage", "ai": "AIMessage", "system": "SystemMessage", "tool": "ToolMessage"}[kind]
    kwargs = {"content": m["content"], "type": kind}
    if "call" in m:
        kwargs["tool_calls"] = [{"name": m["call"]["name"], "args": json.loads(m["call"]["arguments"]),
                                 "id": m["call"]["id"], "type": "tool_call"}]
    if m["role"] == "tool":
        kwargs["tool_call_id"] = m["call_id"]
    return {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", cls], "kwargs": kwargs}


def langsmith_records(convs, start=0):
    out = []
    for i, c in enumerate(convs, start):
        for k, (req, reply) in enumerate(calls(c)):
            root = f"root-{i}-{k}"
            out.append({"id": root, "trace_id": root, "run_type": "chain", "name": "agent", "inputs": {},
                        "outputs": {}, "start_time": f"2024-05-01T10:{i:02d}:{k:02d}Z",
                        "extra": {"metadata": {"thread_id": sessions(i)}}})
            out.append({"id": f"llm-{i}-{k}", "trace_id": root, "parent_run_id": root, "run_type": "llm",
                        "name": "ChatOpenAI", "start_time": f"2024-05-01T10:{i:02d}:{k:02d}.5Z",
                        "inputs": {"messages": [[lc(m) for m in req]]},
                        "outputs": {"generations": [[{"text": reply["content"], "message": lc(reply)}]]},
                        "extra": {"metadata": {"ls_model_name": "gpt-4o"}}})
    return out


def posthog_records(convs, start=0):
    return [{"event": "$ai_generation", "uuid": f"ph-{i}-{k}", "distinct_id": f"user-{i}",
             "timestamp": f"2024-05-01T10:{i:02d}:{k:02d}Z",
             "properties": {"$ai_trace_id": f"trace-{i}-{k}", "$ai_session_id": sessions(i), "$ai_model": "gpt-4o",
                            "$ai_input": [openai_msg(m) for m in req], "$ai_output_choices": [openai_msg(reply)]}}
            for i, c in enumerate(convs, start) for k, (req, reply) in enumerate(calls(c))]


def attr(key, value):
    return {"key": key, "value": {"stringValue": value} if isinstance(value, str) else {"intValue": str(value)}}


def otlp(spans):
    return {"resourceSpans": [{"scopeSpans": [{"scope": {"name": "x"}, "spans": spans}]}]}


def flattened_spans(convs, sides: tuple[str, str], call_keys: tuple[str, str, str], call_id_key: str,
                    extra: list, span: str, start: int = 0) -> list[dict]:
    """Spans whose messages are flattened attributes `<side>.N.<role|content|...>`, as OpenInference and
    OpenLLMetry write them: `sides` the request's and response's prefixes (N and the message prefix are
    filled in), `call_keys` the tool call's id, name and arguments keys."""
    spans = []
    for i, c in enumerate(convs, start):
        for k, (req, reply) in enumerate(calls(c)):
            attrs = [attr(key, value(i)) for key, value in extra]
            for side, msgs in zip(sides, (req, [reply])):
                for n, m in enumerate(msgs):
                    p = side.format(n=n)
                    attrs += [attr(f"{p}.role", m["role"]), attr(f"{p}.content", m["content"])]
                    if "call" in m:
                        attrs += [attr(f"{p}.tool_calls.0.{key}", m["call"][field])
                                  for key, field in zip(call_keys, ("id", "name", "arguments"))]
                    if m["role"] == "tool":
                        attrs.append(attr(f"{p}.{call_id_key}", m["call_id"]))
            spans.append({"traceId": f"t{i}-{k}", "spanId": f"{span}-{i}-{k}", "name": "chat",
                          "startTimeUnixNano": str(1714557600000000000 + i * 10**10 + k), "attributes": attrs})
    return [otlp(spans)]


def openinference_spans(convs, start=0):
    return flattened_spans(convs, ("llm.input_messages.{n}.message", "llm.output_messages.{n}.message"),
                           ("tool_call.id", "tool_call.function.name", "tool_call.function.arguments"), "tool_call_id",
                           [("openinference.span.kind", lambda i: "LLM"), ("session.id", sessions),
                            ("llm.model_name", lambda i: "gpt-4o")], "oi", start)


def openllmetry_spans(convs):
    return flattened_spans(convs, ("gen_ai.prompt.{n}", "gen_ai.completion.{n}"), ("id", "name", "arguments"),
                           "tool_call_id", [("llm.request.type", lambda i: "chat"),
                                            ("gen_ai.request.model", lambda i: "gpt-4o"),
                                            ("traceloop.association.properties.session_id", sessions)], "ol")


def phoenix_spans(convs):
    """Spans as Phoenix exports them (px.Client().get_spans): `context`, `span_kind`, nested `attributes`
    whose message lists hold OpenInference's dotted keys."""
    def message(m):
        d = {"message.role": m["role"], "message.content": m["content"]}
        if "call" in m:
            d["message.tool_calls"] = [{"tool_call.id": m["call"]["id"], "tool_call.function.name": m["call"]["name"],
                                        "tool_call.function.arguments": m["call"]["arguments"]}]
        if m["role"] == "tool":
            d["message.tool_call_id"] = m["call_id"]
        return d
    return [{"name": "ChatCompletion", "span_kind": "LLM", "context": {"trace_id": f"t{i}-{k}", "span_id": f"px-{i}-{k}"},
             "start_time": f"2024-05-01T10:{i:02d}:{k:02d}Z",
             "attributes": {"session": {"id": sessions(i)}, "llm": {"model_name": "gpt-4o",
                                                                   "input_messages": [message(m) for m in req],
                                                                   "output_messages": [message(reply)]}}}
            for i, c in enumerate(convs) for k, (req, reply) in enumerate(calls(c))]


def genai_spans(convs):
    """The current OTel GenAI attributes: messages as parts (text, tool_call, tool_call_response)."""
    def message(m):
        if m["role"] == "tool":
            return {"role": "tool", "parts": [{"type": "tool_call_response", "id": m["call_id"], "response": m["content"]}]}
        if "call" in m:
            return {"role": "assistant", "parts": [{"type": "tool_call", "id": m["call"]["id"], "name": m["call"]["name"],
                                                    "arguments": json.loads(m["call"]["arguments"])}]}
        return {"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]}
    spans = []
    for i, c in enumerate(convs):
        for k, (req, reply) in enumerate(calls(c)):
            system = [m for m in req if m["role"] == "system"]
            spans.append({"traceId": f"t{i}-{k}", "spanId": f"ga-{i}-{k}", "name": "chat gpt-4o",
                          "startTimeUnixNano": str(1714557600000000000 + i * 10**10 + k), "attributes": [
                              attr("gen_ai.operation.name", "chat"), attr("gen_ai.conversation.id", sessions(i)),
                              attr("gen_ai.system_instructions", json.dumps([{"type": "text", "content": m["content"]}
                                                                             for m in system])),
                              attr("gen_ai.input.messages", json.dumps([message(m) for m in req if m["role"] != "system"])),
                              attr("gen_ai.output.messages", json.dumps([message(reply)]))]})
    return [otlp(spans)]


def old_events(req, reply):
    """The older OTel GenAI events of one call: (name, body)."""
    out = []
    for m in req:
        body = {"content": m["content"]}
        if "call" in m:
            body["tool_calls"] = json.dumps([{"id": m["call"]["id"], "type": "function", "function": {
                "name": m["call"]["name"], "arguments": m["call"]["arguments"]}}])
        if m["role"] == "tool":
            body["id"] = m["call_id"]
        out.append((f"gen_ai.{m['role']}.message", body))
    msg = {"content": reply["content"]}
    if "call" in reply:
        msg["tool_calls"] = [{"id": reply["call"]["id"], "type": "function", "function": {
            "name": reply["call"]["name"], "arguments": reply["call"]["arguments"]}}]
    out.append(("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": json.dumps(msg)}))
    return out


def old_event_spans(convs):
    spans = []
    for i, c in enumerate(convs):
        for k, (req, reply) in enumerate(calls(c)):
            spans.append({"traceId": f"t{i}-{k}", "spanId": f"ev-{i}-{k}", "name": "chat gpt-4o",
                          "startTimeUnixNano": str(1714557600000000000 + i * 10**10 + k),
                          "attributes": [attr("gen_ai.operation.name", "chat"), attr("gen_ai.conversation.id", sessions(i))],
                          "events": [{"name": n, "attributes": [attr(key, v) for key, v in b.items()]}
                                     for n, b in old_events(req, reply)]})
    return [otlp(spans)]


def log_records(convs):
    records = []
    for i, c in enumerate(convs):
        for k, (req, reply) in enumerate(calls(c)):
            for n, body in old_events(req, reply):
                records.append({"timeUnixNano": str(1714557600000000000 + i * 10**10 + k), "eventName": n,
                                "traceId": f"t{i}-{k}", "spanId": f"lg-{i}-{k}",
                                "attributes": [attr("gen_ai.conversation.id", sessions(i))],
                                "body": {"kvlistValue": {"values": [{"key": key, "value": {"stringValue": v} if isinstance(v, str)
                                                                     else {"intValue": str(v)}} for key, v in body.items()]}}})
    return [{"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]}]


SOURCES = {  # file name -> (records, expected kind)
    "openai.jsonl": (openai_records, "openai"), "anthropic.jsonl": (anthropic_records, "anthropic"),
    "sharegpt-tools.jsonl": (sharegpt_records, "sharegpt"),
    "gateway.jsonl": (gateway_records, "gateway"), "litellm.jsonl": (litellm_records, "litellm"),
    "langsmith.jsonl": (langsmith_records, "langsmith"), "posthog.jsonl": (posthog_records, "posthog"),
    "otel-genai.jsonl": (genai_spans, "otel"),
    "openinference.jsonl": (openinference_spans, "otel"), "phoenix-spans.jsonl": (phoenix_spans, "otel"), "openllmetry.jsonl": (openllmetry_spans, "otel"),
    "otel-events.jsonl": (old_event_spans, "otel"), "otel-logs.jsonl": (log_records, "otel"),
}


def stored(home: Path) -> tuple[list, list]:
    con = connect(home, read_only=True)
    try:
        msgs = sorted(tuple(tuple(m) for m in c) for (c,) in rows(con, """
            SELECT list((role, content, coalesce(json_extract_string(tool_calls, '$[0].function.name'), ''),
                         coalesce(json_extract_string(tool_calls, '$[0].id'), tool_call_id, ''))
                        ORDER BY message_index)
            FROM messages GROUP BY conversation_id"""))
        turns = sorted(rows(con, "SELECT prompt, response, feedback, len(history), len(steps) FROM turns"))
        return msgs, turns
    finally:
        con.close()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    root = tmp_path_factory.mktemp("logs")
    convs = conversations(root)
    out = {}
    for name, (build, _) in SOURCES.items():  # in process (the folder test below goes through the CLI)
        path = write_lines(root / name, build(convs))
        home = root / f"home-{name}"
        con = connect(home)
        try:
            out[name] = (home, ingest_path(con, path))
        finally:
            con.close()
    return convs, out


def expected(convs) -> list:
    return sorted(tuple((m["role"], m["content"], m.get("call", {}).get("name", ""),
                         m.get("call", {}).get("id", m.get("call_id", ""))) for m in c) for c in convs)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_each_log_shape_stores_every_message_tool_calls_included(loaded, name):
    convs, out = loaded
    home, r = out[name]
    assert r.status == "loaded" and r.reason is None, r
    assert r.format == f"{SOURCES[name][1]}-jsonl"
    msgs, _ = stored(home)
    assert len(msgs) == len(convs)  # one conversation each, not one per call
    if name.startswith("sharegpt"):  # ShareGPT's function calls carry no ids: compare without them
        assert [tuple(m[:3] for m in c) for c in msgs] == [tuple(m[:3] for m in c) for c in expected(convs)]
    else:
        assert msgs == expected(convs)
    con = connect(home, read_only=True)
    try:
        assert rows(con, "SELECT count(*) FROM quarantine") == [(0,)]
        assert rows(con, "SELECT count(*) FROM messages WHERE role = 'tool'")[0][0] == sum(
            m["role"] == "tool" for c in convs for m in c) > 0
    finally:
        con.close()


def test_every_log_shape_gives_the_same_turns_and_tool_traffic_is_the_steps(loaded):
    convs, out = loaded
    _, reference = stored(out["openai.jsonl"][0])
    assert len(reference) >= 20
    # a reply after a tool call is a turn whose steps are the call and its result; the call alone is no turn
    with_steps = [t for t in reference if t[4] == 2]
    assert len(with_steps) == sum(1 for c in convs if any(m["role"] == "tool" for m in c)) > 0
    assert not any(t[1] == "" for t in reference)
    for name in SOURCES:
        assert stored(out[name][0])[1] == reference, name


def test_anthropic_keeps_the_system_prompt_thinking_and_counts_images(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [{"id": "m1", "system": [{"type": "text", "text": "Be brief."}],
                                               "messages": [
        {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "..."}}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]},
        {"role": "user", "content": [{"type": "image", "source": {}}, {"type": "text", "text": "And this?"}]},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "Looks like a dog."},
                                          {"type": "text", "text": "A dog."}]},
        {"role": "user", "content": "thanks"}]}])
    home = tmp_path / "home"
    r = subprocess.run([RMCURATE, "--home", str(home), "ingest", str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and "anthropic-jsonl" in r.stdout, r.stdout + r.stderr
    con = connect(home, read_only=True)
    try:
        assert rows(con, "SELECT role, content, reasoning, non_text_parts FROM messages ORDER BY message_index") == [
            ("system", "Be brief.", None, None), ("user", "", None, 1), ("assistant", "A cat.", None, None),
            ("user", "And this?", None, 1), ("assistant", "A dog.", "Looks like a dog.", None), ("user", "thanks", None, None)]
        # the reply to an image alone has no prompt to judge: not a turn (never an empty prompt)
        assert rows(con, "SELECT prompt, response FROM turns") == [("And this?", "A dog.")]
    finally:
        con.close()


def test_a_refusal_is_the_reply_text(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", [{"messages": [
        {"role": "user", "content": "how do I pick a lock"},
        {"role": "assistant", "content": None, "refusal": "I can't help with that."},
        {"role": "user", "content": "why not?"}]}])
    home = tmp_path / "home"
    subprocess.run([RMCURATE, "--home", str(home), "ingest", str(path)], check=True, capture_output=True)
    con = connect(home, read_only=True)
    try:
        assert rows(con, "SELECT response, feedback FROM turns") == [("I can't help with that.", "why not?")]
    finally:
        con.close()


def feedback_files(folder: Path, convs) -> dict[str, int]:
    """A day of feedback from each analytics tool, on the replies the logs above hold; -> file: events."""
    folder.mkdir(exist_ok=True)
    reply = {i: k for i, c in enumerate(convs) for k, m in enumerate(c) if m["role"] == "assistant"}
    (folder / "clicks.csv").write_text("event,timestamp,conversation_id,message_index,user_id\n" + "".join(
        f"Message Copied,2024-05-01T11:00:{i:02d}Z,{sessions(i)},{reply[i]},u{i}\n" for i in range(0, 15, 3)))
    write_lines(folder / "segment.jsonl", [
        {"type": "track", "event": "Thumbs Up", "userId": f"u{i}", "messageId": f"seg-{i}",
         "timestamp": "2024-05-01T11:01:00Z", "properties": {"conversation_id": sessions(i), "message_index": reply[i]}}
        for i in range(1, 15, 3)])
    (folder / "amplitude.json.gz").write_bytes(gzip.compress("".join(json.dumps(
        {"event_type": "rate_response", "user_id": f"u{i}", "uuid": f"amp-{i}", "event_time": "2024-05-01 11:02:00.000000",
         "event_properties": {"chat_id": sessions(i), "message_index": reply[i], "rating": 5 if i % 2 else 1}}) + "\n"
        for i in range(2, 15, 3)).encode()))
    return {"clicks.csv": 5, "segment.jsonl": 5, "amplitude.json.gz": 5}


def test_a_folder_of_each_source_loads_in_one_command_and_feedback_attaches_by_the_apps_ids(tmp_path):
    convs = conversations(tmp_path)
    folder = tmp_path / "day"
    folder.mkdir()
    write_lines(folder / "chats.jsonl", openai_records(convs))
    write_lines(folder / "posthog.jsonl", posthog_records(convs[:5]) + [
        {"event": "$ai_metric", "uuid": f"m-{i}", "distinct_id": "u", "timestamp": "2024-05-01T12:00:00Z",
         "properties": {"$ai_trace_id": f"trace-{i}-0", "$ai_metric_name": "thumbs", "$ai_metric_value": 1}}
        for i in range(5)])
    write_lines(folder / "langsmith.jsonl", langsmith_records(convs[5:10], 5) + [
        {"id": f"fb-{i}", "run_id": f"llm-{i}-0", "key": "user_score", "score": 0, "created_at": "2024-05-01T12:00:00Z"}
        for i in range(5, 10)])
    write_lines(folder / "phoenix.jsonl", [
        {"id": f"an-{i}", "span_id": f"oi-{i}-0", "name": "helpful", "annotator_kind": "HUMAN",
         "result": {"label": "helpful", "score": 1}, "created_at": "2024-05-01T12:00:00Z"} for i in range(10, 15)])
    write_lines(folder / "openinference.jsonl", openinference_spans(convs[10:15], 10))
    expected_events = feedback_files(folder, convs)
    home = tmp_path / "home"
    r = subprocess.run([RMCURATE, "--home", str(home), "ingest", str(folder)], capture_output=True, text=True,
                       env={**os.environ, "RMCURATE_SOURCES_FEEDBACK_NAMES": "user_score=thumbs,rate_response=rating"})
    assert r.returncode == 0, r.stdout + r.stderr
    con = connect(home, read_only=True)
    try:
        assert rows(con, "SELECT count(*) FROM quarantine") == [(0,)]
        by_file = dict(rows(con, """SELECT regexp_extract(i.path, '[^/]+$'), count(e.event_id) FROM ingests i
                                    LEFT JOIN events e USING (ingest_id) GROUP BY 1"""))
        assert {k: by_file[k] for k in expected_events} == expected_events
        assert by_file["posthog.jsonl"] == 5 and by_file["langsmith.jsonl"] == 5 and by_file["phoenix.jsonl"] == 5
        # every event sits on an assistant reply of the conversation the app named, and none waits
        assert rows(con, """SELECT count(*), count(*) FILTER (WHERE m.role = 'assistant') FROM events e
                            JOIN messages m USING (conversation_id, message_index)""") == [(30, 30)]
        assert rows(con, "SELECT count(*) FROM events WHERE NOT conversation_known") == [(0,)]
        kinds = dict(rows(con, "SELECT event, count(*) FROM events GROUP BY 1"))
        assert kinds["copy"] == 5 and kinds["thumbs_down"] >= 5 and kinds["thumbs_up"] >= 10
    finally:
        con.close()
    report = subprocess.run([RMCURATE, "--home", str(home), "status"], capture_output=True, text=True)
    assert report.returncode == 0 and "feedback by source" in report.stdout, report.stdout


def test_events_naming_an_unknown_conversation_wait_are_counted_and_expire_to_the_quarantine(tmp_path):
    events = write_lines(tmp_path / "e.jsonl", [{"event_id": "e1", "ts": "2024-01-01T00:00:00Z",
                                                 "conversation_id": "app-77", "message_id": "msg-2", "event": "copy"}])
    home = tmp_path / "home"
    env = {**os.environ}
    subprocess.run([RMCURATE, "--home", str(home), "ingest", str(events)], check=True, capture_output=True, env=env)
    status = subprocess.run([RMCURATE, "--home", str(home), "status"], capture_output=True, text=True)
    assert "events waiting for their conversation: 1" in status.stdout, status.stdout
    # the conversation arrives later, under the app's id, its reply carrying the app's message id
    chats = write_lines(tmp_path / "c.jsonl", [{"id": "app-77", "messages": [
        {"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "id": "msg-2"},
        {"role": "user", "content": "thanks"}]}])
    subprocess.run([RMCURATE, "--home", str(home), "ingest", str(chats)], check=True, capture_output=True)
    con = connect(home, read_only=True)
    try:
        assert rows(con, """SELECT e.conversation_known, e.message_index, e.conversation_ref = c.source_id FROM events e
                            JOIN conversations c USING (conversation_id)""") == [(True, 1, True)]
    finally:
        con.close()
    # one that never finds its conversation leaves for the quarantine after the wait
    lost = write_lines(tmp_path / "l.jsonl", [{"event_id": "e2", "ts": "2024-01-01T00:00:00Z",
                                               "conversation_id": "app-never", "event": "copy"}])
    subprocess.run([RMCURATE, "--home", str(home), "ingest", str(lost)], check=True, capture_output=True)
    subprocess.run([RMCURATE, "--home", str(home), "ingest", str(chats), "--force"], check=True, capture_output=True,
                   env={**os.environ, "RMCURATE_SOURCES_UNATTACHED_DAYS": "0"})
    con = connect(home, read_only=True)
    try:
        assert rows(con, "SELECT event_id FROM events") == [("e1",)]
        assert rows(con, "SELECT reason FROM quarantine") == [
            ("unattached after 0 days: conversation app-never is in no ingest",)]
    finally:
        con.close()


def test_ratings_map_by_the_documented_scale_and_a_neutral_one_is_quarantined(tmp_path):
    from rmcurate.readers.feedback import BadRecord, feedback_kind, lowered
    names = lowered(None)
    assert [feedback_kind("rating", v, None, names) for v in (1, 2, 4, 5)] == ["thumbs_down"] * 2 + ["thumbs_up"] * 2
    for bad in (3, 0, 7):
        with pytest.raises(BadRecord):
            feedback_kind("rating", bad, None, names)
    assert feedback_kind("Message Copied", None, None, names) == "copy"  # spaces and case as analytics tools write


def test_unkeyed_calls_join_by_their_messages_but_never_across_users(tmp_path):
    from rmcurate.readers.detect import detect
    from rmcurate.readers.read import read

    def call(user, k, req, reply):
        return {"id": f"{user}-{k}", "request": {"user": user, "messages": [{"role": r, "content": t} for r, t in req]},
                "response": {"choices": [{"message": {"role": "assistant", "content": reply}}]}}
    first = [("user", "What is a monad?")]
    a = "A monad is a type with bind and return."
    path = write_lines(tmp_path / "gw.jsonl", [
        call("ann", 0, first, a), call("bob", 0, first, a),  # the same question and reply, two users
        call("ann", 1, [*first, ("assistant", a), ("user", "Show one in Haskell.")], "Maybe is one."),
        call("bob", 1, [*first, ("assistant", a), ("user", "And in Python?")], "Python has none built in."),
        call("ann", 2, [("user", "Unrelated question")], "Unrelated answer.")])
    (chunk,) = read(path, detect(path))
    convs = {}
    for m in chunk.messages.to_pylist():
        convs.setdefault(m["conversation_id"], []).append(m["content"])
    assert sorted(convs.values()) == sorted([
        [first[0][1], a, "Show one in Haskell.", "Maybe is one."],
        [first[0][1], a, "And in Python?", "Python has none built in."],
        ["Unrelated question", "Unrelated answer."]])
