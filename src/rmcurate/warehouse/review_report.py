"""The report's review section: how the label stage's methods agree with people on this home's traffic.

Measured on the random-draw reviews only (the `random` queue strategy): the other strategies pick
the hard and the suspicious items on purpose, so they would make every method look worse than it
is. Per method (cue, first pass, judge), per category: precision and recall with a 95% Wilson
interval and the count behind each; Cohen's kappa with quadratic weights (the 1-5 scale is
ordinal: 1 against 2 is a smaller miss than 1 against 5), with a bootstrap interval. Where an
item was reviewed by two people or more, how often the first two agree and their kappa.
"""
from html import escape

from rmcurate.rules.agreement import kappa, kappa_interval, per_category
from rmcurate.schemas.tables import TABLES

METHODS = {"cue": "cues", "first_pass": "first pass", "judged": "judge"}


def _ci(ci) -> str:
    return "" if ci is None else f" [{ci[0]:.2f}, {ci[1]:.2f}]"


def _share(value, ci, n) -> str:
    return "- (n=0)" if value is None else f"{value:.2f}{_ci(ci)} (n={n})"


def review_measures(con) -> dict:
    """{counts, methods: {method: {n, kappa, kappa_ci, categories}}, agreement: {items, agree, kappa, kappa_ci}}."""
    counts = dict(con.execute(f"""SELECT coalesce(strategy, 'none'), count(*) FROM {TABLES.reviews}
                                  WHERE category IS NOT NULL GROUP BY 1 ORDER BY 1""").fetchall())
    rows = con.execute(f"""SELECT label_method, label_category, category FROM (
                             SELECT * FROM {TABLES.reviews} WHERE category IS NOT NULL AND strategy = 'random'
                             QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY reviewed_at) = 1)
                           WHERE label_category IS NOT NULL""").fetchall()
    methods = {}
    for method in METHODS:
        pairs = [(label, truth) for m, label, truth in rows if m == method]
        if not pairs:
            continue
        predicted, truth = [p for p, _ in pairs], [t for _, t in pairs]
        methods[method] = {"n": len(pairs), "kappa": kappa(truth, predicted), "kappa_ci": kappa_interval(truth, predicted),
                           "categories": per_category(truth, predicted)}
    twice = con.execute(f"""SELECT list(category ORDER BY reviewed_at) FROM (
                              SELECT * FROM {TABLES.reviews} WHERE category IS NOT NULL
                              QUALIFY row_number() OVER (PARTITION BY item_id, reviewer ORDER BY reviewed_at DESC) = 1)
                            GROUP BY item_id HAVING count(*) >= 2""").fetchall()
    a, b = [r[0][0] for r in twice], [r[0][1] for r in twice]
    agreement = {"items": len(twice), "agree": sum(x == y for x, y in zip(a, b)),
                 "kappa": kappa(a, b), "kappa_ci": kappa_interval(a, b)}
    return {"counts": counts, "methods": methods, "agreement": agreement}


def review_section(con, table) -> list[str]:
    """The report's HTML for the section (`table(headers, rows)` is the report's table)."""
    m = review_measures(con)
    html = ["<h2 id=reviews>Reviews: the labels against people (random draw)</h2>"]
    total = sum(m["counts"].values())
    if not total:
        return html + ["<p>No reviews yet: `rmcurate review` serves a page that queues items and stores what a "
                       "person says about them (docs/labels.md, \"Review\").</p>"]
    html.append(f"<p>{total:,} reviews: " + ", ".join(f"{escape(k)} {v:,}" for k, v in m["counts"].items())
                + ". Precision, recall and kappa below come from the random-draw reviews alone, each with its 95% "
                  "interval and the count behind it; kappa is weighted for the ordinal 1-5 scale.</p>")
    rows = []
    for method, r in m["methods"].items():
        k = "-" if r["kappa"] is None else f"{r['kappa']:.2f}{_ci(r['kappa_ci'])}"
        for c, s in r["categories"].items():
            rows.append((METHODS[method], r["n"], k, c, _share(s["precision"], s["precision_ci"], s["precision_n"]),
                         _share(s["recall"], s["recall_ci"], s["recall_n"])))
    html.append(table(["method", "reviewed (random)", "weighted kappa", "category", "precision", "recall"], rows)
                if rows else "<p>No random-draw review of a cue, first-pass or judge label yet.</p>")
    a = m["agreement"]
    if a["items"]:
        k = "-" if a["kappa"] is None else f"{a['kappa']:.2f}{_ci(a['kappa_ci'])}"
        html.append(f"<p id=reviewer-agreement>Reviewers agree on {a['agree']} of {a['items']} items reviewed twice "
                    f"or more (first two reviewers); weighted kappa {k}.</p>")
    return html
