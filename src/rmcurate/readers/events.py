"""Click/copy/thumbs event logs: one JSON object (or Parquet row) per event."""
import json
from datetime import timezone

from pydantic import ValidationError

from rmcurate.readers.chunk import BadRecord
from rmcurate.schemas import SourceEvent

FIELDS = tuple(SourceEvent.model_fields)


def parse_event(value: object) -> dict:
    """One event object -> a SourceEvent row. Raises BadRecord with the reason."""
    if not isinstance(value, dict):
        raise BadRecord(f"not a JSON object but {type(value).__name__}")
    fields = {k: value[k] for k in FIELDS if k in value}
    if value.get("message_id") is not None and "message_ref" not in fields:  # the app's id of the reply
        fields["message_ref"] = str(value["message_id"])
    if isinstance(fields.get("message_index"), bool):  # pydantic would store true as 1
        raise BadRecord(f"bad value for message_index: expected an integer, got {str(fields['message_index']).lower()}")
    for key in ("event_id", "user_id", "conversation_id", "message_ref", "conversation_ref"):
        if isinstance(fields.get(key), int) and not isinstance(fields[key], bool):
            fields[key] = str(fields[key])
    if fields.get("payload") is not None:
        fields["payload"] = json.dumps(fields["payload"], ensure_ascii=False, default=str)
    try:
        event = SourceEvent.model_validate(fields)
    except ValidationError as e:
        raise BadRecord(_reason(e, value)) from None
    row = event.model_dump()
    if row["ts"].tzinfo is None:  # naive times in logs are taken as UTC
        row["ts"] = row["ts"].replace(tzinfo=timezone.utc)
    return row


def _reason(err: ValidationError, value: dict) -> str:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    if first["type"] == "missing":
        return f"missing field: {field}"
    if field == "ts":
        return f"unparseable timestamp: {value.get('ts')!r}"
    if field == "event":
        return f"unknown event kind {value.get('event')!r}"
    return f"bad value for {field}: {first['msg']}"
