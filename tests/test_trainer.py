"""The trainer: its losses checked numerically, its metrics against known values, and
short CPU runs on real exports that lower the loss and save a loadable checkpoint."""
import json
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from test_export import snapshot_home  # noqa: F401 - the fixture

from rmcurate.trainer.losses import ordinal_loss, ordinal_probs, ordinal_score, pairwise_loss, two_token_loss
from rmcurate.trainer.metrics import ece, length_to_level, spearman
from rmcurate.trainer.train import TrainConfig, train
from rmcurate.warehouse.exports import export


def test_pairwise_loss_without_smoothing_is_bradley_terry():
    c, r = torch.randn(64), torch.randn(64)
    assert torch.allclose(pairwise_loss(c, r, eps=0.0), -F.logsigmoid(c - r).mean())
    assert torch.allclose(pairwise_loss(c, r, eps=0.0, margin=0.5), -F.logsigmoid(c - r - 0.5).mean())


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.15])
def test_both_smoothed_losses_are_pytorch_cross_entropy_with_label_smoothing(eps):
    """One convention: --eps is PyTorch's label_smoothing for the scalar and the generative objective."""
    torch.manual_seed(0)
    c, r = torch.randn(64) * 3, torch.randn(64) * 3
    zeros = torch.zeros(64, dtype=torch.long)
    for margin in (0.0, 0.5):
        expected = F.cross_entropy(torch.stack([c - margin, r], 1), zeros, label_smoothing=eps)
        assert torch.allclose(pairwise_loss(c, r, eps, margin), expected, atol=1e-6)
    logits, target = torch.randn(64, 2) * 3, torch.randint(0, 2, (64,))
    assert torch.allclose(two_token_loss(logits, target, eps),
                          F.cross_entropy(logits, target, label_smoothing=eps), atol=1e-6)


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.15])
def test_smoothed_pairwise_loss_is_smallest_where_sigmoid_of_the_margin_is_one_minus_half_eps(eps):
    # GRAM: the optimum margin is finite, sigmoid(d*) = 1 - eps/2; gradient descent stops there
    x = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([x], lr=2.0)
    for _ in range(3000):
        opt.zero_grad()
        pairwise_loss(x, torch.zeros(1), eps).backward()
        opt.step()
    assert abs(torch.sigmoid(x).item() - (1 - eps / 2)) < 1e-3


def test_ordinal_heads_targets_and_read_outs():
    labels = torch.tensor([1, 2, 3, 4])
    perfect = torch.tensor([[-20.0, -20, -20], [20, -20, -20], [20, 20, -20], [20, 20, 20]])
    assert ordinal_loss(perfect, labels) < 1e-6
    assert ordinal_loss(-perfect, labels) > 10
    assert torch.allclose(ordinal_score(perfect), labels.float(), atol=1e-6)
    probs = ordinal_probs(torch.randn(50, 3).sort(dim=1, descending=True).values)
    assert torch.allclose(probs.sum(1), torch.ones(50), atol=1e-6) and (probs >= 0).all()
    # independent heads can cross (P(y>2) > P(y>1)); the probabilities must still sum to one
    crossed = ordinal_probs(torch.tensor([[-2.0, 2.0, -2.0], [3.0, -1.0, 2.0]]))
    assert torch.allclose(crossed.sum(1), torch.ones(2), atol=1e-6) and (crossed >= 0).all()


def test_metrics_against_known_values():
    conf = np.array([0.9] * 10 + [0.6] * 10)
    correct = np.array([1] * 9 + [0] + [1] * 3 + [0] * 7, dtype=bool)
    assert ece(conf, correct) == pytest.approx(0.5 * 0.0 + 0.5 * 0.3)
    rng = np.random.default_rng(0)
    a, b = rng.integers(1, 5, 200).astype(float), rng.normal(size=200)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic)
    level = length_to_level(np.array([10, 20, 30, 40.0]), np.array([1, 2, 3, 4.0]), np.array([5, 25, 99.0]))
    assert list(level) == [1, 2, 4]


