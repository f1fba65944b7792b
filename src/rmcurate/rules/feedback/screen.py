"""The label stage's cheap per-turn steps: language, then the rule filters, in order.

Pure and per turn, so a partition of turns can be screened anywhere (a Dask
worker included) and the answers applied by the one process that writes.
"""
from collections.abc import Callable
from typing import NamedTuple

from rmcurate.rules.feedback import language, rules

# Each check reads a turn and the label settings (any object with these attributes).
FILTERS: list[tuple[str, Callable[[dict, object], str | None]]] = [
    ("conversation length", lambda t, s: rules.short_conversation(t["n_messages"], s.min_messages)),
    ("history length", lambda t, s: rules.long_history(t["n_history"], s.max_history)),
    ("reply length", lambda t, s: rules.short_reply(t["response"], s.min_reply_words)),
    ("feedback length", lambda t, s: rules.short_feedback(t["feedback"], s.min_feedback_words)),
    ("token budget", lambda t, s: rules.over_budget(t["history_words"], t["response"], s.max_words)),
    ("PII", lambda t, s: rules.pii(t["feedback"])),
    ("topic", lambda t, s: rules.topic(t["feedback"])),
]
STEPS = ["language", *[name for name, _ in FILTERS]]


class Screened(NamedTuple):
    lang: str | None
    step: str | None = None  # the step that dropped the turn; None: it goes on to the judge steps
    reason: str | None = None


def screen_turn(t: dict, settings, keep_languages: set[str]) -> Screened:
    lang = language.from_source(t["language"]) or language.detect_turn(t["prompt"], t["feedback"])
    if lang not in keep_languages:
        return Screened(lang, "language", f"language {lang or 'unknown'} not kept")
    for step, check in FILTERS:
        if reason := check(t, settings):
            return Screened(lang, step, reason)
    return Screened(lang)


def screen(turns: list[dict], settings) -> list[Screened]:
    """One answer per turn, in order."""
    keep = {x.strip() for x in settings.languages.split(",") if x.strip()}
    return [screen_turn(t, settings, keep) for t in turns]
