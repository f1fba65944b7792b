"""ImplicitRM on data whose truth and propensities are known in closed form (features, no text)."""
import numpy as np
import pytest
import torch

from rmcurate.trainer.implicit import Implicit, groups


def simulated(n: int = 12_000, seed: int = 0):
    """x1 decides the true preference; x2 says "code", which users copy 8x more, whatever its quality."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    mu = 1 / (1 + np.exp(-2 * x[:, 0]))
    code = (x[:, 1] > 0).astype(np.float32)
    g = np.where(code == 1, 0.8, 0.1)
    preferred = rng.random(n) < mu
    acted = (rng.random(n) < g * (preferred + 0.05 * (1 - preferred))).astype(np.float32)
    z = np.zeros((n, 6), np.float32)
    z[:, 2] = code  # the has_code feature; the others constant
    return x, mu, z, acted


def fit(estimator: str, x, z, acted, steps: int = 500) -> np.ndarray:
    torch.manual_seed(0)
    obj = Implicit(estimator, z, acted, np.zeros(len(x), np.float32))
    head = torch.nn.Linear(x.shape[1], 1)  # the "reward model": logistic on the text features
    opt = torch.optim.Adam([*head.parameters(), *obj.parameters()], lr=0.05)
    X, A, Z = map(torch.as_tensor, (x, acted, z))
    for _ in range(steps):
        idx = torch.randint(0, len(x), (512,))
        batch = {"acted": A[idx], "z": Z[idx], "negative": torch.zeros(len(idx))}
        loss = obj.estimate_loss(head(X[idx]).squeeze(-1), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return torch.sigmoid(head(X).squeeze(-1)).numpy()


def test_implicitrm_recovers_the_true_preference_where_naive_is_biased():
    x, mu, z, acted = simulated()
    mae = {e: float(np.abs(fit(e, x, z, acted) - mu).mean()) for e in ("naive", "implicitrm")}
    # Measured: implicitrm 0.014, naive 0.29 (it learns P(act), which code inflates and rarity deflates).
    assert mae["implicitrm"] < 0.05
    assert mae["naive"] > 0.2


def test_the_four_group_posteriors_sum_to_one_and_respect_the_action():
    rng = np.random.default_rng(1)
    mu, g = (torch.as_tensor(rng.uniform(0.01, 0.99, 100)) for _ in range(2))
    acted = torch.as_tensor(rng.random(100) < 0.3, dtype=torch.float64)
    negative = torch.as_tensor(rng.random(100) < 0.2, dtype=torch.float64)
    post = groups(mu, g, torch.tensor(0.05, dtype=torch.float64), acted, negative)
    total = sum(post.values())
    assert torch.allclose(total, torch.ones(100, dtype=torch.float64))
    assert torch.all(post["PP"][acted == 1] == 0) and torch.all(post["PA"][acted == 0] == 0)
    assert torch.all(post["PA"][negative == 1] == 0) and torch.all(post["PP"][negative == 1] == 0)
    # where nobody acted and eps is 0, the preferred share is the EM form mu(1-g)/(1-mu g)
    quiet = groups(mu, g, torch.tensor(0.0, dtype=torch.float64), torch.zeros(100, dtype=torch.float64))
    assert torch.allclose(quiet["PP"], mu * (1 - g) / (1 - mu * g))


def test_unknown_estimator_is_refused():
    x, _, z, acted = simulated(200)
    with pytest.raises(ValueError, match="unknown estimator 'magic'"):
        Implicit("magic", z, acted, np.zeros(200, np.float32))
