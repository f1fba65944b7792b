"""The feedback report: one self-contained HTML page (inline SVG, no scripts)."""
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from warehouse.feedback import funnel, label_histogram, last_label_run


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
    body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def verification_summary(verdicts: dict[str, int]) -> str:
    """One line: how often the pair judge agreed with the direction each pair was written in."""
    decided = sum(verdicts.get(k, 0) for k in ("agree", "disagree", "split"))
    if not decided:
        return "no pair verified this run"
    return (f"agreement {verdicts.get('agree', 0) / decided:.0%} of {decided} verified pairs; "
            f"{verdicts.get('disagree', 0)} inverted (both orders prefer the rejected reply), "
            f"{verdicts.get('split', 0)} split between the orders")


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
    verdicts = con.execute("""SELECT coalesce(verification, 'not run'), count(*) FROM pairs
                              WHERE run_id = ? AND origin = 'rmboost' GROUP BY 1 ORDER BY 2 DESC""", [run_id]).fetchall()
    verifiers = con.execute("""SELECT verifier_model, count(verifier_p_chosen),
                                      avg((verifier_p_chosen > 0.5)::INT), avg(verifier_p_chosen)
                               FROM pairs WHERE run_id = ? AND origin = 'rmboost' AND verifier_model IS NOT NULL
                               GROUP BY 1 ORDER BY 1""", [run_id]).fetchall()
    pair_drops = con.execute("""SELECT drop_reason, count(*) FROM pair_attempts WHERE run_id = ? AND NOT kept
                                GROUP BY 1 ORDER BY 2 DESC""", [run_id]).fetchall()
    sections = [
        f"<h1>Feedback labels: run {escape(run_id)}</h1>",
        f"<p>Written {datetime.now(UTC):%Y-%m-%d %H:%M UTC}.</p>",
        "<h2>Funnel: turns left after each step (this run)</h2>",
        _bars([(s, n_out) for s, _, _, _, n_out in steps], "#4c78a8"),
        _table(["step", "in", "dropped", "labelled or relabelled here", "out"], steps),
        "<h2>Ordinal labels kept (all runs)</h2>",
        _bars([(f"label {label}", n) for label, n in hist], "#f58518"),
        "<h2>How the labels were decided (this run)</h2>",
        _table(["method", "rule", "kept", "dropped (neutral or unparseable)"], decided),
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
    ]
    for title, rows in (extra or {}).items():
        if rows:
            sections += [f"<h2>{escape(title)}</h2>", _table(list(rows[0]), [tuple(r.values()) for r in rows])]
    out = home / "reports" / f"feedback-{run_id}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    style = ("body{font-family:sans-serif;max-width:900px;margin:2em auto}table{border-collapse:collapse;"
             "margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}")
    out.write_text(f"<!doctype html><meta charset=utf-8><title>rmcurate feedback {escape(run_id)}</title>"
                   f"<style>{style}</style>" + "\n".join(sections))
    return out
