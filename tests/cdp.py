"""Drive Debian's headless Chromium through the DevTools protocol: open a page, press keys as a person
would (Input.dispatchKeyEvent: the browser's own keyboard path, not a synthetic DOM event), and read
values back with JavaScript. aiohttp (already a dependency) speaks the websocket."""
import asyncio
import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import aiohttp

from browser import FLAGS, chromium


class Browser:
    def __init__(self, profile: Path):
        flags = [f for f in FLAGS if not f.startswith("--virtual-time-budget")]
        self.proc = subprocess.Popen([chromium(), *flags, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                      "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        port = None
        while port is None and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if m := re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line):
                port = int(m.group(1))
        assert port, "Chromium did not open its DevTools port"
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        self.ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        self.loop = asyncio.new_event_loop()
        self.session = self.loop.run_until_complete(self._open())
        self.n = 0

    async def _open(self):
        self.http = aiohttp.ClientSession()
        return await self.http.ws_connect(self.ws_url, max_msg_size=0)

    async def _call(self, method: str, params: dict) -> dict:
        self.n += 1
        await self.session.send_json({"id": self.n, "method": method, "params": params})
        while True:
            msg = json.loads((await self.session.receive()).data)
            if msg.get("id") == self.n:
                assert "error" not in msg, msg
                return msg.get("result", {})

    def call(self, method: str, **params) -> dict:
        return self.loop.run_until_complete(self._call(method, params))

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def eval(self, expression: str):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return r.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout_s: float = 30):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"never true in the page: {expression}")

    def press(self, key: str) -> None:
        """One key, down and up: a character, or Enter."""
        extra = {"code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"} if key == "Enter" else \
            {"text": key, "unmodifiedText": key}
        self.call("Input.dispatchKeyEvent", type="keyDown", key=key, **extra)
        self.call("Input.dispatchKeyEvent", type="keyUp", key=key)

    def close(self) -> None:
        self.loop.run_until_complete(self.session.close())
        self.loop.run_until_complete(self.http.close())
        self.loop.close()
        self.proc.kill()
        self.proc.wait()
