"""Per-call logs as JSON records: each record one model call (request messages + response).

Each source's record becomes a `Call` (readers/calls.py makes the conversations):

- `gateway`: an OpenAI-compatible gateway's log, `{"request": {...}, "response": {...}}` (also
  `request_body`/`response_body`): the request's messages, the response's first choice.
- `litellm`: LiteLLM's standard logging payload (`id`, `call_type`, `messages`, `response`,
  `startTime`, `trace_id`, `metadata`).
- `langsmith`: LangSmith runs (`run_type`, `inputs`, `outputs`); LLM runs are calls, chain runs give
  their children the thread (`metadata.thread_id`, `session_id` or `conversation_id`).
- `posthog`: PostHog `$ai_generation` events (`properties.$ai_input`, `$ai_output_choices`,
  `$ai_trace_id`, `$ai_session_id`).

A conversation is named by a session, thread or conversation id where the record carries one
(SESSION_KEYS, at the top level, in `metadata` or in `properties`); otherwise calls are joined by
their messages.
"""
import json

from rmcurate.readers.calls import Call
from rmcurate.readers.chunk import BadRecord, str_or_none, time_of
from rmcurate.readers.messages import Msg, parse_message, parse_messages, system_prompt

SESSION_KEYS = ("session_id", "conversation_id", "thread_id", "sessionId", "conversationId", "threadId",
                "litellm_session_id", "$ai_session_id", "chat_id")
NOT_CHAT = {"embedding", "aembedding", "image_generation", "aimage_generation", "moderation", "amoderation",
            "transcription", "atranscription", "speech", "aspeech", "rerank", "arerank"}


def session_key(*places) -> str | None:
    for place in places:
        if isinstance(place, dict):
            for k in SESSION_KEYS:
                if place.get(k) not in (None, ""):
                    return str(place[k])
    return None


