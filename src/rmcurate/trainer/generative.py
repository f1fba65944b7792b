"""GRAM's generative reward model, top to bottom.

    pair export -> the pairs stage's own `pair_compare` prompt, A/B order drawn per example
    -> [stage 1: next-token training on prompt -> reply, loss on the reply only]
    -> stage 2: cross-entropy over the logits of "A" and "B" only, with label smoothing
    -> evaluate in both orders -> save a checkpoint vLLM serves as a judge

The model is any local causal LM with a chat template. It is trained on exactly the prompt
the pairs stage sends a judge (same template, same field cuts), so `rmcurate judge serve
--model CKPT` puts it back into the flow as the pair verifier.
"""
import json
import math
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

from rmcurate.prompts.fields import cut, render_conversation
from rmcurate.prompts.templates import load as load_template
from rmcurate.trainer.data import OBJECTIVE_FORMATS, DataError, read_split
from rmcurate.trainer.loop import place, schedule, update_in_parts
from rmcurate.trainer.losses import two_token_loss
from rmcurate.trainer.memory import available_bytes, causal_lm_bytes, fit_hint, return_freed_tensors
from rmcurate.trainer.metrics import ece, pair_accuracy, write_json
from rmcurate.trainer.plot import loss_svg

CHOICES = ("A", "B")
RECOMPUTE_TOKENS = 1024  # tokens per step above which activations are recomputed on CPU too
# On CPU a batch runs as parts of at most this many tokens, gradients added up: a step's activations
# are one part's, so memory no longer grows with the batch (docs/benchmarks.md, "Memory on CPU").
PART_TOKENS = 1024
TEMPLATE = "pair_compare"


def choice_ids(tokenizer) -> list[int]:
    """The token ids of "A" and "B"; the read-out needs each to be one token."""
    ids = [tokenizer.encode(c, add_special_tokens=False) for c in CHOICES]
    split = [c for c, i in zip(CHOICES, ids) if len(i) != 1]
    if split:
        raise DataError(f"the tokenizer splits {split} into several tokens: the A/B read-out needs one token each")
    return [i[0] for i in ids]


def pair_rows(data: Path, split: str) -> list[tuple[list[dict], str, str]]:
    """(prompt messages, chosen reply, rejected reply) of a trl or openrlhf export."""
    fmt, rows = read_split(data, split)
    if fmt not in OBJECTIVE_FORMATS["generative"]:
        raise DataError(f"objective 'generative' trains on trl or openrlhf exports; {data} is {fmt!r}")
    return [(r["prompt"], r["chosen"][-1]["content"], r["rejected"][-1]["content"]) for r in rows]


class Prompts:
    """Token ids of pair_compare prompts, fitted under max_length by cutting the fields further."""

    def __init__(self, tokenizer, field_chars: int, max_length: int):
        self.tok, self.field_chars, self.max_length = tokenizer, field_chars, max_length
        self.template = load_template(TEMPLATE)
        self.shortened = 0  # prompts whose fields were cut below field_chars to fit

    def ids(self, messages: list[dict]) -> list[int]:
        text = self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def compare(self, prompt: list[dict], a: str, b: str) -> list[int]:
        keep, conv_chars, reply_chars = len(prompt), self.field_chars, self.field_chars
        for attempt in range(64):
            req = self.template.render(conversation=render_conversation(prompt[len(prompt) - keep:], conv_chars),
                                       response_a=cut(a, reply_chars), response_b=cut(b, reply_chars))
            msgs = [{"role": role, "content": text} for role, text in req.messages]
            text = self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            ids = self.tok(text, add_special_tokens=False)["input_ids"]
            if len(ids) <= self.max_length:
                self.shortened += attempt > 0
                return ids
            # The conversation gives way first (its oldest messages, then its length): the replies
            # are what is being judged.
            if keep > 1:
                keep -= 1
            elif conv_chars > 200:
                conv_chars //= 2
            elif reply_chars > 50:
                reply_chars = max(50, reply_chars * 3 // 4)
            else:
                break
        raise DataError(f"a pair_compare prompt does not fit in {self.max_length} tokens: raise --max-length")

    def reply(self, prompt: list[dict], reply: str) -> tuple[list[int], int]:
        """(ids of prompt + reply as the assistant's turn, how many leading ids are the prompt)."""
        msgs = [{"role": m["role"], "content": cut(m["content"], self.field_chars)} for m in prompt]
        head = self.tok(self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True),
                        add_special_tokens=False)["input_ids"]
        full = self.ids(msgs + [{"role": "assistant", "content": cut(reply, self.field_chars)}])
        if full[:len(head)] != head:  # a template that renders the last turn differently: no clean split
            raise DataError("the chat template does not extend the prompt with the reply; stage 1 cannot mask it")
        over = max(0, len(full) - self.max_length)  # keep the reply, drop the oldest prompt tokens
        return full[over:], max(0, len(head) - over)


