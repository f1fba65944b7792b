"""An OpenAI-compatible judge that answers at once, for measuring and testing everything around the model.

    python -m benchmarks.fake_judge --port 8123

POST /v1/chat/completions answers "3" with first-token logprobs for "1".."5". A request whose
messages contain `[[status 400]]` (any code) gets that HTTP status instead, as a server answers
a prompt over its context length. `--delay S` makes every answer take S seconds (a slow judge).
GET /v1/models names the model `fake-judge`. It runs under
uvicorn in its own process (`serving()`), so the client measured beside it has the CPU to itself.

`--oracle GOLD.jsonl` makes it an oracle for the judge dev set: a feedback request whose reply and
follow-up are a gold item's gets the gold category; with `--accuracy A` a seeded share 1 - A of
the items gets one of the other four categories instead, the same one every time. Turns it has no
gold for get neutral, and a refusal check gets "2" (the reply answered), which leaves a label be.
"""
import argparse
import hashlib
import json
import re
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx

MODEL = "fake-judge"
STATUS = re.compile(r"\[\[status (\d{3})\]\]")
LOGPROBS = {"content": [{"token": "3", "logprob": -0.1, "top_logprobs": [
    {"token": c, "logprob": lp} for c, lp in (("3", -0.1), ("2", -2.5), ("4", -3.0), ("1", -4.0), ("5", -5.0))]}]}


def _key(text: str) -> str:
    return " ".join(text.split())[:60]


def oracle_answers(gold_path: str, accuracy: float = 1.0, seed: int = 0) -> list[tuple[str, str, int]]:
    """(reply key, follow-up key, the category to answer) per gold item."""
    out = []
    for line in open(gold_path, encoding="utf-8"):
        if not line.strip():
            continue
        x = json.loads(line)
        label = x["label"]
        draw = int(hashlib.sha256(f"{seed}:{x.get('item_id')}".encode()).hexdigest()[:8], 16) / 16**8
        if draw >= accuracy:  # wrong on purpose: one of the other four, fixed per item
            label = [c for c in (1, 2, 3, 4, 5) if c != label][int(draw * 1000) % 4]
        out.append((_key(x["response"]), _key(x["feedback"]), label))
    return out


def _logprobs(answer: str) -> dict:
    others = [c for c in "12345" if c != answer]
    return {"content": [{"token": answer, "logprob": -0.05, "top_logprobs": [
        {"token": answer, "logprob": -0.05}, *({"token": c, "logprob": -4.0 - i} for i, c in enumerate(others))]}]}


def app(delay_s: float = 0.0, oracle: list[tuple[str, str, int]] | None = None):
    import asyncio

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def completions(request: Request):
        body = await request.json()
        if delay_s:
            await asyncio.sleep(delay_s)
        text = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        if found := STATUS.search(text):
            code = int(found.group(1))
            return JSONResponse({"error": {"message": f"fake status {code}", "code": code}}, status_code=code)
        answer, logprobs = "3", LOGPROBS
        if oracle is not None:
            flat = " ".join(text.split())
            if "may be refusals" in text:  # the refusal check (its system message): the reply answered
                answer = "2"
            else:
                answer = next((str(c) for reply, follow_up, c in oracle if follow_up in flat and reply in flat), "3")
            logprobs = _logprobs(answer)
        return JSONResponse({
            "id": "fake", "object": "chat.completion", "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop",
                         "logprobs": logprobs if body.get("logprobs") else None}],
            "usage": {"prompt_tokens": len(text) // 4, "completion_tokens": 1, "total_tokens": len(text) // 4 + 1}})

    async def models(request: Request):
        return JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"]),
                             Route("/v1/models", models, methods=["GET"])])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(delay_s: float = 0.0, timeout_s: float = 30.0, oracle: str | None = None, accuracy: float = 1.0):
    """The fake judge in a child process on a free loopback port; yields its base URL."""
    port = free_port()
    extra = ["--oracle", oracle, "--accuracy", str(accuracy)] if oracle else []
    child = subprocess.Popen([sys.executable, "-m", "benchmarks.fake_judge", "--port", str(port),
                              "--delay", str(delay_s), *extra],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{url}/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the fake judge did not start on {url}")
            time.sleep(0.1)
        yield url
    finally:
        child.terminate()
        child.wait(10)


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    ap.add_argument("--oracle", help="gold JSON lines: answer each gold item's category")
    ap.add_argument("--accuracy", type=float, default=1.0, help="with --oracle: the share answered right")
    args = ap.parse_args()
    oracle = oracle_answers(args.oracle, args.accuracy) if args.oracle else None
    uvicorn.run(app(args.delay, oracle), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
