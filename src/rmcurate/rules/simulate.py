"""A click/copy log with a known truth, for measuring debiasing (ImplicitRM) where no real log exists.

Given replies, it draws a hidden true preference per reply and then what a user did with it:

    preference p   = sigmoid(sharpness * relevance z-score)     P(r* = 1), the truth
    preferred r*   ~ Bernoulli(p)
    engaged        ~ Bernoulli(g),  g = base * exp(bias * s(reply, user)), capped at 0.95
    acted          = engaged and (r* or a noise draw with rate `noise`)
    explicit no    = engaged, not preferred, not acted, with rate `negative_rate`

Relevance is the share of the question's content words the reply repeats: crude, but a property
of the text that a reward model can learn, and unknown to the propensity. s() is what makes
users act whatever the quality: code (copied far more), an early position in the conversation,
and the user's own activity (some users click everything). `bias` scales s (0: no bias);
`observation_rate` is the mean of g. Every reply also gets an `impression` event whose payload
holds the truth (`simulated_preference`, `simulated_preferred`): the export passes it on for
evaluation only, and nothing trains on it.
"""
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from rmcurate.rules.replies import has_code

WORD = re.compile(r"[a-z][a-z0-9_]{2,}")
STOP = frozenset("the and for are but not you your with this that have from what how can will would could "
                 "should there their they them then than into about which when where who why all any was "
                 "were been has had its also just like more some such use using one two".split())
VERSION = "sim-1"


@dataclass
class SimSettings:
    seed: int = 0
    bias: float = 1.0  # strength of the non-quality reasons to act (0: none)
    observation_rate: float = 0.3  # mean chance that a user engages with a reply
    noise: float = 0.05  # chance of acting on a reply one does not prefer
    negative_rate: float = 0.3  # chance of a thumbs down or regenerate on an engaged, unwanted reply
    sharpness: float = 3.0  # how sharply relevance decides the preference
    users: int = 300


def relevance(prompt: str, reply: str) -> float:
    """Share of the question's content words that the reply uses."""
    asked = {w for w in WORD.findall(prompt.lower()) if w not in STOP}
    if not asked:
        return 0.0
    said = set(WORD.findall(reply.lower()))
    return len(asked & said) / len(asked)


def preference(replies: list[dict], sharpness: float, quality: np.ndarray | None = None) -> np.ndarray:
    """P(r* = 1) per reply: relevance (or the `quality` given), standardised, through a sigmoid."""
    rel = quality if quality is not None else np.array([relevance(r["prompt"], r["response"]) for r in replies])
    z = (rel - rel.mean()) / max(rel.std(), 1e-9)
    return 1 / (1 + np.exp(-sharpness * z))


def simulate(replies: list[dict], s: SimSettings, quality: np.ndarray | None = None) -> tuple[list[dict], np.ndarray]:
    """Events (impressions with the truth, and the actions) and the preference per reply.

    `replies`: conversation_id, message_index, prompt (the user's message before the reply),
    response, position (0 for a conversation's first reply). `quality`: a score per reply to
    use instead of word-overlap relevance (the benchmark passes embedding cosine).
    """
    rng = np.random.default_rng(s.seed)
    p = preference(replies, s.sharpness, quality)
    preferred = rng.random(len(replies)) < p
    # One user per conversation; each user's activity is a log-normal taste for clicking.
    conversations = sorted({r["conversation_id"] for r in replies})
    user_of = dict(zip(conversations, rng.integers(0, s.users, len(conversations))))
    activity = rng.normal(0, 1, s.users)
    code = np.array([has_code(r["response"]) for r in replies], dtype=float)
    position = np.array([min(r["position"], 4) for r in replies], dtype=float)
    users = np.array([user_of[r["conversation_id"]] for r in replies])
    score = 1.5 * code - 0.4 * position + 0.6 * activity[users]
    raw = np.exp(s.bias * (score - score.mean()))
    base = _base_for(raw, s.observation_rate)
    g = np.minimum(base * raw, 0.95)
    engaged = rng.random(len(replies)) < g
    acted = engaged & (preferred | (rng.random(len(replies)) < s.noise))
    negative = engaged & ~preferred & ~acted & (rng.random(len(replies)) < s.negative_rate)

    start = datetime(2026, 1, 1, tzinfo=UTC)
    events = []
    for i, r in enumerate(replies):
        base_event = {"ts": (start + timedelta(seconds=10 * i)).isoformat(), "user_id": f"sim-user-{users[i]}",
                      "conversation_id": r["conversation_id"], "message_index": r["message_index"]}
        truth = {"simulated_preference": round(float(p[i]), 4), "simulated_preferred": bool(preferred[i]),
                 "simulator": VERSION}
        events.append({**base_event, "event_id": f"sim-{s.seed}-{i}-seen", "event": "impression",
                       "payload": truth})
        if acted[i]:
            kind = "copy" if code[i] or rng.random() < 0.3 else ("click", "thumbs_up", "share")[rng.integers(0, 3)]
            events.append({**base_event, "event_id": f"sim-{s.seed}-{i}-act", "event": kind})
        if negative[i]:
            events.append({**base_event, "event_id": f"sim-{s.seed}-{i}-no",
                           "event": "thumbs_down" if rng.random() < 0.5 else "regenerate"})
    return events, p


def _base_for(raw: np.ndarray, rate: float) -> float:
    """The scale whose capped propensities average `rate` (bisection: the cap bends the mean)."""
    lo, hi = 0.0, 0.95 / raw.min()
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.minimum(mid * raw, 0.95).mean() < rate else (lo, mid)
    return (lo + hi) / 2
