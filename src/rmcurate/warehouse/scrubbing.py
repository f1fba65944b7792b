"""Scrubbing at ingest (RMCURATE_SOURCES_SCRUB_AT_INGEST): the warehouse then holds no raw secret or
personal datum at all, as teams ask of trace stores. The same rules as exports (rules/pii.py),
applied to every free text a chunk would store: message contents, event payloads and quarantined
records. Ids, roles and timestamps are left as they are (user ids are pseudonymised in exports).
The cost: what is scrubbed here is gone, so a rule improved later cannot give it back."""
import json

import pyarrow as pa

from rmcurate.readers import Chunk, Quarantined
from rmcurate.rules.pii import scrub, scrub_value


def scrub_chunk(chunk: Chunk) -> Chunk:
    if chunk.messages is not None and chunk.messages.num_rows:
        chunk.messages = replaced(chunk.messages, "content", scrub)
    for name in ("events", "pending_events"):
        table = getattr(chunk, name)
        if table is not None and table.num_rows and "payload" in table.column_names:
            setattr(chunk, name, replaced(table, "payload", scrub_json))
    chunk.quarantined = [Quarantined(q.location, q.reason, scrub(q.raw) if q.raw else q.raw)
                         for q in chunk.quarantined]
    return chunk


def replaced(table: pa.Table, column: str, fn) -> pa.Table:
    i = table.column_names.index(column)
    values = [None if v is None else fn(v) for v in table.column(i).to_pylist()]
    return table.set_column(i, table.field(i), pa.array(values, table.field(i).type))


def scrub_json(text: str) -> str:
    """JSON text scrubbed value by value, so it stays JSON; text that is not JSON, as text."""
    try:
        return json.dumps(scrub_value(json.loads(text)), ensure_ascii=False)
    except ValueError:
        return scrub(text)
