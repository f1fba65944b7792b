"""Values as CSV and JSON readers expect them: `true`/`false`, ISO 8601 times, nested values as
JSON, and null (an empty CSV cell) where a float is NaN or infinite: bare NaN is not JSON."""
import base64
import json
import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from uuid import UUID


def plain(v):
    """A DuckDB or Python value as plain JSON data."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (datetime, date, time)):
        return v.isoformat()
    if isinstance(v, timedelta):
        return v.total_seconds()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, UUID):
        return str(v)
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(v).decode()
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def csv_cell(v):
    v = plain(v)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return v


def dumps(value, **kw) -> str:
    """JSON with no NaN in it: `sql --format json` and the trainer's `metrics.json` (a single-class test split
    has no AUC, a constant prediction no correlation)."""
    return json.dumps(plain(value), allow_nan=False, ensure_ascii=False, **kw)


def number(v) -> str:
    """A figure in a table: 3 decimals for a float, "-" where there is none (None or NaN)."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.3f}" if isinstance(v, float) else str(v)