def collate(seqs: list[list[int]], pad_id: int, device) -> dict:
    """Left-padded batch: every sequence ends at the last column, where the A/B logits are read."""
    n = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for k, s in enumerate(seqs):
        ids[k, n - len(s):] = torch.tensor(s)
        mask[k, n - len(s):] = 1
    position_ids = (mask.cumsum(1) - 1).clamp(min=0)  # positions count real tokens only
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "position_ids": position_ids.to(device)}


def two_rows(model) -> bool:
    """Whether the A/B logits can come from the output matrix's two rows alone: a plain linear head,
    no bias, no logit scaling or soft-capping (else the whole vocabulary is projected, as the model does)."""
    head, config = model.get_output_embeddings(), model.config
    return (isinstance(head, torch.nn.Linear) and head.bias is None and hasattr(model, "get_decoder")
            and not getattr(config, "final_logit_softcapping", None) and getattr(config, "logit_scale", None) is None)


def ab_logits(model, batch: dict, choices: list[int], autocast) -> torch.Tensor:
    """(B, 2) logits of "A" and "B" at the answer slot.

    Only the two rows of the output matrix are used, looked up as a sparse embedding: projecting the
    whole vocabulary made the backward pass build a dense gradient of that matrix (113 MB for
    SmolLM2) for two rows' worth of signal, on top of the one the input embedding builds."""
    with autocast():
        if not two_rows(model):
            return model(**batch, logits_to_keep=1).logits[:, -1, choices].float()
        hidden = model.get_decoder()(**batch).last_hidden_state[:, -1]
        rows = F.embedding(torch.tensor(choices, device=hidden.device), model.get_output_embeddings().weight,
                           sparse=True)
        return (hidden @ rows.T).float()


@torch.no_grad()
def p_first(model, seqs: list[list[int]], choices: list[int], pad_id: int, device, autocast,
            batch_size: int = 16) -> np.ndarray:
    """P("A") per prompt, softmax over the two candidate tokens only."""
    model.eval()
    out = np.zeros(len(seqs))
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        lg = ab_logits(model, collate([seqs[i] for i in idx], pad_id, device), choices, autocast)
        out[idx] = torch.softmax(lg, -1)[:, 0].cpu().numpy()
    model.train()
    return out


def both_orders(p_a_chosen_first: np.ndarray, p_a_chosen_second: np.ndarray) -> np.ndarray:
    """P(chosen better) averaged over the two orders: chosen in slot A, then chosen in slot B."""
    return (p_a_chosen_first + (1 - p_a_chosen_second)) / 2


def compare_metrics(p_a_first: np.ndarray, p_a_second: np.ndarray) -> dict:
    """Metrics of one model on pairs asked in both orders (chosen first in A, then in B)."""
    if len(p_a_first) == 0:
        return {"n": 0}
    p = both_orders(p_a_first, p_a_second)
    one_order = np.concatenate([p_a_first, 1 - p_a_second])  # each prompt on its own
    return {"n": len(p), "pairwise_accuracy": pair_accuracy(p, 1 - p),
            "accuracy_single_order": pair_accuracy(one_order, 1 - one_order),
            # the two orders name the same reply: A then B, or B then A
            "position_consistency": float(np.mean((p_a_first > 0.5) == (p_a_second <= 0.5))),
            "answers_a": float(np.mean(np.concatenate([p_a_first, p_a_second]) > 0.5)),
            "ece": ece(np.maximum(p, 1 - p), p > 0.5)}


def length_baseline(pairs: list[tuple]) -> dict:
    c, r = (np.array([len(x[k]) for x in pairs], dtype=float) for k in (1, 2))
    return {"n": len(pairs), "pairwise_accuracy": pair_accuracy(c, r)}


def evaluate(model, prompts: list[tuple[list[int], list[int]]], choices, pad_id, device, autocast) -> dict:
    first = p_first(model, [a for a, _ in prompts], choices, pad_id, device, autocast)
    second = p_first(model, [b for _, b in prompts], choices, pad_id, device, autocast)
    return compare_metrics(first, second)


def split(idx: list[int], size: int) -> list[list[int]]:
    return [idx[j:j + size] for j in range(0, len(idx), size)]


