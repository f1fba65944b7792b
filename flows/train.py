"""The end of the nightly flow: export every format from the run's snapshot, then a short
training run on the pairwise and ordinal sets, with the metrics put in the report."""
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.exports import FORMATS


class TrainSettings(BaseSettings):
    """The nightly proof run: bounded, on CPU unless a GPU is there. RMCURATE_TRAIN_* overrides."""

    model_config = SettingsConfigDict(env_prefix="RMCURATE_TRAIN_")

    enabled: bool = True
    model: str | None = None  # default: the bundled all-MiniLM-L6-v2
    max_steps: int = 30
    batch_size: int = 8
    max_length: int = 128
    lr: float = 1e-4
    seed: int = 0
    test_fraction: float = 0.1
    max_test: int = 400  # test rows scored per objective: keeps the night's evaluation in seconds


def export_all(home: Path, run_id: str, settings: TrainSettings | None = None) -> dict[str, dict]:
    """exports/<run_id>/<format> for every format, read from snapshot <run_id>."""
    from warehouse import connect
    from warehouse.exports import export

    s = settings or TrainSettings()
    con = connect(home)
    try:
        return {fmt: export(con, home, fmt, home / "exports" / run_id / fmt, snapshot=run_id, seed=s.seed,
                            test_fraction=s.test_fraction).model_dump(mode="json") for fmt in FORMATS}
    finally:
        con.close()


def train_exports(home: Path, run_id: str, settings: TrainSettings | None = None) -> dict[str, dict]:
    """models/<run_id>/<name>: pairwise on the trl export, ordinal on the ordinal export, and the
    implicit export twice, debiased (ImplicitRM) and naive, so the report shows what debiasing buys."""
    from trainer.train import TrainConfig, train

    s = settings or TrainSettings()
    runs = (("pairwise", "pairwise", "trl", "implicitrm"), ("ordinal", "ordinal", "ordinal", "implicitrm"),
            ("implicit", "implicit", "implicit", "implicitrm"), ("implicit-naive", "implicit", "implicit", "naive"))
    results = {}
    for name, objective, fmt, estimator in runs:
        data = home / "exports" / run_id / fmt
        cfg = TrainConfig(objective=objective, model=s.model, max_steps=s.max_steps, batch_size=s.batch_size,
                          max_length=s.max_length, lr=s.lr, seed=s.seed, estimator=estimator, max_test=s.max_test)
        try:
            results[name] = train(data, home / "models" / run_id / name, cfg, log=lambda _: None)
        except ValueError as e:  # nothing to train on yet (no pairs, no labels): say so, do not fail the night
            results[name] = {"skipped": str(e)}
    return results


def _fmt(v) -> str:
    return "-" if v is None or v != v else f"{v:.3f}" if isinstance(v, float) else str(v)


def report_rows(exports: dict[str, dict], results: dict[str, dict]) -> dict[str, list[dict]]:
    """Tables for the run's HTML report."""
    export_rows = [{"format": f, "rows": e["n_rows"], "train": e["n_train"], "test": e["n_test"],
                    "dropped": e["n_dropped"], "folder": e["out_dir"]} for f, e in exports.items()]
    train_rows = []
    for objective, m in results.items():
        if "skipped" in m:
            train_rows.append({"objective": objective, "metric": "skipped", "before training": m["skipped"],
                               "after": "", "length baseline": ""})
            continue
        for key in ("pairwise_accuracy", "ece", "mae", "spearman", "auc_vs_truth", "mae_vs_truth", "auc_vs_acted"):
            if key in m["test"]:
                train_rows.append({"objective": objective, "metric": f"test {key} (n={m['test']['n']})",
                                   "before training": _fmt(m["test_before"].get(key)), "after": _fmt(m["test"][key]),
                                   "length baseline": _fmt(m["length_baseline"].get(key))})
        train_rows.append({"objective": objective, "metric": f"train loss ({m['steps']} steps, {m['device']})",
                           "before training": _fmt(m["train_loss_before"]), "after": _fmt(m["train_loss_after"]),
                           "length baseline": ""})
    return {"Exports (this run)": export_rows, "Trainer: does the data teach anything? (this run)": train_rows}
