"""Where every setting of the nightly is read from, for `--help` and the README: RMCURATE_* variables."""
from pydantic_settings import BaseSettings, SettingsConfigDict


class FlowSettings(BaseSettings):
    """How the nightly's tasks meet trouble (RMCURATE_FLOW_*)."""

    model_config = SettingsConfigDict(env_prefix="RMCURATE_FLOW_")

    # A task that fails for a reason that passes (another process writing the warehouse, the judge
    # server unreachable) runs again after retry_delay_s, then twice that, and so on.
    retries: int = 3
    retry_delay_s: float = 10.0
    # The label and pairs stages stop waiting on the judge at the judge's stage_deadline_s and keep
    # what they have; this hard limit is for a stage stuck anywhere else. 0: none.
    llm_stage_timeout_s: float = 2 * 3600.0
    # Scale-out (flows/scaleout.py): file parsing and the label stage's language and rule filters run
    # as tasks on a Dask cluster. workers > 0 starts a local one on loopback; dask_address joins one
    # (tcp://host:8786). The flow's process stays the only writer.
    workers: int = 0
    dask_address: str = ""
    partition_rows: int = 1000  # turns per screening task


def settings_help() -> str:
    """Every setting the nightly reads, as `RMCURATE_..=default`, grouped by stage: the epilog of `run --help`."""
    from flows.label import LabelSettings
    from flows.pairs import PairSettings
    from flows.train import TrainSettings
    from judges.settings import JudgeSettings

    groups = []
    for title, cls in (("judge", JudgeSettings), ("label", LabelSettings), ("pairs", PairSettings),
                       ("train", TrainSettings), ("flow", FlowSettings)):
        prefix = cls.model_config.get("env_prefix", "")
        items = ", ".join(f"{(prefix + name).upper()}={_short(field.default)}" for name, field in cls.model_fields.items())
        groups.append(f"{title}: {items}")
    return "Settings, from the environment (name=default):\n\n" + "\n\n".join(groups)


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
