"""An OpenAI-compatible judge that answers at once, for measuring and testing everything around the model.

    python -m benchmarks.fake_judge --port 8123

POST /v1/chat/completions answers "3" with first-token logprobs for "1".."5". A request whose
messages contain `[[status 400]]` (any code) gets that HTTP status instead, as a server answers
a prompt over its context length. `--delay S` makes every answer take S seconds (a slow judge).
GET /v1/models names the model `fake-judge`. It runs under
uvicorn in its own process (`serving()`), so the client measured beside it has the CPU to itself.
"""
import argparse
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


def app(delay_s: float = 0.0):
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
        return JSONResponse({
            "id": "fake", "object": "chat.completion", "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "3"}, "finish_reason": "stop",
                         "logprobs": LOGPROBS if body.get("logprobs") else None}],
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
def serving(delay_s: float = 0.0, timeout_s: float = 30.0):
    """The fake judge in a child process on a free loopback port; yields its base URL."""
    port = free_port()
    child = subprocess.Popen([sys.executable, "-m", "benchmarks.fake_judge", "--port", str(port),
                              "--delay", str(delay_s)],
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
    args = ap.parse_args()
    uvicorn.run(app(args.delay), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
