"""Feedback judge candidates on the hand-labelled dev set (judges/gold), one table.

    python -m benchmarks.judge_quality [--home DIR] [--gold FILE]

Each row is `rmcurate judge eval` with one configuration, against the
configured judge (RMCURATE_JUDGE_URLS) or the embedded one. The last row, the
cue stage with the rest neutral, asks no judge.
"""
import argparse
import atexit
import shutil
import tempfile
from pathlib import Path

from rmcurate.judges import GOLD
from rmcurate.settings import LabelSettings
from rmcurate.stages.judge_eval import evaluate_with_judge

CANDIDATES = [
    ("feedback_choice, no cues", dict(template="feedback_choice", cues=False, undecided="judge")),
    ("feedback_choice + cues", dict(template="feedback_choice", cues=True, undecided="judge")),
    ("feedback_fewshot, no cues", dict(template="feedback_fewshot", cues=False, undecided="judge")),
    ("feedback_fewshot + cues", dict(template="feedback_fewshot", cues=True, undecided="judge")),
    ("cues, the rest neutral", dict(cues=True, undecided="neutral")),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--gold", type=Path, default=GOLD)
    args = ap.parse_args()
    home = args.home
    if home is None:
        home = Path(tempfile.mkdtemp(prefix="rmcurate-judge-quality-"))
        atexit.register(shutil.rmtree, home, True)  # the disk is small: leave nothing behind
    print("| candidate | accuracy (all) | macro-F1 (all) | accuracy (random) | macro-F1 (random) |")
    print("|---|---|---|---|---|")
    for name, overrides in CANDIDATES:
        r = evaluate_with_judge(home, args.gold, LabelSettings(**overrides), n_pairs=0)
        random = r["strata"].get("random", r["overall"])
        print(f"| {r['model']}: {name} | {r['overall']['accuracy']:.3f} | {r['overall']['macro_f1']:.3f} "
              f"| {random['accuracy']:.3f} | {random['macro_f1']:.3f} |", flush=True)
    base = r["overall"]["always_neutral"]
    random_base = r["strata"].get("random", r["overall"])["always_neutral"]
    print(f"| always neutral | {base['accuracy']:.3f} | {base['macro_f1']:.3f} | {random_base['accuracy']:.3f} "
          f"| {random_base['macro_f1']:.3f} |")


if __name__ == "__main__":
    main()
