"""The hook for the ImplicitRM objective, which a later stage fills in.

ImplicitRM trains two models on `implicit` exports (schemas.exports.ImplicitRow):
a reward head giving P(r*=1 | text) and a propensity model giving
P(a=1 | position, response_chars, has_code, user_events, user_replies). Each reply
sits in one of four latent groups (true preference x user action); the posterior
over the groups given `acted` weights the reward head toward PA+PP and the
propensity model toward PA+NA, alternating.

The trainer asks an objective for these three things; `implicit` will provide them.
"""
from typing import Protocol

import torch


class Objective(Protocol):
    name: str
    num_labels: int  # outputs of the sequence-classification head

    def loss(self, logits: torch.Tensor, batch: dict) -> torch.Tensor:
        """logits (B, texts per example, num_labels) -> scalar loss."""

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        """logits (N, num_labels) -> one reward per text."""


NOT_YET = ("the implicit objective arrives with the ImplicitRM stage; "
           "`rmcurate export --format implicit` already writes its data")
