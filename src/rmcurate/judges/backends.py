"""Choosing the judge backend from settings."""
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rmcurate.judges.embedded import SERVED_MODEL, EmbeddedServer
from rmcurate.judges.vllm_http import HttpJudge
from rmcurate.settings import JudgeSettings


def http_judge(urls: list[str], settings: JudgeSettings, model: str | None = None) -> HttpJudge:
    return HttpJudge(urls, model or settings.model, max_in_flight=settings.max_in_flight,
                     timeout_s=settings.timeout_s, retries=settings.retries, api_key=settings.api_key,
                     deadline_s=settings.stage_deadline_s)


class LazyEmbedded:
    """The embedded server, started by the first call that needs it (a vLLM start costs a minute or more
    on 2 cores). The label stage's embedded defaults send no call at all: it then starts none."""

    model = SERVED_MODEL

    def __init__(self, home: Path, settings: JudgeSettings):
        self.home, self.settings = home, settings
        self.server: EmbeddedServer | None = None
        self.http: HttpJudge | None = None
        self.lock = threading.Lock()  # the label stage sends from a second thread too

    def run(self, requests, keys, on_result):
        if not requests:
            return []
        with self.lock:
            if self.http is None:
                self.server = EmbeddedServer(self.home, self.settings).start()
                self.http = http_judge([self.server.url], self.settings, SERVED_MODEL)
        return self.http.run(requests, keys, on_result)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@contextmanager
def judge_backend(home: Path, settings: JudgeSettings | None = None, lazy: bool = False) -> Iterator[HttpJudge]:
    """The configured servers, or the embedded CPU server for as long as the block runs (`lazy`: from
    the first call on, see LazyEmbedded)."""
    settings = settings or JudgeSettings()
    if lazy and not settings.url_list:
        backend = LazyEmbedded(home, settings)
        try:
            yield backend
        finally:
            backend.stop()
        return
    with shared_judge(home, True, settings) as s:
        yield http_judge(s.url_list, s)


@contextmanager
def shared_judge(home: Path, needed: bool, settings: JudgeSettings | None = None) -> Iterator[JudgeSettings]:
    """Judge settings for a flow with several judge stages.

    With no URL configured and work `needed`, one embedded server starts here
    and every stage talks to it: a start costs 40-60 s on 2 cores.
    """
    settings = settings or JudgeSettings()
    if settings.url_list or not needed:
        yield settings
        return
    with EmbeddedServer(home, settings) as server:
        yield settings.model_copy(update={"urls": server.url, "model": SERVED_MODEL})
