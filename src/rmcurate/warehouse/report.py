"""The feedback report: one self-contained HTML page (inline SVG, no scripts).

Everything in it is read from the warehouse and from the run's folders under the home
(exports/<run>/, models/<run>/), so `rmcurate report --run X` rebuilds it whole.
"""
import json
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import pyarrow.parquet as pq

from rmcurate.warehouse.feedback import backlog_size, funnel, label_histogram, last_label_run
from rmcurate.warehouse.judge_calls import run_costs
from rmcurate.warehouse.review_report import review_section

MIN_TEST_ROWS = 50  # below this a test metric moves by 14 points or more with the rows drawn (95% CI of a share)
TREND_RUNS = 10
EXAMPLE_ROWS = 3
CELL_CHARS = 160


def _bars(rows: list[tuple[str, int]], colour: str, width: int = 560) -> str:
    top = max((n for _, n in rows), default=0) or 1
    h, label_w = 24, 150
    parts = [f'<svg width="{label_w + width + 70}" height="{h * len(rows) + 4}" role="img" '
             'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="13">']
    for i, (name, n) in enumerate(rows):
        y = i * h + 2
        w = max(1, round(width * n / top)) if n else 0
        parts.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{escape(str(name))}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{h - 6}" fill="{colour}"/>'
                     f'<text x="{label_w + w + 6}" y="{y + 16}">{n:,}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(header: list[str], rows: list[tuple]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape('-' if v is None else str(v))}</td>" for v in r) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(v) -> str:
    """An example row's value, cut to a glance: nested values as JSON."""
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS - 1] + "…"


def trends(con, limit: int = TREND_RUNS) -> list[tuple]:
    """The last labelling runs, newest first: what each took in and produced, and what its judge calls cost."""
    return con.execute("""
        WITH label_runs AS (SELECT run_id, max(n_in) FILTER (step = 'language') AS turns FROM feedback_funnel
                            GROUP BY 1 ORDER BY 1 DESC LIMIT ?)
        SELECT l.run_id, coalesce(r.status, 'label only'),
               round(date_diff('second', r.started_at, r.finished_at) / 60, 1) AS minutes, l.turns,
               (SELECT count(*) FROM feedback_labels f WHERE f.run_id = l.run_id AND f.kept) AS labels_kept,
               (SELECT count(*) FROM pairs p WHERE p.run_id = l.run_id AND p.origin = 'rmboost') AS rmboost,
               (SELECT count(*) FROM pairs p WHERE p.run_id = l.run_id AND p.origin <> 'rmboost') AS natural,
               (SELECT count(*) FROM judge_calls j WHERE j.run_id = l.run_id) AS judge_calls,
               (SELECT coalesce(sum(prompt_tokens + completion_tokens), 0) FROM judge_calls j
                WHERE j.run_id = l.run_id) AS tokens
        FROM label_runs l LEFT JOIN runs r USING (run_id) ORDER BY l.run_id DESC""", [limit]).fetchall()


def manifests(home: Path, run_id: str) -> dict[str, dict]:
    """format -> manifest.json of the run's exports (none when the run exported nothing)."""
    return {p.parent.name: json.loads(p.read_text())
            for p in sorted((home / "exports" / run_id).glob("*/manifest.json"))}


def split_warnings(exports: dict[str, dict]) -> list[str]:
    """Test splits too small, or of one class, to carry the metric computed on them."""
    out = []
    for fmt, m in exports.items():
        test = m["splits"]["test"]
        if test["rows"] == 0:
            out.append(f"{fmt}: no test rows, so nothing trained on it is measured")
            continue
        if test["rows"] < MIN_TEST_ROWS:
            out.append(f"{fmt}: {test['rows']} test rows (under {MIN_TEST_ROWS}): an accuracy measured on them "
                       f"is within about ±{1.96 * (0.25 / test['rows']) ** 0.5:.0%} of the truth, at 95%")
        if fmt in ("ordinal", "implicit") and len(test["labels"]) == 1:
            only = next(iter(test["labels"]))
            out.append(f"{fmt}: every test row has label {only}, so rank metrics (AUC, Spearman) are undefined")
    return out


