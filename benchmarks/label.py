"""The WildReward stage on about 5,000 real turns through the embedded judge.

    python -m benchmarks.label [--url URL] [--conversations 2000] [--reasoning-sample 100]

Prints turns/s and judge labels/s at 32 requests in flight (the best level in
benchmarks.judge), generated tokens per label for the one-digit template and
for the free-text-reasoning one (on a sample), and what the prefilter saves
and how often the judge disagrees with it.
"""
import argparse
import atexit
import shutil
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from rmcurate.judges.cache import CachedJudge
from rmcurate.judges.embedded import SERVED_MODEL, EmbeddedServer
from rmcurate.judges.vllm_http import HttpJudge
from rmcurate.prompts.fields import cut
from rmcurate.prompts.templates import load
from rmcurate.readers import detect
from rmcurate.rules.feedback.labels import NEUTRAL, parse_category
from rmcurate.settings import LabelSettings
from rmcurate.stages.common import EMBEDDED_FIELD_MAX_CHARS
from rmcurate.stages.label import label_feedback
from rmcurate.stages.sources import sample_file
from rmcurate.warehouse import connect, ingest_file
from rmcurate.warehouse.judge_calls import DuckCallStore


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url")
    ap.add_argument("--conversations", type=int, default=2000)
    ap.add_argument("--reasoning-sample", type=int, default=100)
    ap.add_argument("--in-flight", type=int, default=32)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="rmcurate-bench-label-"))
    atexit.register(shutil.rmtree, home, True)  # the disk is small: leave nothing behind
    con = connect(home)
    sample = sample_file(home, args.conversations)
    ingest_file(con, sample, detect(sample))
    (n_turns,) = con.execute("SELECT count(*) FROM turns").fetchone()
    server = EmbeddedServer(home) if not args.url else None
    settings = LabelSettings(field_max_chars=EMBEDDED_FIELD_MAX_CHARS)
    with server or nullcontext():
        url = args.url or server.url
        backend = HttpJudge([url], SERVED_MODEL if server else None, max_in_flight=args.in_flight)
        judge = CachedJudge(backend, DuckCallStore(con))
        backend.run([load("feedback_choice").render(prompt="hi", response="hello", feedback=f"ok {i}")
                     for i in range(64)])  # warm the CPU kernels
        t0 = time.perf_counter()
        result = label_feedback(con, judge, "bench", settings)
        elapsed = time.perf_counter() - t0
        calls = judge.counts.sent
        tokens = con.execute("""SELECT avg(completion_tokens) FROM judge_calls
                                WHERE template = 'feedback_choice' AND status = 'ok'""").fetchone()[0]
        print(f"{n_turns} turns labelled in {elapsed:.0f}s: {n_turns / elapsed:.1f} turns/s, "
              f"{calls} judge calls ({calls / elapsed:.1f} labels/s at {args.in_flight} in flight), "
              f"{tokens:.2f} generated tokens per label (target <= 2)", flush=True)
        print("funnel: " + ", ".join(f"{f.step} {f.n_out}" for f in result.funnel), flush=True)

        # The prefilter: what it saved, and what the judge says of the turns it settled.
        settled = con.execute("""SELECT t.prompt, t.response, t.feedback FROM feedback_labels l
                                 JOIN turns t USING (item_id) WHERE l.method = 'prefiltered'""").fetchall()
        template = load("feedback_choice")
        asked = judge.run([template.render(prompt=cut(p, 500), response=cut(r, 500), feedback=cut(f, 500))
                           for p, r, f in settled])
        disagree = sum(parse_category(a.text) != NEUTRAL for a in asked if a.ok)
        judged = con.execute("SELECT count(*) FROM feedback_judgements WHERE kind = 'feedback'").fetchone()[0]
        print(f"prefilter: settled {len(settled)} of {len(settled) + judged} turns that reached it "
              f"({len(settled) / max(1, len(settled) + judged):.1%} of judge calls saved); "
              f"the judge rated {disagree} of them other than neutral", flush=True)

        # The free-text variant on a sample: tokens and speed.
        reasoning = load("feedback_reasoning")
        rows = con.execute("SELECT prompt, response, feedback FROM turns ORDER BY item_id LIMIT ?",
                           [args.reasoning_sample]).fetchall()
        rs = [reasoning.render(prompt=cut(p, 500), response=cut(r, 500), feedback=cut(f, 500)) for p, r, f in rows]
        t0 = time.perf_counter()
        answers = judge.run(rs)
        elapsed = time.perf_counter() - t0
        ok = [a for a in answers if a.ok]
        parsed = sum(parse_category(a.text) is not None for a in ok)
        print(f"free-text variant on {len(rs)} turns: {len(rs) / elapsed:.2f} labels/s, "
              f"{sum(a.completion_tokens for a in ok) / max(1, len(ok)):.0f} generated tokens per label, "
              f"{parsed} of {len(ok)} answers parseable", flush=True)
    con.close()


if __name__ == "__main__":
    main()