def sft_loss(model, seqs: list[tuple[list[int], int]], pad_id: int, device, autocast) -> torch.Tensor:
    """Next-token cross-entropy on the reply tokens only (stage 1)."""
    batch = collate([s for s, _ in seqs], pad_id, device)
    n = batch["input_ids"].shape[1]
    labels = torch.full_like(batch["input_ids"], -100)
    for k, (s, head) in enumerate(seqs):
        labels[k, n - len(s) + head:] = batch["input_ids"][k, n - len(s) + head:]
    with autocast():
        logits = model(**batch).logits
    return F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))


@torch.no_grad()
def mean_loss(model, seqs: list[list[int]], targets: torch.Tensor, choices, eps: float, pad_id: int, device,
              autocast) -> float:
    """Stage 2's loss over a fixed handful of training prompts, in eval mode: a yardstick."""
    model.eval()
    total = 0.0
    for b in range(0, len(seqs), 16):
        lg = ab_logits(model, collate(seqs[b:b + 16], pad_id, device), choices, autocast)
        total += float(two_token_loss(lg, targets[b:b + 16].to(device), eps)) * len(lg)
    model.train()
    return total / max(1, len(seqs))


@torch.no_grad()
def p_chosen(checkpoint: Path, pairs: list[tuple[list[dict], str, str]]) -> list[float]:
    """P(chosen better) of a trained checkpoint for (prompt, chosen, rejected) pairs, both orders averaged,
    with the prompt fields cut as in its training."""
    cfg = json.loads((checkpoint / "metrics.json").read_text())["config"]
    tok = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
    prompts = Prompts(tok, cfg["field_chars"], cfg["max_length"])
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    args = (choice_ids(tok), pad_id, torch.device("cpu"), place(model, torch.device("cpu")))
    first = p_first(model, [prompts.compare(p, c, r) for p, c, r in pairs], *args)
    second = p_first(model, [prompts.compare(p, r, c) for p, c, r in pairs], *args)
    return both_orders(first, second).tolist()