def examples(home: Path, run_id: str, exports: dict[str, dict]) -> dict[str, list[dict]]:
    """format -> the first few train rows of the run's export, cut to a glance."""
    out = {}
    for fmt, m in exports.items():
        shard = next((s["name"] for s in m["shards"] if s["split"] == "train"), None)
        if shard is None:
            continue
        path = home / "exports" / run_id / fmt / shard
        rows = ([json.loads(line) for line in path.read_text().splitlines()[:EXAMPLE_ROWS]] if m["jsonl"]
                else pq.ParquetFile(path).read_row_group(0).slice(0, EXAMPLE_ROWS).to_pylist())
        out[fmt] = [{k: _cell(v) for k, v in row.items()} for row in rows]
    return out


def loss_curves(home: Path, run_id: str) -> dict[str, str]:
    """objective -> the loss curve (SVG with axes) the trainer drew for the run."""
    return {p.parent.name: p.read_text() for p in sorted((home / "models" / run_id).glob("*/loss.svg"))}


def verification_summary(verdicts: dict[str, int]) -> str:
    """One line: how often the pair judge agreed with the direction each pair was written in."""
    decided = sum(verdicts.get(k, 0) for k in ("agree", "disagree", "split"))
    if not decided:
        return "no pair verified this run"
    return (f"agreement {verdicts.get('agree', 0) / decided:.0%} of {decided} verified pairs; "
            f"{verdicts.get('disagree', 0)} inverted (both orders prefer the rejected reply), "
            f"{verdicts.get('split', 0)} split between the orders")


def backlog_left(con) -> int:
    """Conversations the label stage has still to read, for the version that ran last (0 before any run)."""
    row = con.execute("SELECT pipeline_version FROM label_watermarks ORDER BY updated_at DESC LIMIT 1").fetchone()
    return backlog_size(con, row[0]) if row else 0


