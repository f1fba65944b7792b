"""Summaries of a run built once, as rows: the CLI prints them as tables, the flow posts them as Prefect
artifacts and the HTML report shows them. Each row is a dict: its keys are the columns."""
from pathlib import Path

from rmcurate.schemas.values import number


def ingest_rows(results: list[dict], names_only: bool = False) -> list[dict]:
    """One row per file ingested (IngestResult as a dict); `names_only`: the file's name, not its path."""
    rows = []
    for r in results:
        status = f"skipped (same content as ingest {r['skipped_as']})" if r["status"] == "skipped" else r["status"]
        if r.get("replaced"):
            status += f" (replaces ingest {', '.join(map(str, r['replaced']))})"
        rows.append({"file": Path(r["path"]).name if names_only else str(r["path"]), "format": r["format"],
                     "read": r["n_read"], "loaded": r["n_loaded"], "duplicate": r["n_duplicate"],
                     "quarantined": r["n_quarantined"], "status": status})
    return rows


def funnel_rows(funnel) -> list[dict]:
    """The label stage's funnel (FunnelStep rows): what each step took in, dropped and labelled."""
    return [{"step": f.step, "in": f.n_in, "dropped": f.n_dropped, "labelled here": f.n_changed, "out": f.n_out}
            for f in funnel]


def label_line(result: dict) -> str:
    return (f"labelled {result['n_labelled']} turns, kept {result['n_kept']}, "
            f"{result['n_pending']} waiting on a failed judge call"
            + "".join(f"; {note}" for note in result.get("notes") or ()))


def pairs_rows(result: dict) -> list[dict]:
    return [{"seeds": result["n_seeds"], "rmboost pairs": result["n_kept"], "natural pairs": result["n_natural"],
             "pending": result["n_pending"]}]


def pair_drop_rows(result: dict) -> list[dict]:
    return [{"reason": r, "attempts": n} for r, n in sorted(result["drops"].items(), key=lambda x: -x[1])]


def report_rows(exports: dict[str, dict], results: dict[str, dict]) -> dict[str, list[dict]]:
    """Tables for the run's HTML report."""
    export_rows = [{"format": f, "rows": e["n_rows"], "train": e["n_train"], "test": e["n_test"],
                    "dropped": e["n_dropped"], "folder": e["out_dir"]} for f, e in exports.items()]
    train_rows = []
    for name, m in results.items():
        objective = name + (f" (export unchanged: run {m['reused_from']}'s model)" if "reused_from" in m else "")
        if "skipped" in m:
            train_rows.append({"objective": objective, "metric": "skipped", "before training": m["skipped"],
                               "after": "", "length baseline": ""})
            continue
        for key in ("pairwise_accuracy", "position_consistency", "ece", "mae", "spearman", "auc_vs_truth",
                    "mae_vs_truth", "auc_vs_acted"):
            if key in m["test"]:
                train_rows.append({"objective": objective, "metric": f"test {key} (n={m['test']['n']})",
                                   "before training": number(m["test_before"].get(key)), "after": number(m["test"][key]),
                                   "length baseline": number(m["length_baseline"].get(key))})
        train_rows.append({"objective": objective, "metric": f"train loss ({m['steps']} steps, {m['device']})",
                           "before training": number(m["train_loss_before"]), "after": number(m["train_loss_after"]),
                           "length baseline": ""})
    return {"Exports (this run)": export_rows, "Trainer: does the data teach anything? (this run)": train_rows}