def train_generative(data: Path, out: Path, cfg, log=print) -> dict:
    """Train, evaluate before and after in both orders, save. `cfg` is a rmcurate.trainer.train.TrainConfig."""
    train_pairs, test_pairs = pair_rows(data, "train"), pair_rows(data, "test")
    if not train_pairs:
        raise DataError(f"{data} has no training rows")
    if not test_pairs:
        raise DataError(f"{data} has no test rows ({len(train_pairs)} train rows); export more data or a larger "
                        "test fraction")
    if cfg.model is None:
        raise DataError("objective 'generative' needs --model: a local causal LM with a chat template")
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    if cfg.max_test is not None and len(test_pairs) > cfg.max_test:
        test_pairs = [test_pairs[i] for i in sorted(random.Random(cfg.seed).sample(range(len(test_pairs)),
                                                                                  cfg.max_test))]
    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    tok = AutoTokenizer.from_pretrained(cfg.model)
    if tok.chat_template is None:
        raise DataError(f"{cfg.model} has no chat template: the judge prompt is a chat")
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    choices = choice_ids(tok)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # no weight-loading bars in the night's log
    model = AutoModelForCausalLM.from_pretrained(cfg.model, dtype=torch.float32)
    model.config.use_cache = False
    # Activations recomputed on CPU too once a step holds more than RECOMPUTE_TOKENS: kept, they made
    # memory grow with batch x length (12 GB at the default batch of 16; docs/benchmarks.md). Small steps,
    # as the nightly's, keep them: recomputing costs about a third more time.
    part = cfg.batch_size if device.type == "cuda" else max(1, min(cfg.batch_size, PART_TOKENS // cfg.max_length))
    recompute = device.type == "cuda" or cfg.batch_size * cfg.max_length > RECOMPUTE_TOKENS
    if device.type == "cpu":
        need = causal_lm_bytes(model.config, model.num_parameters(), part, cfg.max_length, recompute)
        hint = fit_hint(need, cfg.batch_size, cfg.max_length, part, available_bytes())
        if hint:
            raise DataError(hint)
        if recompute:  # big steps: without it, heap fragmentation doubled the peak (trainer/memory.py);
            return_freed_tensors()  # small ones (the nightly's proof runs) keep malloc's speed
    autocast = place(model, device, cfg.dropout, recompute=recompute)
    # The input embedding's gradient arrives sparse (the rows of this step's tokens) and adds into a
    # dense gradient kept from step to step: a dense copy of the whole matrix each part cost 113 MB.
    model.get_input_embeddings().sparse = True
    for param in model.parameters():
        param.grad = torch.zeros_like(param)
    prompts = Prompts(tok, cfg.field_chars, cfg.max_length)
    # Which reply sits in slot A is drawn once per training example; the test asks both orders.
    flips = [rng.random() < 0.5 for _ in train_pairs]
    train_seqs = [prompts.compare(p, r, c) if flip else prompts.compare(p, c, r)
                  for (p, c, r), flip in zip(train_pairs, flips)]
    train_targets = torch.tensor([int(f) for f in flips])  # index of the better reply's letter
    test_seqs = [(prompts.compare(p, c, r), prompts.compare(p, r, c)) for p, c, r in test_pairs]
    stage1_seqs = [prompts.reply(p, reply) for p, c, r in train_pairs for reply in (c, r)] if cfg.stage1_steps else []

    n_loss = cfg.loss_examples or 16
    yardstick = (train_seqs[:n_loss], train_targets[:n_loss], choices, cfg.eps, pad_id, device, autocast)
    before = evaluate(model, test_seqs, choices, pad_id, device, autocast)
    loss_before = mean_loss(model, *yardstick)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0, fused=True)
    losses, stage1_losses = [], []

    # Stage 1: the model learns to write replies to these prompts; no preference is used.
    if cfg.stage1_steps:
        started = time.perf_counter()
        sched = schedule(opt, cfg.stage1_steps, cfg.warmup)
        order = []
        for step in range(cfg.stage1_steps):
            if not order:
                order = rng.sample(range(len(stage1_seqs)), len(stage1_seqs))
            idx, order = order[:cfg.batch_size], order[cfg.batch_size:]
            stage1_losses.append(update_in_parts(model, [
                (lambda p=p: sft_loss(model, [stage1_seqs[i] for i in p], pad_id, device, autocast), len(p) / len(idx))
                for p in split(idx, part)], opt, sched))
            log(f"stage 1 step {step + 1}/{cfg.stage1_steps}  loss {stage1_losses[-1]:.4f}")
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0, fused=True)
        stage1_seconds = time.perf_counter() - started

    # Stage 2: two-token cross-entropy with label smoothing on the A/B slot.
    steps = max(1, min(cfg.max_steps, math.ceil(cfg.epochs * len(train_seqs) / cfg.batch_size)))
    sched = schedule(opt, steps, cfg.warmup)
    seen, order = 0, []
    started = time.perf_counter()
    for step in range(steps):
        if not order:  # shuffled passes over the train split
            order = rng.sample(range(len(train_seqs)), len(train_seqs))
        idx, order = order[:cfg.batch_size], order[cfg.batch_size:]
        losses.append(update_in_parts(model, [
            (lambda p=p: two_token_loss(ab_logits(model, collate([train_seqs[i] for i in p], pad_id, device), choices,
                                                  autocast), train_targets[p].to(device), cfg.eps), len(p) / len(idx))
            for p in split(idx, part)], opt, sched))
        seen += len(idx)
        if step % 10 == 0 or step == steps - 1:
            log(f"step {step + 1}/{steps}  loss {losses[-1]:.4f}  {seen / (time.perf_counter() - started):.1f} samples/s")
    elapsed = time.perf_counter() - started
    del opt, sched  # AdamW's moments and the gradients are twice the model: not kept through the evaluation
    model.zero_grad(set_to_none=True)

    metrics = {
        "objective": "generative", "data": str(data), "model": cfg.model, "device": device.type,
        "recompute": recompute, "part": part, "config": asdict(cfg), "steps": steps, "stage1_steps": cfg.stage1_steps, "n_train": len(train_pairs),
        "n_test": len(test_pairs), "samples_per_s": seen / elapsed, "train_seconds": elapsed,
        "stage1_seconds": stage1_seconds if cfg.stage1_steps else 0.0, "template": f"{TEMPLATE}.v{prompts.template.version}",
        "prompts_shortened": prompts.shortened,
        "train_loss_before": loss_before, "train_loss_after": mean_loss(model, *yardstick),
        "stage1_loss": [stage1_losses[0], stage1_losses[-1]] if stage1_losses else None,
        "test_before": before,
        "test": evaluate(model, test_seqs, choices, pad_id, device, autocast),
        "length_baseline": length_baseline(test_pairs),
    }
    out.mkdir(parents=True, exist_ok=True)
    model.config.use_cache = True  # for serving
    model.save_pretrained(out)
    tok.save_pretrained(out)  # with its chat template: vLLM renders the same prompt
    write_json(out / "metrics.json", metrics)
    write_json(out / "losses.json", losses)
    (out / "loss.svg").write_text(loss_svg(losses, "generative (A/B) training loss"))
    return metrics
