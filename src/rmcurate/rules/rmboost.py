"""RMBoost, the parts that need no model: pick the label and aspects, read and check y2.

The preference label is drawn *before* generation, so (chosen, rejected) is
known by construction: y2 is written better or worse than y1 on the drawn
aspects.
"""
import hashlib
import random
import re
from difflib import SequenceMatcher

from rmcurate.rules.feedback.language import detect
from rmcurate.rules.feedback.refusal import looks_like_refusal

ASPECTS = ("helpfulness", "relevance", "completeness", "correctness", "coherence", "honesty", "safety")
BETTER, WORSE = "better", "worse"
_BLOCK = re.compile(r"\s*<response>(.*)</response>\s*", re.S)


def condition(item_id: str, seed: int, k: int = 2, aspects=ASPECTS) -> tuple[str, list[str]]:
    """(better|worse, k aspects) for one seed turn; the same for the same item and seed, in any batch."""
    digest = hashlib.sha256(f"{seed}:{item_id}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    return (BETTER if rng.random() < 0.5 else WORSE), sorted(rng.sample(list(aspects), k))


def parse_response(text: str | None) -> str | None:
    """The text of a reply that is exactly one <response>...</response> block, stripped; else None."""
    m = _BLOCK.fullmatch(text or "")
    if not m or "<response>" in m[1] or "</response>" in m[1] or not m[1].strip():
        return None
    return m[1].strip()


_HEADER = re.compile(r"\[[A-Z][A-Z' _-]{2,}\]")  # [CONVERSATION], [ORIGINAL REPLY], [COMMENT] ...
_LABEL = re.compile(r"^([A-Z][a-z]+( [a-z]+)?):", re.M)  # "Direction:", "Aspects:" at a line start


def template_markers(texts) -> tuple[str, ...]:
    """The delimiters and field labels of a prompt template's messages: text y2 must never echo."""
    found = set()
    for text in texts:
        found.update(_HEADER.findall(text))
        found.update(m[0] + ":" for m in _LABEL.findall(text))
    return tuple(sorted(found))


def leaked(y1: str, y2: str, markers=()) -> str | None:
    """The first piece of prompt scaffolding in y2 that y1 did not already hold, or None."""
    for marker in markers:
        if marker in y2 and marker not in y1:
            return marker
    for header in _HEADER.findall(y2):  # any bracketed all-caps delimiter the model made up
        if header not in y1:
            return header
    return None


def similarity(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def validate(y1: str, y2: str | None, near_identical: float = 0.95, max_length_ratio: float = 3.0,
             markers=()) -> str | None:
    """Why y2 cannot pair with y1, or None when it can. `markers`: the rewrite template's scaffolding."""
    if y2 is None:
        return "empty or unparseable output"
    if marker := leaked(y1, y2, markers):
        return f"template text in output ({marker})"
    if y2.strip() == y1.strip():
        return "identical to y1"
    if similarity(y1[:4000], y2[:4000]) >= near_identical:
        return f"near-identical to y1 (similarity >= {near_identical})"
    ratio = len(y2) / max(1, len(y1))
    if ratio > max_length_ratio or ratio < 1 / max_length_ratio:
        return f"length {ratio:.2f}x y1, outside 1/{max_length_ratio:g}..{max_length_ratio:g}"
    lang1, lang2 = detect(y1), detect(y2)
    if lang1 and lang2 and lang1 != lang2:
        return f"language changed from {lang1} to {lang2}"
    if looks_like_refusal(y2) and not looks_like_refusal(y1):
        return "refusal where y1 answered"
    return None


def pair_id(origin: str, prompt: list, chosen: str, rejected: str) -> str:
    # A message's tool fields count only where it has them: ids of pairs without tools never change.
    key = repr((origin, [(m["role"], m["content"], *((m.get("tool_calls"), m.get("tool_call_id"))
                                                    if m.get("tool_calls") or m.get("tool_call_id") else ()))
                         for m in prompt], chosen, rejected))
    return hashlib.sha256(key.encode()).hexdigest()
