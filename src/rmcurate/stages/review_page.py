"""The review page: one item at a time, keys 1-5 choose a category, s skips, n adds a note, u undoes.

Chat text is untrusted: the page never puts it into HTML. Every field reaches the DOM through
`textContent`, the page forbids inline scripts other than its own (a Content-Security-Policy with
a per-session nonce) and sends each state-changing request with the session's token.
"""
CATEGORIES = {1: "1 very dissatisfied: the user corrects or rejects the reply",
              2: "2 dissatisfied: partly wrong, the user asks again or complains",
              3: "3 neutral: a new topic or no judgement",
              4: "4 satisfied: the user goes on with the reply",
              5: "5 very satisfied: explicit thanks or praise"}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rmcurate review</title>
<meta name="review-token" content="%(token)s">
<style nonce="%(nonce)s">
body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;color:#222}
.box{border:1px solid #ccc;border-radius:6px;padding:.6rem .8rem;margin:.5rem 0;white-space:pre-wrap;
     overflow-wrap:anywhere;max-height:22rem;overflow:auto}
.role{font-size:12px;color:#666;text-transform:uppercase;letter-spacing:.05em}
#feedback{border-color:#36c}#label{font-weight:600}#status{color:#666}
.keys span{display:inline-block;margin:.15rem .3rem .15rem 0;padding:.1rem .4rem;border:1px solid #bbb;border-radius:4px}
details{margin:.4rem 0}
</style></head>
<body>
<h1>Review <small id="status"></small></h1>
<p id="label"></p>
<p id="others"></p>
<details id="history-box"><summary>History (<span id="history-count">0</span> messages)</summary><div id="history"></div></details>
<div class="role">prompt</div><div class="box" id="prompt"></div>
<div class="role">reply</div><div class="box" id="response"></div>
<div class="role">the user's follow-up</div><div class="box" id="feedback"></div>
<p class="keys" id="keys"></p>
<p id="note-line" hidden><label>Note: <input id="note" size="60"></label> (Enter saves it with the next key)</p>
<script nonce="%(nonce)s">
const TOKEN = document.querySelector('meta[name="review-token"]').content;
const CATEGORIES = %(categories)s;
let item = null, busy = false;
const $ = id => document.getElementById(id);
function text(id, value) { $(id).textContent = value == null ? "" : String(value); }
function render(data) {
  item = data.item;
  document.body.dataset.item = item ? item.item_id : "";
  text("status", data.remaining + " left" + (data.raw ? " (raw text)" : ""));
  if (!item) {
    for (const id of ["prompt", "response", "feedback", "label", "others"]) text(id, "");
    text("status", "queue empty: nothing left to review");
    return;
  }
  text("prompt", item.prompt);
  text("response", item.response);
  text("feedback", item.feedback);
  const method = item.label_method || "no label";
  const conf = item.label_confidence == null ? "" : ", confidence " + Number(item.label_confidence).toFixed(2);
  text("label", "Current label: " + (item.label_category ? CATEGORIES[item.label_category] : "none") +
       " (" + method + conf + "; queued by " + item.strategy + ")");
  text("others", item.reviewers ? "Reviewed by " + item.reviewers + " other reviewer(s) already." : "");
  const history = $("history");
  history.replaceChildren();
  for (const m of item.history) {
    const role = document.createElement("div"); role.className = "role"; role.textContent = m.role;
    const box = document.createElement("div"); box.className = "box"; box.textContent = m.content;
    history.append(role, box);
  }
  text("history-count", item.history.length);
  $("note").value = "";
  $("note-line").hidden = true;
}
async function call(path, body) {
  busy = true;
  try {
    const r = await fetch(path + location.search, body === undefined ? {} : {method: "POST", body: JSON.stringify(body),
      headers: {"Content-Type": "application/json", "X-Review-Token": TOKEN}});
    const data = await r.json();
    if (!r.ok) { text("status", "error: " + data.error); return; }
    render(data);
  } finally { busy = false; }
}
document.addEventListener("keydown", e => {
  if (e.target === $("note")) {
    if (e.key === "Enter") { e.preventDefault(); $("note").blur(); }
    return;
  }
  if (busy || e.ctrlKey || e.metaKey || e.altKey) return;
  const note = $("note").value || null;
  if (item && "12345".includes(e.key) && e.key.length === 1) {
    call("api/review", {item_id: item.item_id, category: Number(e.key), note});
  } else if (item && e.key === "s") {
    call("api/review", {item_id: item.item_id, category: null, note});
  } else if (e.key === "u") {
    call("api/undo", {});
  } else if (e.key === "n" && item) {
    e.preventDefault(); $("note-line").hidden = false; $("note").focus();
  }
});
for (const [k, v] of Object.entries(CATEGORIES)) {
  const s = document.createElement("span"); s.textContent = v; $("keys").append(s);
}
for (const v of ["s skip", "n note", "u undo"]) {
  const s = document.createElement("span"); s.textContent = v; $("keys").append(s);
}
call("api/next");
</script></body></html>
"""
