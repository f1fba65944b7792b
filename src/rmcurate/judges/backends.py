"""Choosing the judge backend from settings."""
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


@contextmanager
def judge_backend(home: Path, settings: JudgeSettings | None = None) -> Iterator[HttpJudge]:
    """The configured servers, or the embedded CPU server for as long as the block runs."""
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
