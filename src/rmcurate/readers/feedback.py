"""Named feedback -> our event kinds, for trace exports (OpenTelemetry evaluation events, Langfuse scores).

Products name their feedback freely ("thumbs", "user_feedback", "copied"...). FEEDBACK_NAMES holds the
common names; RMCURATE_SOURCES_FEEDBACK_NAMES replaces it. A name the mapping does not know is the
record's quarantine reason, never a silent drop.
"""
from rmcurate.readers.chunk import BadRecord

# Names feedback goes by -> an event kind; "thumbs" is thumbs_up or thumbs_down by the value or label.
FEEDBACK_NAMES = {"thumbs": "thumbs", "user_feedback": "thumbs", "user-feedback": "thumbs", "feedback": "thumbs",
                  "helpful": "thumbs", "rating": "thumbs", "copy": "copy", "copied": "copy",
                  "regenerate": "regenerate", "retry": "regenerate", "share": "share", "click": "click",
                  "edit": "edit"}
POSITIVE = {"positive", "good", "up", "thumbs_up", "helpful", "yes", "true", "like"}


def lowered(names: dict[str, str] | None) -> dict[str, str]:
    return {k.lower(): v for k, v in (names or FEEDBACK_NAMES).items()}


def feedback_kind(name: str, value, label, names: dict[str, str]) -> str:
    """The event kind of one named feedback with a numeric `value` and/or a text `label`.
    Raises BadRecord when it maps to none. `names` as `lowered` gives it."""
    kind = names.get(name.lower())
    if kind is None:
        raise BadRecord(f"feedback {name!r} is not mapped to an event kind (RMCURATE_SOURCES_FEEDBACK_NAMES)")
    if isinstance(value, bool):
        value = int(value)
    if kind == "thumbs":
        if isinstance(label, str) and label.lower() in POSITIVE:
            return "thumbs_up"
        if isinstance(value, (int, float)):
            return "thumbs_up" if value > 0 else "thumbs_down"
        if isinstance(label, str):
            return "thumbs_down"
        raise BadRecord(f"feedback {name!r} has neither a value nor a label")
    if value is not None and not value:  # a copy scored 0: nothing was copied
        raise BadRecord(f"feedback {name!r} with value {value!r} records no action")
    if isinstance(label, str) and label.lower() in ("false", "no", "0"):
        raise BadRecord(f"feedback {name!r} with label {label!r} records no action")
    return kind
