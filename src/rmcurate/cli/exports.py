"""Training sets and what proves them: `export`, `train`, `score`."""
import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from rmcurate.cli.common import Home, err, fail, home_of, open_warehouse, out
from rmcurate.schemas.exports import FORMATS
from rmcurate.trainer.config import TrainConfig
from rmcurate.trainer.data import ESTIMATORS, OBJECTIVE_FORMATS

D = TrainConfig  # the train command's defaults


def export(ctx: typer.Context,
           format: Annotated[Literal[(*FORMATS, "all")], typer.Option("--format", help="A format, or all.")],
           out_dir: Annotated[Path, typer.Option("--out", help="Output folder (all: one subfolder per format).")],
           snapshot: Annotated[str | None, typer.Option(help="Snapshot run id (default: the newest).")] = None,
           seed: Annotated[int, typer.Option(help="Seed of the train/test split.")] = 0,
           test_fraction: Annotated[float, typer.Option(help="Share of conversations in the test split.")] = 0.1,
           shard_rows: Annotated[int, typer.Option(help="Rows per shard.")] = 50_000,
           jsonl: Annotated[bool, typer.Option("--jsonl", help="JSON lines shards instead of Parquet.")] = False,
           home: Home = None):
    """Write a training set from a warehouse snapshot: shards, manifest.json and a dataset card."""
    from rmcurate.warehouse.exports import ExportError, check_all_out
    from rmcurate.warehouse.exports import export as write_export

    formats = list(FORMATS) if format == "all" else [format]
    if format == "all":
        try:
            check_all_out(out_dir)
        except ExportError as e:
            fail(str(e))
    root = home_of(ctx, home)
    con = open_warehouse(root)
    t = Table("format", "folder", "rows", "train", "test", "dropped", title="exports")
    try:
        for fmt in formats:
            r = write_export(con, root, fmt, out_dir / fmt if format == "all" else out_dir, snapshot=snapshot,
                             seed=seed, test_fraction=test_fraction, shard_rows=shard_rows, jsonl=jsonl)
            t.add_row(fmt, r.out_dir, *map(str, (r.n_rows, r.n_train, r.n_test, r.n_dropped)))
    except ExportError as e:
        fail(str(e))
    finally:
        con.close()
    out.print(t)


def train(ctx: typer.Context,
          data: Annotated[Path, typer.Option(help="An export folder (with manifest.json).")],
          objective: Annotated[Literal[tuple(OBJECTIVE_FORMATS)], typer.Option(
              help="pairwise (trl, openrlhf), ordinal, implicit, or generative (trl, openrlhf: a causal LM that "
                   "answers A or B).")],
          model: Annotated[str | None, typer.Option(help="Local Hugging Face checkpoint (default: all-MiniLM-L6-v2; "
                                                    "generative: the embedded judge's SmolLM2-135M-Instruct).")] = None,
          out_dir: Annotated[Path | None, typer.Option("--out", help="Where the checkpoint and metrics go.")] = None,
          max_steps: Annotated[int, typer.Option(help="Upper bound on optimizer steps.")] = D.max_steps,
          epochs: Annotated[float, typer.Option(help="Passes over the train split (max-steps still bounds).")] = D.epochs,
          batch_size: Annotated[int, typer.Option(help="Examples per step.")] = D.batch_size,
          lr: Annotated[float, typer.Option(help="Peak learning rate.")] = D.lr,
          eps: Annotated[float, typer.Option(help="Label smoothing of pairwise and generative, in PyTorch's "
                                             "convention: the better side's target is 1 - eps/2.")] = D.eps,
          margin: Annotated[float, typer.Option(help="Pairwise margin.")] = D.margin,
          max_length: Annotated[int, typer.Option(help="Tokens per text; older history is cut first "
                                                  "(generative: the whole A/B prompt).")] = D.max_length,
          estimator: Annotated[Literal[ESTIMATORS], typer.Option(help="Implicit: implicitrm is debiased.")] = D.estimator,
          negatives: Annotated[bool, typer.Option(help="Implicit: thumbs down and regenerate are definite negatives.")] = D.negatives,
          stage1_steps: Annotated[int, typer.Option(help="Generative: next-token steps on prompt -> reply first "
                                                    "(GRAM's stage 1).")] = D.stage1_steps,
          field_chars: Annotated[int, typer.Option(help="Generative: characters per prompt field, cut as the pairs "
                                                   "stage cuts them.")] = D.field_chars,
          seed: int = D.seed, home: Home = None):
    """Train a reward model on an export; writes a checkpoint, metrics.json and loss.svg."""
    from rmcurate.trainer.data import DataError
    from rmcurate.trainer.train import train as run_training

    if not (data / "manifest.json").exists():
        fail(f"{data} holds no manifest.json: pass a folder written by `rmcurate export`")
    if objective == "generative" and model is None:
        from rmcurate.stages.train import base_causal_lm

        try:
            model = str(base_causal_lm(home_of(ctx, home)))
        except ValueError as e:
            fail(f"{e}; or pass --model PATH")
    cfg = TrainConfig(objective=objective, model=model, max_steps=max_steps, epochs=epochs, batch_size=batch_size,
                      lr=lr, eps=eps, margin=margin, max_length=max_length, seed=seed, estimator=estimator,
                      negatives=negatives, stage1_steps=stage1_steps, field_chars=field_chars)
    target = out_dir or data.parent / f"{data.name}-{objective}-model"
    try:
        m = run_training(data, target, cfg, log=lambda msg: err.print(msg, highlight=False))
    except (DataError, NotImplementedError, ValueError) as e:
        fail(str(e).splitlines()[0])
    out.print(json.dumps({"test": m["test"], "test_before": m["test_before"], "length_baseline": m["length_baseline"],
                          "samples_per_s": round(m["samples_per_s"], 2)}, indent=2))
    out.print(f"checkpoint, metrics.json and loss.svg in {target}", soft_wrap=True)


def score(model: Annotated[Path, typer.Option(help="A checkpoint folder written by `rmcurate train`.")],
          data: Annotated[Path, typer.Option(help="A .parquet/.jsonl file with a text column, or an export folder.")],
          out_file: Annotated[Path, typer.Option("--out", help="Parquet file to write: ids and rewards.")]):
    """Score texts with a trained reward model (any objective): one reward per row, ids kept.

    A generative checkpoint scores pair exports: P(chosen better), both orders averaged.
    """
    from rmcurate.trainer.data import DataError
    from rmcurate.trainer.score import score as run_score

    for path, what in ((model, "--model"), (data, "--data")):
        if not path.exists():
            fail(f"no such file or directory for {what}: {path}")
    try:
        n = run_score(model, data, out_file)
    except (DataError, OSError, ValueError) as e:
        fail(str(e).splitlines()[0])
    out.print(f"{n} rows scored into {out_file}", soft_wrap=True)
