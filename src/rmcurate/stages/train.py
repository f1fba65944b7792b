"""The nightly's proof: a short training run per objective (pairwise, ordinal, implicit, generative) on
the night's exports, reusing a model when its export did not change."""
import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from rmcurate.settings import TrainSettings
from rmcurate.trainer.metrics import write_json
from rmcurate.warehouse.retention import prune_checkpoints


def train_exports(home: Path, run_id: str, settings: TrainSettings | None = None) -> dict[str, dict]:
    """models/<run_id>/<name>: pairwise on the trl export, ordinal on the ordinal export, the
    implicit export twice, debiased (ImplicitRM) and naive, so the report shows what debiasing buys,
    and the generative (GRAM) objective on the trl export."""
    from rmcurate.trainer.train import TrainConfig, train

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
    from rmcurate.stages.progress import run_logger

    log = run_logger()
    return (lambda line: log(f"train {name}: {line}")) if log else (lambda _: None)


def base_causal_lm(home: Path) -> Path:
    """The generative objective's default model: the embedded judge's SmolLM2, converted once."""
    from rmcurate.judges.embedded import EmbeddedServerError, ensure_model
    from rmcurate.settings import JudgeSettings

    try:
        return ensure_model(home, JudgeSettings().python)
    except EmbeddedServerError as e:
        raise ValueError(f"no base causal LM for the generative objective ({str(e).splitlines()[0]})")
