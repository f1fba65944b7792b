"""Everything a training run can be told, in one block: the `train` command's options take their
defaults from here, and the nightly builds one per objective from its settings (stages/train.py).
No torch here, so the CLI starts fast."""
from dataclasses import dataclass


@dataclass
class TrainConfig:
    objective: str = "pairwise"  # pairwise | ordinal | implicit | generative
    model: str | None = None  # default: the bundled all-MiniLM-L6-v2; generative: a causal LM, required
    max_steps: int = 200
    epochs: float = 1.0
    batch_size: int = 16  # examples; a pairwise example is two texts
    lr: float = 5e-5
    warmup: float = 0.1  # share of steps
    eps: float = 0.1  # label smoothing of pairwise and generative, PyTorch's convention (targets 1-eps/2, eps/2)
    margin: float = 0.0
    estimator: str = "implicitrm"  # implicit: implicitrm | naive | ips | dr
    negatives: bool = True  # implicit: thumbs down and regenerations are definite negatives
    max_test: int | None = None  # score at most this many test rows (a seeded sample); None: all
    max_length: int = 256
    seed: int = 0
    device: str | None = None  # default: cuda when there is one
    dropout: bool = False  # off, as TRL's RewardTrainer has it: steadier rewards, faster steps
    stage1_steps: int = 0  # generative: next-token steps on prompt -> reply before the A/B stage
    field_chars: int = 1000  # generative: each pair_compare field cut to this, as the pairs stage does
    # Training examples the before/after train loss is measured on (None: 256, generative 16).
    loss_examples: int | None = None
