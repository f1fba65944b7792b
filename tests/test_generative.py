"""GRAM's generative reward model on the real SmolLM2: a few CPU steps teach it a known preference,
both orders cancel a planted position bias, and the checkpoint is served by vLLM as the pair verifier."""
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from rmcurate.judges.embedded import free_port, served_name
from rmcurate.settings import JudgeSettings, PairSettings
from rmcurate.stages.pairs import compare, pair_verifier
from rmcurate.trainer.generative import CHOICES, both_orders, compare_metrics, evaluate, p_chosen, pair_rows
from rmcurate.trainer.train import TrainConfig, train
from rmcurate.warehouse import connect
from rmcurate.warehouse.judge_calls import DuckCallStore

from benchmarks.known_pairs import known_pairs, write_export
from conftest import _healthy

N_TEST = 20


@pytest.fixture(scope="module")
def trained(smollm2, tmp_path_factory):
    """A generative RM trained 10 steps of 8 on replies against their own words shuffled (length-matched)."""
    root = tmp_path_factory.mktemp("generative")
    data = write_export(root / "export", known_pairs(80 + N_TEST, "shuffled", max_prompt=100,
                                                     reply_chars=(40, 110)), N_TEST)
    cfg = TrainConfig(objective="generative", model=str(smollm2), max_steps=10, epochs=10, batch_size=8, lr=1.5e-4,
                      max_length=256, loss_examples=8, device="cpu")
    metrics = train(data, root / "model", cfg, log=lambda _: None)
    return data, root / "model", metrics


def test_a_few_cpu_steps_teach_a_known_preference(trained):
    data, ckpt, m = trained
    before, after, length = m["test_before"], m["test"], m["length_baseline"]
    assert after["n"] == N_TEST and m["steps"] == 10
    assert m["recompute"]  # 8 x 256 tokens a step: activations recomputed on CPU, and it still learns
    assert after["pairwise_accuracy"] >= 0.8, m
    assert after["pairwise_accuracy"] >= before["pairwise_accuracy"] + 0.1, m
    assert after["pairwise_accuracy"] >= length["pairwise_accuracy"] + 0.2, m
    assert m["train_loss_after"] < m["train_loss_before"]
    # the untrained model answers A whatever it reads: only both orders together rank the replies
    assert before["answers_a"] > 0.9 and before["accuracy_single_order"] == pytest.approx(0.5, abs=0.1)
    saved = json.loads((ckpt / "metrics.json").read_text())
    assert saved["objective"] == "generative" and saved["template"] == "pair_compare.v1"


def test_averaging_both_orders_cancels_a_position_bias_planted_in_the_logits(trained):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rmcurate.trainer.generative import Prompts, choice_ids

    data, ckpt, m = trained
    model = AutoModelForCausalLM.from_pretrained(ckpt)  # the saved checkpoint loads as a causal LM
    tok = AutoTokenizer.from_pretrained(ckpt)
    a, _ = choice_ids(tok)
    prompts = Prompts(tok, 1000, 256)
    seqs = [(prompts.compare(p, c, r), prompts.compare(p, r, c)) for p, c, r in pair_rows(data, "test")]

    def autocast():
        return torch.autocast("cpu", enabled=False)

    bias = torch.zeros(model.config.vocab_size)
    bias[a] = 4.0  # "A" gets +4 nats whatever the replies say
    hook = model.lm_head.register_forward_hook(lambda _m, _i, out: out + bias)
    biased = evaluate(model, seqs, choice_ids(tok), tok.pad_token_id, torch.device("cpu"), autocast)
    hook.remove()
    assert biased["answers_a"] > 0.95  # the bias took over every single prompt
    assert biased["accuracy_single_order"] <= 0.6  # each order alone: right in one order, wrong in the other
    assert biased["pairwise_accuracy"] >= m["test"]["pairwise_accuracy"] - 0.1  # both orders: cancelled
    assert biased["pairwise_accuracy"] >= 0.75


def test_both_orders_read_out():
    # chosen in A: P(A)=0.9; chosen in B: P(A)=0.3, so P(B)=0.7 -> P(chosen) = 0.8
    assert both_orders(np.array([0.9]), np.array([0.3]))[0] == pytest.approx(0.8)
    got = compare_metrics(np.array([0.9, 0.9, 0.2]), np.array([0.3, 0.8, 0.9]))
    assert got["n"] == 3
    # pair 1: chosen both times; pair 2: A both times (chosen, then rejected); pair 3: rejected both times
    assert got["position_consistency"] == pytest.approx(2 / 3)
    assert got["answers_a"] == pytest.approx(4 / 6)
    assert got["pairwise_accuracy"] == pytest.approx(2 / 3)  # P(chosen) 0.8 and 0.55 right, 0.15 wrong


