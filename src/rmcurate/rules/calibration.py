"""Expected calibration error: the judge's category probabilities (judges/evaluate.py) and the trainer's
pair and label probabilities (trainer/metrics.py) are scored the same way."""
import numpy as np


def ece(confidence, correct, bins: int = 10) -> float:
    """Expected calibration error over equal-width confidence bins; NaN with nothing to score."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    if len(confidence) == 0:
        return float("nan")
    idx = np.clip(np.digitize(confidence, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    return float(sum((idx == b).mean() * abs(correct[idx == b].mean() - confidence[idx == b].mean())
                     for b in range(bins) if (idx == b).any()))
