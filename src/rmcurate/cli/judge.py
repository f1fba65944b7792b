"""`rmcurate judge`: serve the embedded judge, ping the configured ones, and score a judge on the dev set."""
import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from rmcurate.cli.common import Home, err, fail, home_of, out
from rmcurate.judges import GOLD
from rmcurate.schemas.values import number
from rmcurate.settings import LabelSettings
from rmcurate.warehouse import WarehouseError

app = typer.Typer(help="The LLM judge: serve the embedded one, or check the configured ones.", no_args_is_help=True)


@app.command("serve")
def judge_serve(ctx: typer.Context,
                port: Annotated[int | None, typer.Option(help="Port (default $RMCURATE_JUDGE_PORT or 8765).")] = None,
                host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
                model: Annotated[Path | None, typer.Option(help="A checkpoint folder to serve instead of SmolLM2, "
                                                           "e.g. one from `rmcurate train --objective generative`.")] = None,
                home: Home = None):
    """Run the embedded vLLM CPU server in the foreground until Ctrl-C."""
    import signal

    from rmcurate.judges.embedded import EmbeddedServer, EmbeddedServerError
    from rmcurate.settings import JudgeSettings

    if model is not None and not model.is_dir():
        fail(f"--model: no such checkpoint folder: {model}")
    settings = JudgeSettings()
    server = EmbeddedServer(home_of(ctx, home), settings, port=port or settings.port, host=host, model=model)

    def on_term(*_):  # SIGTERM (from a supervisor or a test) stops the server as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    err.print(f"starting the embedded judge ({server.served_model}) on {server.url}; log: {server.log}")
    try:
        server.start()
        out.print(f"judge ready at {server.url} (model {server.served_model}); "
                  f"export RMCURATE_JUDGE_URLS={server.url} to use it from other shells", soft_wrap=True)
        server.proc.wait()
        fail(f"judge server exited with status {server.proc.returncode}; see {server.log}", code=1)
    except EmbeddedServerError as e:
        fail(str(e), code=1)
    except KeyboardInterrupt:
        err.print("stopping the judge server")
    finally:
        server.stop()


@app.command("ping")
def judge_ping(url: Annotated[list[str] | None, typer.Option(
        help="Base URL to check (repeatable; default $RMCURATE_JUDGE_URLS, else the `judge serve` port).")] = None):
    """Which endpoints answer, which model each serves, and how fast."""
    from rmcurate.judges.vllm_http import HttpJudge
    from rmcurate.settings import JudgeSettings

    settings = JudgeSettings()
    urls = url or settings.url_list or [f"http://127.0.0.1:{settings.port}"]
    rows = HttpJudge(urls, api_key=settings.api_key).ping()
    t = Table("endpoint", "model", "latency ms", "error")
    for r in rows:
        t.add_row(r["endpoint"], r["model"] or "-", f"{r['latency_s'] * 1000:.1f}" if r["latency_s"] else "-",
                  r["error"] or "")
    out.print(t)
    raise typer.Exit(0 if any(r["model"] for r in rows) else 1)


@app.command("eval")
def judge_eval(ctx: typer.Context,
               gold: Annotated[Path, typer.Option(help="Labelled follow-ups, JSON lines: prompt, response, feedback, "
                                                       "label 1-5.", show_default="the bundled dev set")] = GOLD,
               template: Annotated[str | None, typer.Option(help="Feedback template (default "
                                                                 "$RMCURATE_LABEL_TEMPLATE or feedback_choice).")] = None,
               cues: Annotated[bool | None, typer.Option("--cues/--no-cues", help="Settle explicit follow-ups by "
                                                         "cue before the judge (default $RMCURATE_LABEL_CUES).")] = None,
               undecided: Annotated[Literal["judge", "neutral"] | None, typer.Option(help="What a turn no cue settles "
                                                             "gets (default $RMCURATE_LABEL_UNDECIDED).")] = None,
               first_pass: Annotated[bool | None, typer.Option("--first-pass/--no-first-pass", help=(
                   "Score the learned first pass too, cross-fitted on the gold file (default "
                   "$RMCURATE_LABEL_FIRST_PASS)."))] = None,
               pairs: Annotated[int, typer.Option(help="pair_compare checks (0: none).")] = 40,
               as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
               home: Home = None):
    """Score the configured judge (or the embedded one) on a labelled file before trusting it."""
    from rmcurate.judges.embedded import EmbeddedServerError
    from rmcurate.judges.vllm_http import JudgeUnavailable
    from rmcurate.prompts.templates import TemplateError, load
    from rmcurate.stages.judge_eval import GoldError, evaluate_with_judge, load_gold

    overrides = {k: v for k, v in (("template", template), ("cues", cues), ("undecided", undecided),
                                   ("first_pass", first_pass)) if v is not None}
    settings = LabelSettings(**overrides)
    try:
        load(settings.template)
        load_gold(gold)
        r = evaluate_with_judge(home_of(ctx, home), gold, settings, pairs)
    except (GoldError, TemplateError, WarehouseError) as e:
        fail(str(e))
    except (EmbeddedServerError, JudgeUnavailable) as e:
        fail(str(e), code=1)
    if as_json:
        out.print_json(json.dumps(r))
        return
    print_judge_eval(r)


