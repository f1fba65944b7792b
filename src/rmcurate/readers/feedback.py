"""Named feedback -> our event kinds: trace exports (OpenTelemetry evaluation events, Langfuse and
LangSmith scores, Phoenix annotations) and analytics events (Segment, Amplitude, PostHog, click logs).

Products name their feedback freely ("thumbs", "user_feedback", "Message Copied"...). FEEDBACK_NAMES holds
common names; RMCURATE_SOURCES_FEEDBACK_NAMES adds to it or overrides it. Names are compared in lower
case with spaces and hyphens read as underscores. A name the mapping does not know is the record's
quarantine reason, never a silent drop.

What a kind makes of the value:
- `thumbs`: up when the label says positive or the value is above 0, else down (a -1/1 or 0/1 score).
- `rating`: a 1-5 rating (stars, a survey): 4 and 5 are thumbs up, 1 and 2 thumbs down; 3 says neither
  way and is quarantined as neutral; a value outside 1-5 is quarantined.
- `thumbs_up`, `thumbs_down`, `copy`, `click`, `regenerate`, `share`, `edit`: that event; a value of 0
  or a label "false" records no action.
"""
from rmcurate.readers.chunk import BadRecord

# Names feedback goes by -> an event kind; "thumbs" is thumbs_up or thumbs_down by the value or label.
FEEDBACK_NAMES = {"thumbs": "thumbs", "user_feedback": "thumbs", "user-feedback": "thumbs", "feedback": "thumbs",
                  "helpful": "thumbs", "vote": "thumbs", "rating": "rating", "stars": "rating",
                  "star_rating": "rating", "csat": "rating", "survey_sent": "rating",
                  "thumbs_up": "thumbs_up", "like": "thumbs_up", "upvote": "thumbs_up",
                  "thumbs_down": "thumbs_down", "dislike": "thumbs_down", "downvote": "thumbs_down",
                  "copy": "copy", "copied": "copy", "message_copied": "copy", "copy_message": "copy",
                  "response_copied": "copy", "copy_response": "copy", "code_copied": "copy",
                  "regenerate": "regenerate", "retry": "regenerate", "regenerated": "regenerate",
                  "regenerate_response": "regenerate", "response_regenerated": "regenerate",
                  "share": "share", "shared": "share", "share_conversation": "share",
                  "click": "click", "link_clicked": "click", "citation_clicked": "click", "source_clicked": "click",
                  "edit": "edit", "edited": "edit", "message_edited": "edit"}
KINDS = {"thumbs", "rating", "thumbs_up", "thumbs_down", "copy", "click", "regenerate", "share", "edit"}
POSITIVE = {"positive", "good", "up", "thumbs_up", "helpful", "yes", "true", "like"}


def normal(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def lowered(names: dict[str, str] | None) -> dict[str, str]:
    return {normal(k): v for k, v in (names or FEEDBACK_NAMES).items()}


def feedback_kind(name: str, value, label, names: dict[str, str]) -> str:
    """The event kind of one named feedback with a numeric `value` and/or a text `label`.
    Raises BadRecord when it maps to none. `names` as `lowered` gives it."""
    kind = names.get(normal(name))
    if kind is None:
        raise BadRecord(f"feedback {name!r} is not mapped to an event kind (RMCURATE_SOURCES_FEEDBACK_NAMES)")
    if kind not in KINDS:
        raise BadRecord(f"feedback {name!r} maps to {kind!r}, not one of {', '.join(sorted(KINDS))}")
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            value, label = None, label if label is not None else value
    if kind == "rating":
        if not isinstance(value, (int, float)):
            raise BadRecord(f"feedback {name!r}: a rating without a number")
        if not 1 <= value <= 5:
            raise BadRecord(f"feedback {name!r}: rating {value!r} is outside 1-5")
        if 2 < value < 4:
            raise BadRecord(f"feedback {name!r}: rating {value!r} is neutral (neither up nor down)")
        return "thumbs_up" if value >= 4 else "thumbs_down"
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