def test_score_reads_out_both_orders_for_a_pair_export(trained, tmp_path):
    import pyarrow.parquet as pq

    data, ckpt, m = trained
    from rmcurate.trainer.data import read_split

    rows = read_split(data, "train")[1][:2] + read_split(data, "test")[1]
    small = write_export(tmp_path / "small", rows, N_TEST)
    out = tmp_path / "scores.parquet"
    run = subprocess.run([sys.executable, "-m", "rmcurate.cli", "score", "--model", str(ckpt), "--data", str(small),
                          "--out", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    got = pq.read_table(out).to_pylist()
    assert [(r["split"], r["row"]) for r in got] == [("train", 0), ("train", 1)] + [("test", i) for i in range(N_TEST)]
    test = [r["p_chosen_better"] for r in got if r["split"] == "test"]
    assert np.mean([p > 0.5 for p in test]) == pytest.approx(m["test"]["pairwise_accuracy"], abs=0.05)
    # a generative RM compares two replies: a file of single texts is a one-line error
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "hello"}\n')
    run = subprocess.run([sys.executable, "-m", "rmcurate.cli", "score", "--model", str(ckpt), "--data", str(texts),
                          "--out", str(out)], capture_output=True, text=True)
    assert run.returncode == 2 and "compares two replies" in run.stderr


def test_the_checkpoint_is_served_by_vllm_and_verifies_pairs(trained, tmp_path):
    data, ckpt, m = trained
    home, port = tmp_path / "home", free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "rmcurate.cli", "--home", str(home), "judge", "serve",
                                 "--port", str(port), "--model", str(ckpt)], stdout=f, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while not _healthy(url):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        con = connect(home)
        # the pairs stage's verifier, pointed at the served checkpoint while another model writes pairs
        verifier = pair_verifier(PairSettings(verify_url=url), JudgeSettings(model="the-generator"),
                                 DuckCallStore(con))
        assert verifier.model == served_name(ckpt)
        items = [(p, c, r) for p, c, r in pair_rows(data, "test")]
        verdicts = compare(verifier, items, 1000)
        assert len(verdicts) == N_TEST and all(v.vote != "failed" and v.p_better is not None for v in verdicts)
        answers = {t for (t,) in con.execute("SELECT text FROM judge_calls WHERE model = ?",
                                             [served_name(ckpt)]).fetchall()}
        assert answers <= set(CHOICES) and answers  # one letter, constrained, as the judge template asks
        # What vLLM serves ranks as the trainer measured, as far as its precision shows it: vLLM computes
        # in bf16 on CPU, so a served P(chosen better) moves in steps of about 0.015 (0.5, 0.515, 0.53).
        # Ten steps leave the trained margins near that step: a rerun whose weights differed by 8e-6 served
        # 0.55 or 0.75 of the pairs strictly above 0.5. So: where the trainer's own margin is past the step,
        # the served verdict agrees; overall it leans the trainer's way.
        served = np.array([v.p_better for v in verdicts])
        trained_p = np.array(p_chosen(ckpt, items))
        clear = trained_p >= 0.52
        assert clear.sum() >= 2 and (served[clear] > 0.5).all(), (served, trained_p)
        assert served.mean() > 0.505 and np.mean(served >= 0.5) >= 0.8, (served, trained_p)
        con.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_a_batch_that_cannot_fit_stops_before_the_first_step_with_a_hint(smollm2, tmp_path):
    """Far past any machine's memory: a one-line error naming the fix, in seconds, not an hour of swap."""
    data = write_export(tmp_path / "pairs", known_pairs(24, "shuffled"), 4)
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "rmcurate.cli", "train", "--data", str(data), "--objective",
                          "generative", "--model", str(smollm2), "--batch-size", "64", "--max-length", "65536",
                          "--out", str(tmp_path / "model")], capture_output=True, text=True)
    assert run.returncode == 2, run.stdout + run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert "--batch-size 64 at --max-length 65536 needs about" in line and "try a smaller --max-length" in line
    assert time.monotonic() - started < 60 and not (tmp_path / "model").exists()


def test_the_memory_estimate_follows_what_was_measured(smollm2):
    """docs/benchmarks.md: SmolLM2-135M (134.5M parameters) training at 16 x 256 tokens on CPU took 2.70 GB
    with activations recomputed and 9.22 GB with them kept, over the process's own 0.26 GB. The estimate
    that gates a run stays within 10% of both."""
    from transformers import AutoConfig

    from rmcurate.trainer.memory import causal_lm_bytes

    config = AutoConfig.from_pretrained(smollm2)
    assert causal_lm_bytes(config, 134_515_008, 16, 256, recompute=True) == pytest.approx(2.70e9, rel=0.1)
    assert causal_lm_bytes(config, 134_515_008, 16, 256, recompute=False) == pytest.approx(9.22e9, rel=0.1)


def test_the_two_row_readout_and_its_gradient_equal_the_full_vocabulary_ones(smollm2):
    """The A/B logits come from two rows of the output matrix, through a sparse lookup (it saves a dense
    gradient of the whole matrix a step); the logits and the gradients must be the full projection's."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rmcurate.trainer.generative import ab_logits, choice_ids, collate, two_rows
    from rmcurate.trainer.loop import place

    tok = AutoTokenizer.from_pretrained(smollm2)
    seqs = [tok("Which reply is better? A or B")["input_ids"], tok("Pick one: ")["input_ids"]]
    grads = {}
    for path in ("two rows", "full"):
        model = AutoModelForCausalLM.from_pretrained(smollm2, dtype=torch.float32)
        autocast = place(model, torch.device("cpu"))
        model.get_input_embeddings().sparse = path == "two rows"
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        assert two_rows(model)
        batch, choices = collate(seqs, tok.eos_token_id, torch.device("cpu")), choice_ids(tok)
        if path == "two rows":
            logits = ab_logits(model, batch, choices, autocast)
        else:
            logits = model(**batch, logits_to_keep=1).logits[:, -1, choices].float()
        torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
        grads[path] = (logits.detach(), model.get_output_embeddings().weight.grad.clone(),
                       model.model.layers[3].mlp.up_proj.weight.grad.clone())
    for fast, full in zip(grads["two rows"], grads["full"]):
        assert not fast.is_sparse and torch.allclose(fast, full, atol=1e-5), (fast - full).abs().max()
