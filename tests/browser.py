"""Render a page in Debian's headless Chromium and read back what the browser laid out.

The page is served on loopback beside a small probe page that loads it in an iframe (same
origin, so the probe can look inside) and writes, for every <h2>, its text and whether the
browser gave it and the table or chart after it a box. `--dump-dom` returns the probe's DOM.
"""
import json
import re
import shutil
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Flags this machine's closed network needs (no background connections, no sandbox as root).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=10000"]

PROBE = """<!doctype html><meta charset=utf-8><iframe id=f src="%s" width=1000 height=800></iframe><pre id=out></pre>
<script>
window.addEventListener("load", () => {
  const doc = document.getElementById("f").contentDocument;
  const box = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const sections = [...doc.querySelectorAll("h2")].map(h => {
    const next = h.nextElementSibling;
    return {title: h.textContent, shown: box(h), body: next ? next.tagName.toLowerCase() : null,
            body_shown: next ? box(next) : false};
  });
  const svgs = [...doc.querySelectorAll("svg")].map(box);
  document.getElementById("out").textContent = JSON.stringify({title: doc.title, sections, svgs});
});
</script>"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        raise AssertionError("Debian's chromium is not installed: `make browser` (or apt-get install chromium)")
    return path


def layout(page: Path, profile: Path) -> dict:
    """{'title', 'sections': [{title, shown, body, body_shown}], 'svgs': [shown, ...]} as Chromium saw them."""
    probe = page.parent / f"probe-{page.stem}.html"
    probe.write_text(PROBE % page.name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(page.parent)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{probe.name}"
        r = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                           capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
        probe.unlink()
    found = re.search(r'<pre id="out">(.*?)</pre>', r.stdout, re.S)
    assert found and found.group(1), f"the probe wrote nothing: {r.stdout[-500:]} {r.stderr[-1500:]}"
    return json.loads(found.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
