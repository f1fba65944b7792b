"""`rmcurate review`: a local page that shows queued turns one at a time and stores what a person says.

Bound to 127.0.0.1 unless told otherwise; elsewhere it needs a token, given in the page's URL.
Every state-changing request carries the session's token (a page on another site cannot post
reviews through the reviewer's browser). Text is scrubbed with the exports' rules unless the
reviewer asks for raw text, which only a loopback bind allows. The warehouse is opened per request,
so a nightly stage can take it between reviews (a request meanwhile answers 503, and the page says so).
"""
import hmac
import json
import secrets
import threading
from collections.abc import Callable
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from rmcurate.rules.pii import scrub, scrub_value
from rmcurate.stages.review_page import CATEGORIES, PAGE
from rmcurate.warehouse import WarehouseError, connect
from rmcurate.warehouse.reviews import ReviewError, next_item, remaining, save, undo

LOOPBACK = ("127.0.0.1", "::1", "localhost")


class ReviewApp:
    """What the handler asks of the warehouse, one connection per request, one writer at a time."""

    def __init__(self, home: Path, reviewer: str, raw: bool = False, access_token: str | None = None):
        self.home, self.reviewer, self.raw = home, reviewer, raw
        self.session_token = secrets.token_urlsafe(24)  # the page's, for its POSTs
        self.access_token = access_token  # the URL's, required on a non-loopback bind
        self.lock = threading.Lock()

    def state(self) -> dict:
        with self.lock:
            con = connect(self.home)
            try:
                item = next_item(con, self.reviewer)
                left = remaining(con, self.reviewer)
            finally:
                con.close()
        if item is not None and not self.raw:
            item = {**item, **{k: scrub(item[k]) if item[k] else item[k] for k in ("prompt", "response", "feedback")},
                    "history": scrub_value(item["history"])}
        return {"item": item, "remaining": left, "raw": self.raw}

    def act(self, path: str, body: dict) -> dict:
        with self.lock:
            con = connect(self.home)
            try:
                if path == "/api/review":
                    category = body.get("category")
                    if category is not None and (not isinstance(category, int) or isinstance(category, bool)):
                        raise ReviewError("category must be 1 to 5 or null")
                    note = body.get("note")
                    save(con, str(body.get("item_id")), self.reviewer, category,
                         note[:2000] if isinstance(note, str) else None)
                elif path == "/api/undo":
                    undo(con, self.reviewer)
                else:
                    raise ReviewError(f"no such action: {path}")
            finally:
                con.close()
        return self.state()


class Handler(BaseHTTPRequestHandler):
    app: ReviewApp

    def log_message(self, *args):
        pass

    def send(self, status: int, body: bytes, kind: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def json(self, status: int, data: dict) -> None:
        self.send(status, json.dumps(data, ensure_ascii=False, default=str).encode(), "application/json; charset=utf-8")

    def allowed(self) -> bool:
        """On a non-loopback bind, every request names the access token (?token= or the header)."""
        need = self.app.access_token
        if need is None:
            return True
        given = parse_qs(urlparse(self.path).query).get("token", [""])[0] or self.headers.get("X-Access-Token", "")
        return hmac.compare_digest(given, need)

    def do_GET(self):
        if not self.allowed():
            return self.json(403, {"error": "this review page needs its token (?token=...)"})
        path = urlparse(self.path).path
        if path == "/":
            nonce = secrets.token_urlsafe(12)
            page = PAGE % {"token": self.app.session_token, "nonce": nonce,
                           "categories": json.dumps({str(k): v for k, v in CATEGORIES.items()})}
            csp = f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'none'; " \
                  "connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
            return self.send(200, page.encode(), "text/html; charset=utf-8", {"Content-Security-Policy": csp})
        if path == "/api/next":
            return self.answer(self.app.state)
        self.json(404, {"error": "not found"})

    def do_POST(self):
        if not self.allowed() or not hmac.compare_digest(self.headers.get("X-Review-Token", ""), self.app.session_token):
            return self.json(403, {"error": "missing or wrong review token: reload the page"})
        try:
            length = min(int(self.headers.get("Content-Length") or 0), 1 << 16)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            return self.json(400, {"error": "the request is not a JSON object"})
        self.answer(partial(self.app.act, urlparse(self.path).path, body))

    def answer(self, fn: Callable[[], dict]) -> None:
        try:
            self.json(200, fn())
        except ReviewError as e:
            self.json(400, {"error": str(e)})
        except WarehouseError as e:
            self.json(503, {"error": f"{e} (try again in a moment)"})


def serve(home: Path, reviewer: str, host: str = "127.0.0.1", port: int = 8765, raw: bool = False,
          access_token: str | None = None, ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted. `ready(url)` is told the page's address once it listens."""
    local = host in LOOPBACK
    if raw and not local:
        raise ReviewError("raw text is shown only on a loopback bind (--host 127.0.0.1)")
    if not local and not access_token:
        raise ReviewError(f"binding to {host} needs --token: anyone who can reach the port could read the chats")
    app = ReviewApp(home, reviewer, raw, None if local else access_token)
    server = ThreadingHTTPServer((host, port), type("ReviewHandler", (Handler,), {"app": app}))
    url = f"http://{host if ':' not in host else f'[{host}]'}:{server.server_address[1]}/"
    if not local:
        url += f"?token={access_token}"
    if ready:
        ready(url)
    try:
        server.serve_forever()
    finally:
        server.server_close()