@app.command("first-pass")
def judge_first_pass(ctx: typer.Context,
                     gold: Annotated[Path, typer.Option(help="Labelled follow-ups to learn from (JSON lines: prompt, "
                                                             "response, feedback, label 1-5).",
                                                        show_default="the bundled dev set")] = GOLD,
                     from_home: Annotated[bool, typer.Option("--from-home/--gold-only", help=(
                         "Also learn from the home's past labels: the cues' (weak labels) and those of a judge "
                         "other than the embedded one (distillation)."))] = True,
                     output: Annotated[Path | None, typer.Option("--out", help=(
                         "Where to write the model.  [default: <home>/models/first_pass.npz, which the label "
                         "stage then uses]"), show_default=False)] = None,
                     home: Home = None):
    """Train the learned first pass that answers, before the judge, the follow-ups the cues miss."""
    from rmcurate.rules.feedback.first_pass import THRESHOLDS
    from rmcurate.stages.first_pass import train_for_home
    from rmcurate.stages.judge_eval import GoldError, load_gold
    from rmcurate.stages.label import FIRST_PASS_PRECISION

    root = home_of(ctx, home)
    try:
        model = train_for_home(root, load_gold(gold), use_home=from_home)
    except (GoldError, WarehouseError, ValueError) as e:
        fail(str(e))
    path = output or root / "models" / "first_pass.npz"
    model.save(path)
    m = model.meta
    rows = ", ".join(f"{n} {source}" for source, n in m["rows"].items())
    out.print(f"trained on {rows} follow-ups; categories {m['categories']}", soft_wrap=True)
    precisions = sorted(FIRST_PASS_PRECISION.values())
    t = Table("category", "open rows", *(f"precision {p:.1f}: threshold, answers, right" for p in precisions),
              title="calibration out of fold: where each category is answered, for the precision asked")
    for c in (1, 2, 4, 5):
        cells = []
        for p in precisions:
            th = model.thresholds(p)[c - 1]
            if th > 1:
                cells.append("silent")
            else:
                answered, right = model.curve[c - 1, THRESHOLDS.index(th)]
                cells.append(f"{th:.2f}, {answered}, {right}")
        t.add_row(str(c), str(m["open_by_category"][str(c)]), *cells)
    out.print(t)
    out.print(f"the label stage asks {FIRST_PASS_PRECISION['neutral']} when the undecided count neutral and "
              f"{FIRST_PASS_PRECISION['judge']} when a judge answers them ($RMCURATE_LABEL_FIRST_PASS_PRECISION)",
              soft_wrap=True)
    out.print(f"model: {path}", soft_wrap=True)


def _f(x) -> str:
    return number(None if x is None else float(x))


def print_judge_eval(r: dict) -> None:
    o = r["overall"]
    out.print(f"judge {r['model']}, template {r['template']}, cues {'on' if r['cues'] else 'off'}, "
              f"undecided -> {r['undecided']}; settled by: "
              + ", ".join(f"{m} {n}" for m, n in sorted(r["methods"].items())), soft_wrap=True)
    t = Table("items", "accuracy", "macro-F1", "always-neutral acc", "always-neutral macro-F1", "ECE",
              title="feedback categories against the gold labels")
    for name, s in [("all", o), *r["strata"].items()]:
        t.add_row(f"{name} ({s['n']})", _f(s["accuracy"]), _f(s["macro_f1"]), _f(s["always_neutral"]["accuracy"]),
                  _f(s["always_neutral"]["macro_f1"]), _f(s["ece"]) + (f" on {s['n_with_probs']}" if s["ece"] else ""))
    out.print(t)
    t = Table("category", "precision", "recall", "F1", "gold", "predicted", title="per category (all items)")
    for c, row in o["per_class"].items():
        t.add_row(str(c), _f(row["precision"]), _f(row["recall"]), _f(row["f1"]), str(row["support"]),
                  str(row["predicted"]))
    out.print(t)
    t = Table("gold \\ predicted", "1", "2", "3", "4", "5", "none", title="confusion matrix")
    for c, row in zip(range(1, 6), o["confusion"]):
        t.add_row(str(c), *map(str, row))
    out.print(t)
    fp = r.get("first_pass") or {}
    if fp.get("used"):
        out.print(f"learned first pass (each item answered by a model trained on the other "
                  f"{fp['cross_fitted_folds'] - 1} folds): answered {fp['answered']} items, precision "
                  f"{_f(fp['precision'])}", soft_wrap=True)
    elif fp.get("skipped"):
        out.print(escape(f"learned first pass {fp['skipped']}"), soft_wrap=True)
    if saved := r.get("saved"):
        agree = "; ".join(f"{m}: the judge agrees on {row['judge_agrees']} of {row['judge_answered']} it answered"
                          for m, row in sorted(saved["by_method"].items()))
        out.print(f"judge calls saved by the cues, the prefilter and the first pass: {saved['calls_saved']} of "
                  f"{saved['items']} items" + (f" ({agree})" if agree else ""), soft_wrap=True)
    if r["cue_precision"]:
        t = Table("cue", "settled", "correct", "precision", title="the cue stage")
        for rule, row in sorted(r["cue_precision"].items()):
            t.add_row(rule, str(row["settled"]), str(row["correct"]), _f(row["precision"]))
        out.print(t)
    if pc := r.get("pair_compare"):
        out.print(f"pair_compare: {pc['pairs']} pairs (gold reply against a reply of similar length from another "
                  f"conversation), accuracy {_f(pc['accuracy'])} over both orders' answers "
                  f"({_f(pc['accuracy_both_orders_p'])} from their A/B probabilities averaged), the two orders "
                  f"agree on {_f(pc['order_agreement'])}, {pc['failed']} failed", soft_wrap=True)