def test_ordinal_pairs_of_a_large_test_set_are_sampled_not_materialised():
    import tracemalloc

    from rmcurate.trainer.metrics import label_pairs, ordinal_metrics
    labels = np.random.default_rng(1).integers(1, 5, 100_000)  # n x n booleans would be 10 GB
    tracemalloc.start()
    i, j = label_pairs(labels, limit=20_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(i) == 20_000 and (labels[i] > labels[j]).all() and peak < 20_000_000, peak
    score = labels + np.random.default_rng(2).normal(0, 1.0, len(labels))  # a noisy but useful scorer
    small = ordinal_metrics(score[:1500], None, labels[:1500])["pairwise_accuracy"]  # exact on 1,500
    large = ordinal_metrics(score, None, labels)["pairwise_accuracy"]  # sampled on 100,000
    assert abs(small - large) < 0.03, (small, large)


@pytest.mark.parametrize("fmt, objective", [("trl", "pairwise"), ("ordinal", "ordinal")])
def test_a_few_cpu_steps_lower_the_loss_and_save_a_loadable_checkpoint(snapshot_home, tmp_path, fmt, objective):
    from transformers import AutoModelForSequenceClassification

    home, con, _ = snapshot_home
    export(con, home, fmt, tmp_path / fmt, test_fraction=0.3)
    cfg = TrainConfig(objective=objective, max_steps=16, epochs=10, batch_size=8, lr=2e-4, max_length=96,
                      device="cpu")
    m = train(tmp_path / fmt, tmp_path / "model", cfg, log=lambda _: None)
    assert m["steps"] == 16 and m["train_loss_after"] < 0.9 * m["train_loss_before"]
    assert m["test"]["n"] > 0 and 0 <= m["test"]["pairwise_accuracy"] <= 1 and 0 <= m["test"]["ece"] <= 1
    if objective == "ordinal":
        assert {"mae", "spearman"} <= set(m["test"]) and {"mae", "spearman"} <= set(m["length_baseline"])
    saved = json.loads((tmp_path / "model/metrics.json").read_text())
    assert saved["test"] == m["test"]
    assert (tmp_path / "model/loss.svg").read_text().count("<polyline") == 1
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model")
    assert model.config.num_labels == (1 if objective == "pairwise" else 3)
    # `score` reads the checkpoint's objective: the expected level 1..4 for ordinal, a reward per side for pairs
    from rmcurate.trainer.score import score
    n = score(tmp_path / "model", tmp_path / fmt, tmp_path / "scores.parquet")
    scored = pq.read_table(tmp_path / "scores.parquet").to_pylist()
    assert n == len(scored) == m["n_train"] + m["n_test"]
    if objective == "ordinal":
        assert all(1 <= r["reward"] <= 4 for r in scored) and all(r["item_id"] for r in scored)
    else:
        assert all({"row", "split", "reward_chosen", "reward_rejected"} <= set(r) for r in scored)


def test_cli_errors_are_one_line(snapshot_home, tmp_path):
    home, con, _ = snapshot_home
    export(con, home, "trl", tmp_path / "trl")
    export(con, home, "implicit", tmp_path / "implicit")
    export(con, home, "trl", tmp_path / "all-train", test_fraction=0.0)  # nothing to measure on: a reason, no crash
    cli = [sys.executable, "-m", "rmcurate.cli", "train"]
    for args, words in [(["--data", str(tmp_path / "trl"), "--objective", "ordinal"], "trains on ordinal exports"),
                        (["--data", str(tmp_path / "implicit"), "--objective", "implicit", "--estimator", "magic"],
                         "'magic' is not one of 'implicitrm'"),
                        (["--data", str(tmp_path), "--objective", "pairwise"], "no manifest.json"),
                        (["--data", str(tmp_path / "all-train"), "--objective", "pairwise"], "no test rows")]:
        r = subprocess.run(cli + args, capture_output=True, text=True)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and words in r.stderr, r.stderr
