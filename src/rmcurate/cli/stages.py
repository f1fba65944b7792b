"""The judge stages one at a time: `label` (WildReward) and `pairs` (RMBoost)."""
from datetime import UTC, datetime

import typer
from rich.markup import escape

from rmcurate.cli.common import Home, fail, home_of, out, print_rows
from rmcurate.stages.summaries import funnel_rows, label_line


def print_labels(result: dict) -> None:
    print_rows(funnel_rows(result["funnel"]), title=f"feedback funnel, run {result['run_id']}")
    out.print(escape(label_line(result)), soft_wrap=True)  # a note may hold brackets: rmcurate[ml]


def print_pairs(r: dict) -> None:
    out.print(f"pairs: {r['n_seeds']} seeds, {r['n_kept']} RMBoost pairs kept, {r['n_natural']} natural pairs, "
              f"{r['n_pending']} waiting on a failed call", soft_wrap=True)
    for reason, n in sorted(r["drops"].items(), key=lambda x: -x[1]):
        out.print(f"  dropped {n}: {reason}", soft_wrap=True)
    if r["verification"]:
        from rmcurate.warehouse.report import verification_summary
        out.print(f"  verification by {r['verifier']}: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(r["verification"].items()))
                  + f" ({verification_summary(r['verification'])})", soft_wrap=True)


def _run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def label(ctx: typer.Context, home: Home = None):
    """Label the feedback of every turn not labelled yet (WildReward), then write the report."""
    from rmcurate.judges.embedded import EmbeddedServerError
    from rmcurate.judges.vllm_http import JudgeUnavailable
    from rmcurate.rules.feedback.first_pass import ModelError
    from rmcurate.stages.common import StageFailed
    from rmcurate.stages.label import label_with_judge
    from rmcurate.warehouse import WarehouseError, connect
    from rmcurate.warehouse.report import write_feedback_report

    root, run_id = home_of(ctx, home), _run_id()
    failure = None
    try:
        result = label_with_judge(root, run_id)
    except StageFailed as e:  # labels were written; too many calls failed
        result, failure = e.result, str(e)
    except (EmbeddedServerError, JudgeUnavailable, WarehouseError) as e:
        fail(str(e), code=1)
    except ModelError as e:
        fail(str(e))
    print_labels(result)
    try:
        con = connect(root)
        try:
            out.print(f"report: {write_feedback_report(con, root, run_id)}", soft_wrap=True)
        finally:
            con.close()
    except WarehouseError as e:
        fail(f"labels written; the report was not: {e}", code=1)
    if failure:
        fail(failure, code=1)


def pairs(ctx: typer.Context, home: Home = None):
    """Build RMBoost pairs from labelled turns not yet used as seeds, and natural pairs."""
    from rmcurate.judges.embedded import EmbeddedServerError
    from rmcurate.judges.vllm_http import JudgeUnavailable
    from rmcurate.stages.common import StageFailed
    from rmcurate.stages.pairs import pairs_with_judge
    from rmcurate.warehouse import WarehouseError

    try:
        result = pairs_with_judge(home_of(ctx, home), _run_id())
    except StageFailed as e:  # pairs were written; too many calls failed
        print_pairs(e.result)
        fail(str(e), code=1)
    except (EmbeddedServerError, JudgeUnavailable, WarehouseError) as e:
        fail(str(e), code=1)
    print_pairs(result)
