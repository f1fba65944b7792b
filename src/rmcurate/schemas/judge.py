"""What a stage asks a judge, and what it gets back."""
import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, model_validator


class Sampling(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 16
    seed: int | None = 0
    top_logprobs: int | None = None  # ask for the first token's alternatives (up to 20 on vLLM)


class Structured(BaseModel):
    """At most one constraint on the output: a fixed choice, a regex or a JSON schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    choice: tuple[str, ...] | None = None
    regex: str | None = None
    json_schema: dict | None = None

    @model_validator(mode="after")
    def _one(self):
        if sum(x is not None for x in (self.choice, self.regex, self.json_schema)) > 1:
            raise ValueError("give one of choice, regex or json_schema")
        return self

    def body(self) -> dict | None:
        """vLLM's `structured_outputs` request field."""
        if self.choice is not None:
            return {"choice": list(self.choice)}
        if self.regex is not None:
            return {"regex": self.regex}
        if self.json_schema is not None:
            return {"json": self.json_schema}
        return None


class JudgeRequest(BaseModel):
    """One chat request, rendered from a template (see prompts/templates.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: tuple[tuple[str, str], ...]  # (role, content)
    template: str
    template_version: int
    sampling: Sampling = Sampling()
    structured: Structured = Structured()

    def body(self, model: str) -> dict:
        """The OpenAI-compatible /v1/chat/completions body vLLM accepts."""
        s = self.sampling
        body = {"model": model, "messages": [{"role": r, "content": c} for r, c in self.messages],
                "temperature": s.temperature, "top_p": s.top_p, "max_tokens": s.max_tokens}
        if s.seed is not None:
            body["seed"] = s.seed
        if s.top_logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = s.top_logprobs
        if (so := self.structured.body()) is not None:
            body["structured_outputs"] = so
        return body

    def key(self, model: str) -> str:
        """The cache key: everything that decides the answer, and nothing else."""
        ident = {"template": self.template, "version": self.template_version, **self.body(model)}
        return hashlib.sha256(json.dumps(ident, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass
class JudgeResult:
    """A judge's raw answer. `status` is 'ok', 'failed' (sent again next run) or 'rejected' (a 4xx, or
    failed too many runs running: never sent again); `error` says why."""

    key: str
    status: str
    text: str | None = None
    finish_reason: str | None = None
    top_logprobs: dict[str, float] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    endpoint: str | None = None
    error: str | None = None
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cached: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def choice_probs(self, choices: tuple[str, ...] | list[str]) -> dict[str, float] | None:
        """Probability of each choice from the first token's logprobs, renormalised over the choices.

        Exact when every choice is one token (as "1".."5" are); a choice missing
        from the top logprobs gets 0. None when the answer carries no logprobs.
        """
        if not self.top_logprobs:
            return None
        mass = {c: 0.0 for c in choices}
        for token, lp in self.top_logprobs.items():
            t = token.strip()
            if t in mass:
                mass[t] += math.exp(lp)
        total = sum(mass.values())
        if total == 0:
            return None
        return {c: p / total for c, p in mass.items()}


def body_json(request: JudgeRequest, model: str) -> str:
    return json.dumps(request.body(model), ensure_ascii=False, sort_keys=True)
