"""ImplicitRM and the baselines users compare it with: a reward from who acted on which reply.

Each reply has a true preference r* (1: the user wants this reply) that nobody logs, and an
action a (copy, click, thumbs up, share) that the event log does show. We model

    P(a=1 | x, z) = g(z) * (mu(x) + eps * (1 - mu(x)))

mu(x) = P(r*=1 | text) is the reward model; g(z) the chance the user engages with the reply at
all, the propensity, from features that are not quality (position, length, code, lists or tables,
the user's activity); eps the chance of acting on a reply one does not prefer (copying code that turns out
wrong). So every reply sits in one of four latent groups, true preference x action:

    PA  preferred, acted        g * mu                 (only where a = 1)
    NA  not preferred, acted    g * eps * (1 - mu)     (only where a = 1)
    PP  preferred, not acted    (1 - g) * mu           (only where a = 0)
    NP  neither                 (1 - mu) * (1 - g*eps) (only where a = 0)

An estimator turns (reward logits, a batch of actions and features) into a loss:
- `implicitrm`: EM. The E-step is the posterior over the four groups given a (`groups`); the
  M-step fits mu to PA+PP, g to the posterior of "engaged" (PA, NA, and the engaged part of NP)
  and eps to NA among the engaged; the two models are updated from the same E-step each step.
  An explicit negative (thumbs down, regenerate) fixes r* = 0 when `negatives` is on.
- `naive`: a = 1 is a positive, a = 0 a negative.
- `ips`: inverse propensity scoring for positive-unlabeled data (Saito et al. 2020), with the
  propensity clipped below at `clip`.
- `dr`: doubly robust, with a constant imputation (the estimated share of preferred replies)
  corrected by the inverse-propensity term.
IPS and DR take g from a logistic fit of a on the features, shifted so the most engaged 1% of
replies have g = 0.95; ImplicitRM starts from the same fit and goes on learning g.
"""
import math
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from rmcurate.trainer.data import ESTIMATORS, FEATURES, feature_matrix  # noqa: F401 - named here too


class Objective(Protocol):
    name: str
    num_labels: int  # outputs of the sequence-classification head

    def loss(self, logits: torch.Tensor, batch: dict) -> torch.Tensor:
        """logits (B, texts per example, num_labels) -> scalar loss."""

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        """logits (N, num_labels) -> one reward per text."""


