"""Progress of a long stage: how far, how fast, how long still. A line every `every_s` seconds
(Prefect prints it in the terminal and keeps it in the run's logs in the UI), and a Prefect
progress artifact (the UI's progress bar) when the stage runs inside a flow."""
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def run_logger() -> Callable[[str], None] | None:
    from prefect.context import get_run_context
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        get_run_context()
    except MissingContextError:
        return None
    return get_run_logger().info


class StageProgress:
    """Count `advance(n)` units of work out of `total`, and judge calls as they return (`answered`)."""

    def __init__(self, stage: str, unit: str, total: int, every_s: float = 15.0,
                 log: Callable[[str], None] | None = None):
        self.stage, self.unit, self.total, self.every_s = stage, unit, total, every_s
        self.done = self.calls = self.failed = 0
        self.reported = False
        self.started = self.last = time.monotonic()
        in_flow = run_logger()
        self.log = log or in_flow or (lambda line: print(line, file=sys.stderr, flush=True))
        self.artifact = None
        if in_flow and total:
            from prefect.artifacts import create_progress_artifact

            self.artifact = create_progress_artifact(0.0, key=f"{stage.replace('_', '-')}-progress",
                                                     description=f"{stage}: share of {unit} done")

    def answered(self, result=None) -> None:
        self.calls += 1
        self.failed += result is not None and not result.ok
        self._report()

    def advance(self, n: int) -> None:
        self.done += n
        self._report()

    def finish(self) -> None:
        self._report(force=True)

    @contextmanager
    def watching(self, *judges) -> Iterator["StageProgress"]:
        """Count every call these judges return while the stage runs; report the last line at the end."""
        for judge in judges:
            judge.on_answer = self.answered
        try:
            yield self
        finally:
            for judge in judges:
                judge.on_answer = None
        self.finish()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        share = self.done / self.total if self.total else 1.0
        text = (f"{self.stage}: {self.done:,} of {self.total:,} {self.unit} ({share:.0%}), "
                f"{self.calls:,} judge calls returned ({self.failed:,} failed, {self.calls / elapsed:.1f}/s), "
                f"{self.done / elapsed:,.1f} {self.unit}/s")
        if 0 < share < 1:
            text += f", about {elapsed * (1 - share) / share:.0f} s left"
        return text

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        first = self.done and not self.reported  # the first batch done: a rate to plan by, at once
        if not force and not first and now - self.last < self.every_s:
            return
        if force and self.reported == (self.done, self.calls):
            return  # the closing line would repeat the last one
        self.reported = (self.done, self.calls)
        self.last = now
        self.log(self.line())
        if self.artifact is not None:
            from prefect.artifacts import update_progress_artifact

            update_progress_artifact(self.artifact, progress=100.0 * self.done / self.total)
