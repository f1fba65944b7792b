"""The learned first pass: a small classifier between the cues and the judge.

Most corrections carry no trigger word ("I'm on a windows machine", "It should not be more than
110 characters"), so the cues miss them. The first pass reads the follow-up as a sentence
embedding (all-MiniLM-L6-v2, which mining already loads), a few surface signals (a leading "no",
a question mark, "still", "you didn't", "instead", its length) and how many of its words it shares
with the request and the reply (a restated requirement repeats the request; a pasted output
repeats the reply), and gives each category 1-5 a probability with a multinomial logistic
regression.

It answers only when its top category is not neutral and that probability reaches the category's
threshold for the precision asked of it: the lowest threshold at which, out of fold when it was
trained, its answers of that category were right at least that share of the time (a category
that never got there stays silent). Everything else goes on to the judge, or counts neutral as
before. It never answers neutral: its job is to catch what the cues miss, not to silence the judge.

A model is a small .npz: the weights, the out-of-fold calibration curve (answers and right answers
of each category at each threshold) and what it was trained on. The package ships
one trained on the judge dev set (judges/gold); `rmcurate judge first-pass` trains one for a home
from the dev set, the cue labels and a configured judge's own labels (stages/first_pass.py).
"""
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rmcurate.rules.feedback.labels import NEUTRAL

SHIPPED = Path(__file__).with_name("first_pass.npz")
# Bump when the features change: a model trained on other features is refused, not misread.
FEATURES_VERSION = 1
FEEDBACK_CHARS = 1000  # the embedding model reads 256 tokens; the verdict is nearly always near the start
HEAD_CHARS = 300  # the surface signals look at the opening, as the cues do
THRESHOLDS = (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
SILENT = 1.01  # no threshold reached the precision asked: the category is never answered
MIN_ANSWERS = 5  # out-of-fold answers a threshold needs, so one lucky answer does not open a category

SIGNALS = [re.compile(p, re.I) for p in (
    r"^\W*(no|nope|nah)\b", r"\?", r"\b(error|exception|traceback|failed|failure)\b", r"\bstill\b",
    r"\b(not|\w+n't)\b", r"\bagain\b", r"^\W*(but|however)\b", r"\b(should|instead)\b",
    r"\bi (said|asked|meant|want|wanted|need|needed)\b", r"\byou (didn'?t|did not|forgot|missed|are|keep|were)\b",
    r"\b(wrong|incorrect|mistake)\b", r"\b(thanks?|thank you|great|perfect|awesome|nice|excellent)\b",
    r"\bsame\b", r"\b(only|just)\b", r"^\W*(why|how come)\b", r"\b(doesn'?t|don'?t|isn'?t|won'?t|can'?t)\b",
)]


def signals(feedback: str) -> list[float]:
    head = feedback[:HEAD_CHARS]
    return [1.0 if p.search(head) else 0.0 for p in SIGNALS] + [float(np.log1p(len(feedback)) / 8)]


_WORD = re.compile(r"\w+")


def overlap(feedback: str, prompt: str | None, response: str | None) -> list[float]:
    """Word overlap of the follow-up with the request and with the reply: Jaccard, and the share
    of the follow-up's words found there."""
    f = set(_WORD.findall(feedback[:FEEDBACK_CHARS].lower()))
    out = []
    for other in (prompt or "", response or ""):
        o = set(_WORD.findall(other[:3000].lower()))
        out += [len(f & o) / max(1, len(f | o)), len(f & o) / max(1, len(f))]
    return out


def features(turns: list[dict], embed) -> np.ndarray:
    """One row per turn (feedback, and prompt and response where known): the follow-up's
    embedding, its surface signals, its overlap with the request and the reply."""
    if not turns:
        return np.zeros((0, 0), dtype=np.float32)
    vectors = np.asarray(embed([t["feedback"][:FEEDBACK_CHARS] for t in turns]), dtype=np.float32)
    rest = [signals(t["feedback"]) + overlap(t["feedback"], t.get("prompt"), t.get("response")) for t in turns]
    return np.hstack([vectors, np.array(rest, dtype=np.float32)])


class ModelError(ValueError):
    """A first-pass model file that cannot be used: one line, naming the file."""


@dataclass
class FirstPass:
    coef: np.ndarray  # (5, n_features): categories 1-5 in order
    intercept: np.ndarray  # (5,)
    curve: np.ndarray  # (5, len(THRESHOLDS), 2): out-of-fold answers and right answers per category, threshold
    meta: dict = field(default_factory=dict)  # what it was trained on

    def thresholds(self, precision: float) -> np.ndarray:
        """Per category, the lowest threshold whose out-of-fold answers were right >= `precision`."""
        out = np.full(5, SILENT)
        for c in range(5):
            for i, t in enumerate(THRESHOLDS):
                answered, right = self.curve[c, i]
                if c + 1 != NEUTRAL and answered >= MIN_ANSWERS and right >= precision * answered:
                    out[c] = t
                    break
        return out

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        z = X @ self.coef.T + self.intercept
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def answers(self, X: np.ndarray, precision: float) -> list[tuple[int, float] | None]:
        """(category, probability) where the model answers at this precision, else None."""
        if len(X) == 0:
            return []
        p, thresholds = self.probabilities(X), self.thresholds(precision)
        top, conf = p.argmax(axis=1) + 1, p.max(axis=1)
        return [(int(c), float(q)) if c != NEUTRAL and q >= thresholds[c - 1] else None for c, q in zip(top, conf)]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        with tmp.open("wb") as f:
            np.savez(f, coef=self.coef.astype(np.float32), intercept=self.intercept.astype(np.float32),
                     curve=np.asarray(self.curve, dtype=np.int32), version=np.int32(FEATURES_VERSION),
                     meta=np.array(json.dumps(self.meta)))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "FirstPass":
        try:
            with np.load(path, allow_pickle=False) as z:
                if int(z["version"]) != FEATURES_VERSION:
                    raise ModelError(f"features version {int(z['version'])}, this rmcurate reads "
                                     f"{FEATURES_VERSION}: train it again (rmcurate judge first-pass)")
                if z["curve"].shape != (5, len(THRESHOLDS), 2):
                    raise ModelError(f"calibration curve of shape {z['curve'].shape}, expected "
                                     f"{(5, len(THRESHOLDS), 2)}")
                return cls(z["coef"], z["intercept"], z["curve"], json.loads(str(z["meta"])))
        except (OSError, KeyError, ValueError) as e:
            raise ModelError(f"cannot read first-pass model {path}: {e}") from None


def model_path(home: Path | None) -> Path:
    """The home's own model when `rmcurate judge first-pass` wrote one, else the shipped one."""
    own = home / "models" / "first_pass.npz" if home else None
    return own if own and own.exists() else SHIPPED