class Propensity(torch.nn.Module):
    """g(z): logistic regression on standardised features."""

    def __init__(self, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(np.maximum(std, 1e-6), dtype=torch.float32))
        self.linear = torch.nn.Linear(len(mean), 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Logits of g."""
        return self.linear((z - self.mean) / self.std).squeeze(-1)

    @classmethod
    def fit(cls, z: np.ndarray, acted: np.ndarray, steps: int = 200) -> tuple["Propensity", float]:
        """P(a=1 | z) by logistic regression; returns it and its level at the most engaged 1% of replies."""
        model = cls(z.mean(0), z.std(0))
        zt, at = torch.as_tensor(z), torch.as_tensor(acted, dtype=torch.float32)
        opt = torch.optim.LBFGS(model.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(zt), at) + 1e-4 * model.linear.weight.square().sum()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            p = torch.sigmoid(model(zt))
            top = float(torch.quantile(p, 0.99)) if len(p) > 1 else float(p.max())
        return model, min(max(top, 1e-6), 0.95)


def groups(mu: torch.Tensor, g: torch.Tensor, eps: torch.Tensor, acted: torch.Tensor,
           negative: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Posterior of the four groups given the action; each row sums to one."""
    if negative is not None:  # an explicit negative: not preferred, whatever else
        mu = mu * (1 - negative)
    act_pa, act_na = g * mu, g * eps * (1 - mu)
    quiet_pp, quiet_np = (1 - g) * mu, (1 - mu) * (1 - g * eps)
    acted_mass = (act_pa + act_na).clamp_min(1e-12)
    quiet_mass = (quiet_pp + quiet_np).clamp_min(1e-12)
    return {"PA": acted * act_pa / acted_mass, "NA": acted * act_na / acted_mass,
            "PP": (1 - acted) * quiet_pp / quiet_mass, "NP": (1 - acted) * quiet_np / quiet_mass}


def soft_bce(logit: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of sigmoid(logit) against a target that may lie outside [0, 1] (IPS, DR)."""
    loss = -(target * F.logsigmoid(logit) + (1 - target) * F.logsigmoid(-logit))
    return (loss * weight).mean() if weight is not None else loss.mean()


class Implicit:
    """The `implicit` objective: one reward logit per reply, the loss of the chosen estimator.

    `batch` holds `acted` (B,), `negative` (B,) and `z` (B, features). The propensity model and eps
    are parameters of this objective: the trainer adds `parameters()` to its optimizer and saves
    `state()` beside the checkpoint.
    """

    name, num_labels = "implicit", 1

    def __init__(self, estimator: str, z: np.ndarray, acted: np.ndarray, negative: np.ndarray,
                 negatives: bool = True, clip: float = 0.1, eps: float = 0.05):
        if estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {estimator!r}: choose one of {', '.join(ESTIMATORS)}")
        self.estimator, self.negatives, self.clip = estimator, negatives, clip
        # P(a | z) from the log, scaled so the most engaged 1% of replies have g = 0.95 (those users
        # look at nearly every reply): IPS and DR divide by it as it is.
        self.observed, self.top = Propensity.fit(z, acted)
        self.observed.requires_grad_(False)
        with torch.no_grad():
            fixed = self.fixed_g(torch.as_tensor(z))
            # The share of preferred replies IPS implies: DR's constant imputation.
            self.prior = float((torch.as_tensor(acted, dtype=torch.float32) / fixed).mean().clamp(0.05, 0.95))
        # ImplicitRM learns g, starting from the same fit moved on the logit scale to the same top.
        self.propensity = Propensity(z.mean(0), z.std(0))
        self.propensity.load_state_dict(self.observed.state_dict())
        with torch.no_grad():
            self.propensity.linear.bias += math.log(0.95 / 0.05) - math.log(self.top / (1 - self.top))
        self.eps_logit = torch.nn.Parameter(torch.tensor(math.log(eps / (1 - eps))))
        self.learns_propensity = estimator == "implicitrm"
        if not self.learns_propensity:
            self.propensity.requires_grad_(False)

    def fixed_g(self, z: torch.Tensor) -> torch.Tensor:
        return (torch.sigmoid(self.observed(z)) * (0.95 / self.top)).clamp(self.clip, 1.0)

    def used_g(self, z: torch.Tensor) -> torch.Tensor:
        """The propensity this estimator works with: learned (ImplicitRM) or fixed from the log."""
        return self.g(z) if self.learns_propensity else self.fixed_g(z)

    def parameters(self) -> list[torch.nn.Parameter]:
        return [*self.propensity.parameters(), self.eps_logit] if self.learns_propensity else []

    def to(self, device):
        self.observed.to(device)
        self.propensity.to(device)
        self.eps_logit.data = self.eps_logit.data.to(device)
        return self

    def g(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.propensity(z))

    def loss(self, logits: torch.Tensor, batch: dict) -> torch.Tensor:
        return self.estimate_loss(logits[:, 0, 0], batch)

    def estimate_loss(self, r: torch.Tensor, batch: dict) -> torch.Tensor:
        a, z = batch["acted"].float(), batch["z"]
        neg = batch["negative"].float() if self.negatives else torch.zeros_like(a)
        if self.estimator == "naive":
            return soft_bce(r, a)
        if self.estimator == "ips":
            inv = a / self.fixed_g(z)
            return soft_bce(r, inv * (1 - neg))
        if self.estimator == "dr":
            inv = a / self.fixed_g(z)
            target = self.prior + inv * (1 - self.prior)  # imputation, corrected where the user acted
            return soft_bce(r, target * (1 - neg))
        # ImplicitRM: E-step with the current models, then one M-step for each of them.
        g, eps = self.g(z), torch.sigmoid(self.eps_logit)
        with torch.no_grad():
            post = groups(torch.sigmoid(r), g, eps, a, neg)
            engaged_np = post["NP"] * g * (1 - eps) / (1 - g * eps).clamp_min(1e-12)
            engaged = post["PA"] + post["NA"] + engaged_np
            noise_rate = post["NA"].sum() / (post["NA"].sum() + engaged_np.sum()).clamp_min(1e-12)
        reward = soft_bce(r, post["PA"] + post["PP"])
        propensity = F.binary_cross_entropy_with_logits(self.propensity(z), engaged)
        eps_fit = F.binary_cross_entropy_with_logits(self.eps_logit, noise_rate)
        return reward + propensity + eps_fit

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        return logits[:, 0]

    def state(self) -> dict:
        lin = self.propensity.linear
        return {"estimator": self.estimator, "features": list(FEATURES), "negatives": self.negatives,
                "mean": self.propensity.mean.tolist(), "std": self.propensity.std.tolist(),
                "weight": lin.weight.detach().cpu().flatten().tolist(), "bias": float(lin.bias.detach().cpu()),
                "eps": float(torch.sigmoid(self.eps_logit.detach().cpu())), "clip": self.clip,
                "prior": self.prior, "observed_top": self.top,
                "propensity": "learned by EM" if self.learns_propensity else
                "P(a|z) from the log, scaled to 0.95 at its top 1%, clipped below"}


def propensity_by_bucket(g: np.ndarray, rows: list[dict]) -> list[dict]:
    """The fitted propensity's mean by code / position bucket, with the observed action rate beside it."""
    out = []
    for name, test in (("code", lambda r: bool(r["has_code"])), ("no code", lambda r: not r["has_code"]),
                       ("first reply", lambda r: r["position"] == 0), ("second reply", lambda r: r["position"] == 1),
                       ("later replies", lambda r: r["position"] >= 2)):
        idx = [i for i, r in enumerate(rows) if test(r)]
        if idx:
            out.append({"bucket": name, "replies": len(idx), "propensity": float(np.mean(g[idx])),
                        "acted": float(np.mean([rows[i]["acted"] for i in idx]))})
    return out
