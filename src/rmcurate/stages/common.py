"""What the judge stages (label, pairs) share: how they fail, and what they report of their calls."""
from rmcurate.judges.cache import CachedJudge

# With the embedded 135M judge on 2 CPU cores, each text shown to it is cut to this: short texts keep
# `make run` in minutes.
EMBEDDED_FIELD_MAX_CHARS = 500


class StageFailed(RuntimeError):
    """A judge stage finished, wrote what it could, and failed too many calls; `result` is its summary."""

    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result


def call_summary(judge: CachedJudge) -> dict:
    c = judge.counts
    return {"requests": c.requests, "cached": c.cached, "sent": c.sent, "failed": c.failed,
            "errors": dict(c.errors.most_common(5))}
