"""The training loop's shared parts, for the scalar objectives (train.py) and the generative one
(generative.py): device placement, the learning-rate schedule, one optimizer step, and batching.

The schedule is ours, not transformers' `get_linear_schedule_with_warmup`: that one gives the first
step a learning rate of 0, and the nightly's proof runs are 2 to 30 steps long; its decay also
differs by a step, which would change every trained figure the move to this module kept.
"""
import random

import torch


def schedule(opt, steps: int, warmup: float):
    """Linear warm-up over a `warmup` share of the steps, then linear decay to zero."""
    warm = max(1, int(warmup * steps))
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))


def place(model, device, dropout: bool = False, recompute: bool | None = None):
    """Move the model to `device`, dropout off unless asked; returns the autocast context to run it in.
    On a GPU: bf16 compute. `recompute` (default: on a GPU) recomputes activations in the backward pass
    instead of keeping them (gradient checkpointing): memory no longer grows with batch x length x layers,
    for about a third more compute."""
    if not dropout:
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
    model.to(device)
    if recompute if recompute is not None else device.type == "cuda":
        # transformers 5 renamed it; the old name still works there and warns
        (getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable)()
    if device.type != "cuda":
        return lambda: torch.autocast("cpu", enabled=False)
    return lambda: torch.autocast("cuda", dtype=torch.bfloat16)


def update(model, loss: torch.Tensor, opt, sched, extra_opt=None) -> float:
    """One optimizer step: gradients clipped to norm 1, then the schedule moves on. Returns the loss."""
    opt.zero_grad(set_to_none=True)
    if extra_opt is not None:
        extra_opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    if extra_opt is not None:
        extra_opt.step()
    sched.step()
    return loss.item()


def update_in_parts(model, parts: list, opt, sched) -> float:
    """One optimizer step over a batch given as parts: `parts` holds (loss function, share of the batch)
    pairs, each loss the mean over its part. Gradients add up part by part, so a step's activations
    are one part's; the step is the batch's, as `update` takes it. Returns the batch's loss."""
    opt.zero_grad(set_to_none=False)  # kept, dense: sparse embedding gradients add into them in place
    total = 0.0
    for loss_of, share in parts:
        loss = loss_of() * share
        loss.backward()
        total += loss.item()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    return total


def batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Padding-aware batches: shuffle, sort within windows of 50 batches by length, shuffle the batches."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    window = batch_size * 50
    out = []
    for w in range(0, len(idx), window):
        chunk = sorted(idx[w:w + window], key=lambda i: lengths[i])
        out += [chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size)]
    rng.shuffle(out)
    return out
