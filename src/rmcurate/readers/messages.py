"""One chat message, however a source writes it: OpenAI's and Anthropic's message shapes, and OTel's parts.

Every reader turns its messages into `Msg`s here, so tools, refusals, reasoning and images are read
the same way everywhere:

- Tool calls are part of the conversation: an assistant message keeps its `tool_calls` (OpenAI's
  chat-template shape, `[{"id", "type": "function", "function": {"name", "arguments"}}]`, which TRL
  and Hugging Face templates take), a tool result is a `tool` message with the call's id.
- A refusal is what the user saw: it is the reply's text when the reply has no other.
- Reasoning ("thinking") text is kept apart from the content (the user did not see it).
- Parts that carry no text (images, audio, files, redacted thinking) are counted, not read.
"""
import json
from dataclasses import dataclass

from rmcurate.readers.chunk import BadRecord, str_or_none

ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system", "model": "assistant",
         "human": "user", "ai": "assistant", "tool": "tool", "function": "tool", "ipython": "tool"}
TEXT_PARTS = {"text", "input_text", "output_text"}
REASONING_PARTS = {"thinking", "reasoning"}
TOOL_CALL_PARTS = {"tool_use", "server_tool_use", "tool_call", "function_call"}
TOOL_RESULT_PARTS = {"tool_result", "tool_call_response", "function_call_output", "web_search_tool_result"}


@dataclass
class Msg:
    role: str  # user | assistant | system | tool
    content: str = ""
    tool_calls: list | None = None  # [{"id", "type": "function", "function": {"name", "arguments": str}}]
    tool_call_id: str | None = None  # a tool message: the call it answers
    tool_name: str | None = None  # a tool message: the function's name, where the source gives it
    reasoning: str | None = None
    non_text: int = 0  # parts with no text: images, audio, files
    ref: str | None = None  # the source's own id of this message (a reply's call, span or run id)
    trace_ref: str | None = None  # a reply: the source's trace id of the call that wrote it

    def key(self) -> tuple:
        """What makes two messages the same message (the source's id aside). A plain message's key is
        (role, content), as conversation ids were always hashed, so they do not change."""
        extra = (json.dumps(self.tool_calls, sort_keys=True) if self.tool_calls else None, self.tool_call_id)
        return (self.role, self.content) if extra == (None, None) else (self.role, self.content, *extra)

    def row(self) -> dict:
        return {"role": self.role, "content": self.content,
                "tool_calls": json.dumps(self.tool_calls, ensure_ascii=False) if self.tool_calls else None,
                "tool_call_id": self.tool_call_id, "tool_name": self.tool_name, "reasoning": self.reasoning,
                "non_text_parts": self.non_text or None, "source_ref": self.ref,
                "trace_ref": self.trace_ref}


def tool_call(call_id, name, arguments) -> dict:
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return {"id": None if call_id is None else str(call_id), "type": "function",
            "function": {"name": str(name) if name is not None else "", "arguments": arguments}}


def _openai_tool_calls(calls, where: str) -> list:
    if not isinstance(calls, list):
        raise BadRecord(f"bad value for {where}.tool_calls: expected a list")
    out = []
    for i, c in enumerate(calls):
        if not isinstance(c, dict):
            raise BadRecord(f"bad value for {where}.tool_calls.{i}: expected an object")
        fn = c.get("function") if isinstance(c.get("function"), dict) else c
        out.append(tool_call(c.get("id"), fn.get("name"), fn.get("arguments", fn.get("args", fn.get("input", "")))))
    return out


def text_of(content, where: str) -> str:
    """The text of a content that holds no tool blocks (a tool result's, a system prompt's)."""
    msgs = parse_message({"role": "user", "content": content}, where)
    return "\n".join(m.content for m in msgs if m.content)


