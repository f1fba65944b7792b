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


def ranking_loss(d: torch.Tensor, label_smoothing: float = 0.1) -> torch.Tensor:
    """GRAM's regularized ranking loss on margins d = score(better) - score(worse).

    Equal to PyTorch's cross_entropy(..., label_smoothing=eps) over the two scores: the target
    puts 1 - eps/2 on the better one and eps/2 on the worse. Its minimum is at sigmoid(d) = 1 - eps/2,
    so the margin stops growing instead of running off. One convention for every objective.
    """
    w = label_smoothing / 2
    return (-(1 - w) * F.logsigmoid(d) - w * F.logsigmoid(-d)).mean()


def pairwise_loss(chosen: torch.Tensor, rejected: torch.Tensor, eps: float = 0.1,
                  margin: float = 0.0) -> torch.Tensor:
    """Bradley-Terry with label smoothing `eps` (PyTorch's convention) on two scalar rewards."""
    return ranking_loss(chosen - rejected - margin, eps)


def two_token_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 0.1) -> torch.Tensor:
    """The generative RM's loss: logits (B, 2) of the tokens "A" and "B", target (B,) the better one's index."""
    better = logits.gather(1, target[:, None])[:, 0]
    worse = logits.gather(1, 1 - target[:, None])[:, 0]
    return ranking_loss(better - worse, eps)
