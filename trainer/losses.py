"""The training objectives' losses and read-outs, on plain tensors."""
import torch
import torch.nn.functional as F

N_LEVELS = 4  # ordinal labels 1..4


def ordinal_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """K-1 cumulative heads, binary cross-entropy on [y>1, y>2, y>3]. logits (B, 3), labels (B,) in 1..4."""
    thresholds = torch.arange(1, N_LEVELS, device=labels.device)
    targets = (labels[:, None] > thresholds[None, :]).to(logits.dtype)
    return F.binary_cross_entropy_with_logits(logits, targets)


def ordinal_score(logits: torch.Tensor) -> torch.Tensor:
    """1 + sum of the cumulative sigmoids: an expected level in 1..4."""
    return 1 + torch.sigmoid(logits).sum(-1)


def ordinal_probs(logits: torch.Tensor) -> torch.Tensor:
    """P(y = k) for k = 1..4 from P(y > k).

    The heads are independent, so P(y > 1) >= P(y > 2) >= P(y > 3) can fail; a running
    minimum makes the cumulative curve monotone, so the four probabilities sum to one.
    """
    above = torch.cummin(torch.sigmoid(logits), dim=1).values
    ones, zeros = torch.ones_like(above[:, :1]), torch.zeros_like(above[:, :1])
    cum = torch.cat([ones, above, zeros], dim=1)
    return cum[:, :-1] - cum[:, 1:]


def pairwise_loss(chosen: torch.Tensor, rejected: torch.Tensor, eps: float = 0.1,
                  margin: float = 0.0) -> torch.Tensor:
    """Bradley-Terry with label smoothing (GRAM's regularized ranking loss).

    -(1-eps) log sigmoid(d) - eps log sigmoid(-d), d = r_c - r_r - margin; its minimum
    is at sigmoid(d) = 1 - eps, so the margin stops growing instead of running off.
    """
    d = chosen - rejected - margin
    return (-(1 - eps) * F.logsigmoid(d) - eps * F.logsigmoid(-d)).mean()