def response_messages(value, where: str) -> list[Msg]:
    """A response: a chat completion (`choices`), an Anthropic message (`content` blocks), a message,
    a list of messages (the last is the reply) or text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [Msg("assistant", value)]
        if isinstance(value, str):
            return [Msg("assistant", value)]
    if isinstance(value, list) and value:
        value = value[-1]
    if isinstance(value, dict) and isinstance(value.get("choices"), list):
        if not value["choices"]:
            raise BadRecord(f"{where}: the response has no choices")
        choice = value["choices"][0]
        value = choice.get("message") if isinstance(choice, dict) and "message" in choice else \
            {"role": "assistant", "content": choice.get("text") if isinstance(choice, dict) else None}
    if isinstance(value, dict) and value.get("error") and "content" not in value:
        raise BadRecord(f"{where}: the call failed ({str(value['error'])[:200]}): no reply to store")
    if isinstance(value, dict):
        value = {**value, "role": value.get("role") or "assistant"}
        if value.get("type") == "message":  # an Anthropic response object
            value = {k: v for k, v in value.items() if k != "type"}
        msgs = parse_message(value, where)
        if msgs[-1].role != "assistant":
            raise BadRecord(f"{where} is a {msgs[-1].role} message, not a reply")
        return msgs
    raise BadRecord(f"{where}: no response (the call holds no reply)" if value in (None, [], "") else
                    f"{where}: expected a response, got {type(value).__name__}")


def request_messages(request: dict, where: str) -> list[Msg]:
    if not isinstance(request, dict):
        raise BadRecord(f"{where}: expected the request object")
    messages = request.get("messages")
    if messages is None and isinstance(request.get("prompt"), str):
        return [Msg("user", request["prompt"])]
    return system_prompt(request.get("system"), f"{where}.system") + parse_messages(messages, f"{where}.messages")


def _first(d: dict, *names):
    for n in names:
        if isinstance(d, dict) and d.get(n) is not None:
            return d[n]
    return None


def gateway_call(value: dict, where: str) -> Call:
    request = _first(value, "request", "request_body")
    response = _first(value, "response", "response_body")
    if isinstance(request, str):
        request = json.loads(request)
    if isinstance(request, dict) and "messages" not in request and isinstance(request.get("body"), dict):
        request = request["body"]  # gateways that log the HTTP request: {"body": {...}, "headers": ...}
    if isinstance(response, dict) and isinstance(response.get("body"), (dict, str)) and "choices" not in response:
        response = response["body"]
    msgs = request_messages(request, "request")
    reply = response_messages(response, "response")
    resp = response if isinstance(response, dict) else {}
    call_id = _first(value, "id", "request_id", "call_id") or resp.get("id") or where
    return Call(str(call_id), msgs, reply,
                key=session_key(value, value.get("metadata"), request.get("metadata"), request),
                time=time_of(_first(value, "timestamp", "created_at", "start_time", "startTime", "created"))
                or time_of(resp.get("created")),
                model=resp.get("model") or request.get("model"), user=str_or_none(request.get("user") or value.get("user")),
                trace_id=str_or_none(value.get("trace_id")), where=where)


def litellm_call(value: dict, where: str) -> Call:
    if value.get("call_type") in NOT_CHAT:
        raise BadRecord(f"not a chat call ({value['call_type']}): nothing to store")
    if value.get("status") == "failure":
        raise BadRecord(f"the call failed ({str(value.get('error_str') or value.get('error_information'))[:200]}): "
                        "no reply to store")
    msgs = parse_messages(value.get("messages"), "messages")
    reply = response_messages(value.get("response"), "response")
    meta = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
    return Call(str(value.get("id") or where), msgs, reply,
                key=session_key(value, meta, meta.get("requester_metadata"), meta.get("spend_logs_metadata")),
                time=time_of(value.get("startTime")), model=str_or_none(value.get("model")),
                user=str_or_none(value.get("end_user") or meta.get("user_api_key_end_user_id")),
                trace_id=str_or_none(value.get("trace_id")), where=where)


# LangChain's serialised message classes -> roles
LC_TYPES = {"HumanMessage": "human", "AIMessage": "ai", "SystemMessage": "system", "ToolMessage": "tool",
            "FunctionMessage": "tool", "HumanMessageChunk": "human", "AIMessageChunk": "ai"}


def langchain_message(m):
    """A LangChain message as LangSmith stores it (serialised with `lc`/`kwargs`, or `type` + `data`)
    -> a plain message dict."""
    if not isinstance(m, dict):
        return m
    if isinstance(m.get("kwargs"), dict):
        kind = m["kwargs"].get("type") or LC_TYPES.get((m.get("id") or [""])[-1])
        m = {**m["kwargs"], "type": kind}
    elif isinstance(m.get("data"), dict) and "type" in m:
        m = {**m["data"], "type": m["type"]}
    if "role" not in m and m.get("type") in ("human", "ai", "system", "tool", "function"):
        m = {**m, "role": m["type"]}
    if isinstance(m.get("tool_calls"), list):  # LangChain's {"name", "args", "id"}
        m = {**m, "tool_calls": [{**c, "arguments": c.get("arguments", c.get("args", {}))}
                                 if isinstance(c, dict) else c for c in m["tool_calls"]]}
    return m


def _langsmith_messages(inputs, where: str) -> list[Msg]:
    if not isinstance(inputs, dict):
        raise BadRecord(f"{where}: expected the run's inputs")
    messages = inputs.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], list):
        messages = messages[0]  # a chat model run: one list of messages per prompt
    if messages is None and isinstance(inputs.get("prompts"), list) and inputs["prompts"]:
        return [Msg("user", str(inputs["prompts"][0]))]
    if not isinstance(messages, list):
        raise BadRecord(f"{where}: no messages in the run's inputs")
    return system_prompt(inputs.get("system"), f"{where}.system") + \
        parse_messages([langchain_message(m) for m in messages], f"{where}.messages")


def _langsmith_reply(outputs, where: str) -> list[Msg]:
    if isinstance(outputs, dict) and isinstance(outputs.get("generations"), list) and outputs["generations"]:
        gen = outputs["generations"][0]
        gen = gen[0] if isinstance(gen, list) and gen else gen
        if isinstance(gen, dict) and gen.get("message") is not None:
            return response_messages(langchain_message(gen["message"]), where)
        if isinstance(gen, dict) and isinstance(gen.get("text"), str):
            return [Msg("assistant", gen["text"])]
    if isinstance(outputs, dict) and ("choices" in outputs or "content" in outputs):
        return response_messages(outputs, where)
    if isinstance(outputs, dict) and outputs.get("output") is not None:
        return response_messages(langchain_message(outputs["output"]), where)
    if isinstance(outputs, dict) and isinstance(outputs.get("messages"), list) and outputs["messages"]:
        return response_messages(langchain_message(outputs["messages"][-1]), where)
    raise BadRecord(f"{where}: no reply in the run's outputs" if not outputs else
                    f"{where}: unrecognised run outputs")


def langsmith_thread(run: dict) -> str | None:
    extra = run.get("extra") if isinstance(run.get("extra"), dict) else {}
    return session_key(extra.get("metadata"), run.get("metadata"))


def langsmith_call(value: dict, where: str, thread: str | None) -> Call:
    if value.get("error") and not value.get("outputs"):
        raise BadRecord(f"the run failed ({str(value['error'])[:200]}): no reply to store")
    msgs = _langsmith_messages(value.get("inputs"), "inputs")
    reply = _langsmith_reply(value.get("outputs"), "outputs")
    extra = value.get("extra") if isinstance(value.get("extra"), dict) else {}
    meta = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}
    model = _first(meta, "ls_model_name") or _first(extra.get("invocation_params") or {}, "model", "model_name")
    return Call(str(value.get("id") or where), msgs, reply, key=thread, time=time_of(value.get("start_time")),
                model=str_or_none(model), trace_id=str_or_none(value.get("trace_id")), where=where)


def posthog_call(value: dict, where: str) -> Call:
    props = value.get("properties")
    if isinstance(props, str):
        props = json.loads(props)
    if not isinstance(props, dict):
        raise BadRecord("missing field: properties")
    inputs = props.get("$ai_input")
    if isinstance(inputs, str):
        try:
            inputs = json.loads(inputs)
        except ValueError:
            inputs = [{"role": "user", "content": inputs}]
    msgs = parse_messages(inputs, "properties.$ai_input")
    reply = response_messages(props.get("$ai_output_choices", props.get("$ai_output")), "properties.$ai_output_choices")
    call_id = value.get("uuid") or props.get("$ai_span_id") or props.get("$ai_generation_id") or where
    return Call(str(call_id), msgs, reply, key=session_key(props), time=time_of(value.get("timestamp")),
                model=str_or_none(props.get("$ai_model")), user=str_or_none(value.get("distinct_id")),
                trace_id=str_or_none(props.get("$ai_trace_id")), where=where)