def write_feedback_report(con, home: Path, run_id: str | None = None, extra: dict | None = None) -> Path:
    """reports/feedback-<run>.html: the funnel of that run and the label histogram of all kept labels."""
    run_id = run_id or last_label_run(con)
    if run_id is None:
        raise ValueError("no labelling run yet: run `rmcurate label` or `rmcurate run` first")
    known = [r for (r,) in con.execute("SELECT DISTINCT run_id FROM feedback_funnel ORDER BY 1 DESC").fetchall()]
    if run_id not in known:
        raise ValueError(f"no labelling run {run_id!r}: the last ones are {', '.join(known[:5]) or 'none'}")
    steps = funnel(con, run_id)
    hist = label_histogram(con)
    reasons = con.execute("""SELECT drop_step, drop_reason, count(*) FROM feedback_labels
                             WHERE NOT kept AND run_id = ? GROUP BY ALL ORDER BY 3 DESC""", [run_id]).fetchall()
    decided = con.execute("""SELECT method, coalesce(rule, ''), count(*) FILTER (kept), count(*) FILTER (NOT kept)
                              FROM feedback_labels WHERE run_id = ? AND method <> 'filtered'
                              GROUP BY ALL ORDER BY 3 DESC, 4 DESC""", [run_id]).fetchall()
    # The audit: a share of the turns settled without a call were put to the judge anyway (stages/label.py).
    audits = con.execute("""SELECT l.method, count(j.raw_category), count(*) FILTER (WHERE j.raw_category = l.category)
                            FROM feedback_judgements j JOIN feedback_labels l ON l.item_id = j.item_id AND l.run_id = j.run_id
                            WHERE j.run_id = ? AND j.kind = 'audit' AND l.method IN ('cue', 'prefiltered', 'first_pass')
                            GROUP BY 1 ORDER BY 1""", [run_id]).fetchall()
    verdicts = con.execute("""SELECT coalesce(verification, 'not run'), count(*) FROM pairs
                              WHERE run_id = ? AND origin = 'rmboost' GROUP BY 1 ORDER BY 2 DESC""", [run_id]).fetchall()
    verifiers = con.execute("""SELECT verifier_model, count(verifier_p_chosen),
                                      avg((verifier_p_chosen > 0.5)::INT), avg(verifier_p_chosen)
                               FROM pairs WHERE run_id = ? AND origin = 'rmboost' AND verifier_model IS NOT NULL
                               GROUP BY 1 ORDER BY 1""", [run_id]).fetchall()
    pair_drops = con.execute("""SELECT drop_reason, count(*) FROM pair_attempts WHERE run_id = ? AND NOT kept
                                GROUP BY 1 ORDER BY 2 DESC""", [run_id]).fetchall()
    exports = manifests(home, run_id)
    warnings = split_warnings(exports)
    left = backlog_left(con)
    history = trends(con)
    sections = [
        f"<h1>Feedback labels: run {escape(run_id)}</h1>",
        f"<p>Written {datetime.now(UTC):%Y-%m-%d %H:%M UTC}.</p>",
        *([f"<h2 id=warnings>Warnings</h2><ul>{''.join(f'<li>{escape(w)}</li>' for w in warnings)}</ul>"]
          if warnings else []),
        f"<p id=backlog>Backlog: {left:,} conversations wait for the label stage's next run"
        f"{' (a bounded run: RMCURATE_LABEL_MAX_CONVERSATIONS, RMCURATE_LABEL_MAX_MINUTES)' if left else ''}.</p>",
        "<h2>Funnel: turns left after each step (this run)</h2>",
        _bars([(s, n_out) for s, _, _, _, n_out in steps], "#4c78a8"),
        _table(["step", "in", "dropped", "labelled or relabelled here", "out"], steps),
        "<h2>Ordinal labels kept (all runs)</h2>",
        _bars([(f"label {label}", n) for label, n in hist], "#f58518"),
        "<h2>How the labels were decided (this run)</h2>",
        _table(["method", "rule", "kept", "dropped (neutral or unparseable)"], decided),
        f"<p>{sum(k + d for m, _, k, d in decided if m in ('cue', 'prefiltered', 'first_pass'))} turns settled by "
        "the cues, the prefilter and the learned first pass: a judge call saved for each when a judge is in "
        "use.</p>",
        *([f"<p>The judge, asked about a share of them anyway (RMCURATE_LABEL_AUDIT_SHARE), agrees with "
           + "; ".join(f"{escape(m)} on {agree} of {answered}" for m, answered, agree in audits) + ".</p>"]
          if audits else []),
        "<h2>Drop reasons (this run)</h2>",
        _table(["step", "reason", "turns"], reasons),
        "<h2>RMBoost pairs (this run): the pair judge, both orders, against the intended direction</h2>",
        f"<p>{escape(verification_summary(dict(verdicts)))}</p>",
        _table(["verifier", "pairs with A/B logprobs", "P(intended better) > 0.5, both orders averaged",
                "mean P(intended better)"],
               [(m, n, "-" if share is None else f"{share:.0%}", "-" if p is None else f"{p:.3f}")
                for m, n, share, p in verifiers]),
        _table(["verification", "pairs"], verdicts),
        "<h2>Dropped generations (this run)</h2>",
        _table(["reason", "attempts"], pair_drops),
        "<h2>Judge calls sent (this run): cost and latency</h2>",
        "<p>Calls answered from the cache cost nothing and are not counted.</p>",
        _table(["model", "template", "calls", "failed", "prompt tokens", "completion tokens", "p50 latency (s)",
                "p95 latency (s)", "judge seconds"], run_costs(con, run_id)),
        *review_section(con, _table),
        f"<h2>Trends: the last {len(history)} labelling runs</h2>",
        "<p>Labels kept per run, oldest first.</p>",
        _bars([(r[0], r[4]) for r in reversed(history)], "#54a24b"),
        _table(["run", "status", "minutes", "turns labelled", "labels kept", "RMBoost pairs", "natural pairs",
                "judge calls sent", "judge tokens"], history),
    ]
    for title, rows in (extra or {}).items():
        if rows:
            sections += [f"<h2>{escape(title)}</h2>", _table(list(rows[0]), [tuple(r.values()) for r in rows])]
    curves = loss_curves(home, run_id)
    if curves:
        sections += ["<h2>Training loss (this run)</h2>", *(f"<h3>{escape(n)}</h3>{svg}" for n, svg in curves.items())]
    for fmt, rows in examples(home, run_id, exports).items():
        sections += [f"<h2>Example rows: {escape(fmt)} export (first {len(rows)} train rows)</h2>",
                     f"<div class=scroll>{_table(list(rows[0]), [tuple(r.values()) for r in rows])}</div>"]
    out = home / "reports" / f"feedback-{run_id}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    style = ("body{font-family:sans-serif;max-width:900px;margin:2em auto}table{border-collapse:collapse;"
             "margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}"
             ".scroll{overflow-x:auto}#warnings+ul{color:#a00}")
    out.write_text(f"<!doctype html><meta charset=utf-8><title>rmcurate feedback {escape(run_id)}</title>"
                   f"<style>{style}</style>" + "\n".join(sections))
    return out