def parse_message(m, where: str) -> list[Msg]:
    """One message as a source writes it -> our messages: usually one; an Anthropic user message that
    returns tool results gives a `tool` message per result, then the user's own text if any."""
    if not isinstance(m, dict):
        raise BadRecord(f"bad value for {where}: expected an object")
    role = m.get("role", m.get("type"))  # LangChain serialises messages with a type (human, ai, tool)
    if role not in ROLES:
        raise BadRecord(f"unknown role {role!r} in {where}" if role is not None else f"missing field: {where}.role")
    msg = Msg(ROLES[role])
    out: list[Msg] = []
    content = m.get("content")
    texts = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for i, part in enumerate(content):
            if isinstance(part, str):
                texts.append(part)
                continue
            if not isinstance(part, dict):
                raise BadRecord(f"bad value for {where}.content.{i}: expected a text part")
            kind = part.get("type")
            if kind in TOOL_RESULT_PARTS:
                result = part.get("content", part.get("response", part.get("result", part.get("output"))))
                out.append(Msg("tool", text_of(result if result is not None else "", f"{where}.content.{i}"),
                               tool_call_id=str_or_none(part.get("tool_use_id", part.get("id", part.get("call_id"))))))
            elif kind in TOOL_CALL_PARTS:
                msg.tool_calls = (msg.tool_calls or []) + [tool_call(
                    part.get("id", part.get("call_id")), part.get("name"),
                    part.get("input", part.get("arguments", {})))]
            elif kind in REASONING_PARTS:
                thought = part.get("thinking", part.get("content", part.get("text")))
                msg.reasoning = "\n".join(filter(None, [msg.reasoning, thought if isinstance(thought, str) else None]))
            elif kind == "refusal" and isinstance(part.get("refusal"), str):
                texts.append(part["refusal"])
            elif (kind in TEXT_PARTS or kind is None) and isinstance(part.get("text", part.get("content")), str):
                texts.append(part.get("text", part.get("content")))
            elif isinstance(kind, str):
                msg.non_text += 1  # an image, audio, a file, redacted thinking: nothing to judge as text
            else:
                raise BadRecord(f"bad value for {where}.content.{i}: expected a text part")
    elif content is not None:
        raise BadRecord(f"bad value for {where}.content: expected a string or a list of parts, "
                        f"got {type(content).__name__}")
    msg.content = "\n".join(texts)
    if not msg.content and isinstance(m.get("refusal"), str):  # OpenAI's refusal field: what the user saw
        msg.content = m["refusal"]
    for field in ("reasoning_content", "reasoning"):
        if isinstance(m.get(field), str) and m[field]:
            msg.reasoning = m[field]
    if m.get("tool_calls"):
        msg.tool_calls = (msg.tool_calls or []) + _openai_tool_calls(m["tool_calls"], where)
    if isinstance(m.get("function_call"), dict):  # the legacy single function call
        msg.tool_calls = (msg.tool_calls or []) + _openai_tool_calls([m["function_call"]], where)
    if msg.role == "tool":
        msg.tool_call_id = str_or_none(m.get("tool_call_id", m.get("id")))
        msg.tool_name = str_or_none(m.get("name"))
    if msg.tool_calls and msg.role != "assistant":
        raise BadRecord(f"{where}: a {msg.role} message with tool calls")
    if isinstance(m.get("id"), (str, int)) and msg.role != "tool":
        msg.ref = str(m["id"])
    if out and msg.role in ("user", "tool") and not msg.content and not msg.non_text:
        return out  # only tool results: no message of its own
    return out + [msg]


def parse_messages(messages, where: str) -> list[Msg]:
    if not isinstance(messages, list):
        raise BadRecord(f"missing field: {where}" if messages is None else
                        f"bad value for {where}: expected a list, got {type(messages).__name__}")
    return [msg for i, m in enumerate(messages) for msg in parse_message(m, f"{where}.{i}")]


def system_prompt(value, where: str = "system") -> list[Msg]:
    """A top-level system prompt (Anthropic's `system`, OTel's system instructions): text or text parts."""
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        return [Msg("system", value)]
    if isinstance(value, list):
        return [Msg("system", text_of(value, where))]
    raise BadRecord(f"bad value for {where}: expected text or a list of text parts")
