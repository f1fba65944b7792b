"""The label stage's own ceiling: `rmcurate label` with an oracle judge on the judge dev set.

    python -m benchmarks.oracle_judge [--accuracy 1.0 0.8]

The dev set's conversations (src/rmcurate/judges/gold, from the bundled ShareGPT dump) are ingested
whole into a scratch home, and `rmcurate label` runs on them as a user runs it, with
RMCURATE_JUDGE_URLS pointed at benchmarks/fake_judge.py in oracle mode: it answers each gold
item's own category (or, at accuracy A, a fixed wrong one for a seeded 1 - A of the items).
Whatever the stage then loses or changes is the stage's own doing: the filters (language, minimum
conversation length, PII, topic, length), mining, the refusal check, calls left pending, and
neutral items dropped by design. For comparison, `rmcurate judge eval` with the same oracle scores
the categorise step alone (cues, prefilter, judge) on the same items.

Printed per accuracy, for all items and for the random stratum: how many gold items end with a
category, how many with a kept (non-neutral) label, where the rest went (drop_step), and how often
the final category is the gold one.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from rmcurate.readers.records import iter_json_array
from rmcurate.readers.sharegpt import parse_sharegpt
from rmcurate.stages.sources import GOLD, bundled_sharegpt, gold_conversations
from rmcurate.warehouse import connect

from benchmarks.fake_judge import serving

RMCURATE = [sys.executable, "-m", "rmcurate.cli"]


def gold_sharegpt(out: Path) -> Path:
    """The dev set's whole conversations, as the bundled ShareGPT file holds them."""
    wanted, records = gold_conversations(), []
    for n, rec in enumerate(iter_json_array(bundled_sharegpt())):
        if rec.problem:
            break
        try:
            if parse_sharegpt(rec.value, n)[0]["conversation_id"] in wanted:
                records.append(rec.value)
        except ValueError:
            continue
    out.write_text(json.dumps(records))
    return out


def stage_figures(home: Path, gold: list[dict]) -> dict:
    con = connect(home, read_only=True)
    rows = {r[0]: r[1:] for r in con.execute(
        "SELECT item_id, category, kept, drop_step, method FROM feedback_labels").fetchall()}
    con.close()
    out = {}
    for name, items in (("all", gold), ("random", [x for x in gold if x.get("stratum") == "random"])):
        where, agree, with_category, kept = Counter(), 0, 0, 0
        for x in items:
            category, is_kept, drop_step, _ = rows.get(x["item_id"], (None, False, "no label row", None))
            if category is not None and drop_step in (None, "neutral"):
                with_category += 1
                agree += category == x["label"]
            kept += bool(is_kept)
            if not is_kept:
                where[drop_step or "not kept"] += 1
        out[name] = {"items": len(items), "with_category": with_category, "kept": kept,
                     "agreement": agree / with_category if with_category else None, "lost_at": dict(where)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accuracy", type=float, nargs="+", default=[1.0, 0.8])
    args = ap.parse_args()
    gold = [json.loads(line) for line in GOLD.read_text().split("\n") if line.strip()]
    root = Path(tempfile.mkdtemp(prefix="rmcurate-bench-oracle-"))
    try:
        data = gold_sharegpt(root / "gold-conversations.json")
        for accuracy in args.accuracy:
            home = root / f"home-{accuracy}"
            subprocess.run([*RMCURATE, "--home", str(home), "ingest", str(data)], check=True, capture_output=True)
            with serving(oracle=str(GOLD), accuracy=accuracy) as url:
                env = {**os.environ, "RMCURATE_JUDGE_URLS": url}
                run = subprocess.run([*RMCURATE, "--home", str(home), "label"], env=env, capture_output=True,
                                     text=True)
                if run.returncode != 0:
                    sys.exit(f"rmcurate label failed: {run.stderr.strip()[-2000:]}")
                ev = subprocess.run([*RMCURATE, "--home", str(home), "judge", "eval", "--json", "--pairs", "0"],
                                    env=env, capture_output=True, text=True, check=True)
            judge_only = json.loads(ev.stdout)
            figures = stage_figures(home, gold)
            saved = judge_only["saved"]
            print(f"oracle judge at accuracy {accuracy:.2f}; judge eval: the cues, prefilter and first pass saved "
                  f"{saved['calls_saved']} of {saved['items']} calls, the judge agrees with them on "
                  + ", ".join(f"{m} {r['judge_agrees']}/{r['judge_answered']}" for m, r in saved["by_method"].items()))
            for name, f in figures.items():
                eval_acc = (judge_only["overall"] if name == "all" else judge_only["strata"][name])["accuracy"]
                print(f"  {name} ({f['items']} gold items): judge eval (categorise step only) accuracy "
                      f"{eval_acc:.3f}; through the stage: {f['with_category']} end with a category "
                      f"({f['with_category'] / f['items']:.1%}), agreement {f['agreement']:.3f}; "
                      f"{f['kept']} kept (non-neutral); not kept: "
                      + ", ".join(f"{k} {v}" for k, v in sorted(f["lost_at"].items(), key=lambda kv: -kv[1])),
                      flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
