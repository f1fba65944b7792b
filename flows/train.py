"""The end of the nightly flow: export every format from the run's snapshot, then a short
training run per objective (pairwise, ordinal, implicit, generative), with the metrics put in the report."""
import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.exports import FORMATS
from trainer.metrics import write_json
from warehouse.retention import prune_checkpoints


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
    max_test: int = 300  # test rows scored per objective: keeps the night's evaluation in seconds
    loss_examples: int = 64  # train rows the before/after train loss is measured on
    # GRAM's generative RM on the trl export: a causal LM (default: the embedded judge's SmolLM2,
    # converted under the home) answering A or B. About 5 s a step on 2 CPU cores, so a few steps.
    generative: bool = True
    generative_model: str | None = None
    generative_steps: int = 2
    generative_batch_size: int = 2
    generative_max_length: int = 384
    generative_field_chars: int = 500  # as the embedded pairs stage cuts its fields
    generative_max_test: int = 32  # pairs, each asked in both orders before and after training
    keep_runs: int = Field(7, ge=1)  # models/<run>/ kept for the newest runs, and the earlier ones they reuse


def export_all(home: Path, run_id: str, settings: TrainSettings | None = None, sign=None) -> dict[str, dict]:
    """exports/<run_id>/<format> for every format, read from snapshot <run_id>; `sign`: the MinHash
    signer (by default in this process)."""
    from extractors.export.dedup import signatures
    from warehouse import connect
    from warehouse.exports import export

    s = settings or TrainSettings()
    con = connect(home)
    try:
        return {fmt: export(con, home, fmt, home / "exports" / run_id / fmt, snapshot=run_id, seed=s.seed,
                            test_fraction=s.test_fraction, sign=sign or signatures).model_dump(mode="json")
                for fmt in FORMATS}
    finally:
        con.close()


def train_exports(home: Path, run_id: str, settings: TrainSettings | None = None) -> dict[str, dict]:
    """models/<run_id>/<name>: pairwise on the trl export, ordinal on the ordinal export, the
    implicit export twice, debiased (ImplicitRM) and naive, so the report shows what debiasing buys,
    and the generative (GRAM) objective on the trl export."""
    from trainer.train import TrainConfig, train

    s = settings or TrainSettings()
    runs = (("pairwise", "pairwise", "trl", "implicitrm"), ("ordinal", "ordinal", "ordinal", "implicitrm"),
            ("implicit", "implicit", "implicit", "implicitrm"), ("implicit-naive", "implicit", "implicit", "naive"))
    configs = {name: (fmt, TrainConfig(objective=objective, model=s.model, max_steps=s.max_steps,
                                       batch_size=s.batch_size, max_length=s.max_length, lr=s.lr, seed=s.seed,
                                       estimator=estimator, max_test=s.max_test, loss_examples=s.loss_examples))
               for name, objective, fmt, estimator in runs}
    if s.generative:
        configs["generative"] = ("trl", TrainConfig(
            objective="generative", model=s.generative_model, max_steps=s.generative_steps,
            batch_size=s.generative_batch_size, max_length=s.generative_max_length, lr=s.lr, seed=s.seed,
            field_chars=s.generative_field_chars, max_test=s.generative_max_test, loss_examples=2))
    results = {}
    for name, (fmt, cfg) in configs.items():
        data, out = home / "exports" / run_id / fmt, home / "models" / run_id / name
        try:
            if cfg.objective == "generative" and cfg.model is None:  # or RMCURATE_TRAIN_GENERATIVE_MODEL
                cfg.model = str(base_causal_lm(home))
            fp = fingerprint(data, cfg)
            earlier = trained_before(home, name, fp, run_id)
            if earlier is not None:  # a night with nothing new: the same rows, the same config, the same model
                out.parent.mkdir(parents=True, exist_ok=True)
                out.unlink(missing_ok=True)
                out.symlink_to(os.path.relpath(earlier, out.parent), target_is_directory=True)
                results[name] = {**json.loads((earlier / "metrics.json").read_text()),
                                 "reused_from": earlier.parent.name}
                progress_log(name)(f"export unchanged since run {earlier.parent.name}: its model and metrics reused")
                continue
            results[name] = train(data, out, cfg, log=progress_log(name))
            results[name]["data_fingerprint"] = fp
            write_json(out / "metrics.json", results[name])
        except ValueError as e:  # nothing to train on yet (no pairs, no labels): say so, do not fail the night
            results[name] = {"skipped": str(e)}
    if removed := prune_checkpoints(home, s.keep_runs):
        progress_log("retention")(f"removed the checkpoints of {len(removed)} older runs ({', '.join(removed)})")
    return results


def fingerprint(data: Path, cfg) -> str:
    """What decides a training run: the export's shard hashes (same rows, same bytes) and the config."""
    manifest = json.loads((data / "manifest.json").read_text())
    shards = sorted((s["name"], s["sha256"]) for s in manifest["shards"])
    return hashlib.sha256(json.dumps([shards, asdict(cfg)], sort_keys=True).encode()).hexdigest()


def trained_before(home: Path, name: str, fp: str, run_id: str) -> Path | None:
    """The newest earlier models/<run>/<name> trained on the same fingerprint, if any."""
    for metrics in sorted((home / "models").glob(f"*/{name}/metrics.json"), reverse=True):
        folder = metrics.parent
        if folder.parent.name != run_id and not folder.is_symlink() \
                and json.loads(metrics.read_text()).get("data_fingerprint") == fp:
            return folder
    return None


def progress_log(name: str):
    """The trainer's step lines (every 10 steps: loss and samples/s) into the run's log, when in a flow."""
    from flows.progress import run_logger

    log = run_logger()
    return (lambda line: log(f"train {name}: {line}")) if log else (lambda _: None)


def base_causal_lm(home: Path) -> Path:
    """The generative objective's default model: the embedded judge's SmolLM2, converted once."""
    from judges.embedded import EmbeddedServerError, ensure_model
    from judges.settings import JudgeSettings

    try:
        return ensure_model(home, JudgeSettings().python)
    except EmbeddedServerError as e:
        raise ValueError(f"no base causal LM for the generative objective ({str(e).splitlines()[0]})")


def _fmt(v) -> str:
    return "-" if v is None or v != v else f"{v:.3f}" if isinstance(v, float) else str(v)


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
                                   "before training": _fmt(m["test_before"].get(key)), "after": _fmt(m["test"][key]),
                                   "length baseline": _fmt(m["length_baseline"].get(key))})
        train_rows.append({"objective": objective, "metric": f"train loss ({m['steps']} steps, {m['device']})",
                           "before training": _fmt(m["train_loss_before"]), "after": _fmt(m["train_loss_after"]),
                           "length baseline": ""})
    return {"Exports (this run)": export_rows, "Trainer: does the data teach anything? (this run)": train_rows}
