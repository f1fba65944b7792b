"""Contracts of LLM judge calls: the cache table users can query."""
from datetime import datetime

from pydantic import Field

from rmcurate.schemas.records import _Record


class JudgeCall(_Record):
    """Table `judge_calls`: one row per distinct request ever sent to a judge.

    The key hashes everything that decides the answer, so an equal request is
    answered from here. The raw text is kept and parsed later by the stage that
    asked: a parser fix never re-asks the model.
    """

    key: str = Field(description="sha256 of model, template name@version, messages, sampling, structured output")
    model: str
    template: str = Field(description="template name, e.g. feedback_choice")
    template_version: int
    request: str = Field(description="the request body as JSON, for audit and replay")
    status: str = Field(description="ok | failed (sent again next run) | rejected (never sent again: a 4xx "
                                    "answer, or failed too many runs running)")
    text: str | None = Field(None, description="raw response text")
    finish_reason: str | None = None
    top_logprobs: dict[str, float] | None = Field(None, description="first generated token: token -> logprob")
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = Field(None, description="seconds of the last attempt")
    endpoint: str | None = Field(None, description="base URL (or 'offline') that answered or failed last")
    error: str | None = None
    attempts: int
    hits: int = Field(0, description="times answered from this row instead of the model")
    started_at: datetime
    finished_at: datetime
    run_id: str | None = Field(None, description="the run that last sent this request (none: outside a run)")
    failures: int | None = Field(None, description="failed sends in a row, over runs; null once answered")
