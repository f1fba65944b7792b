"""Load one input file into the warehouse, all of it or none of it.

A file's ingest row is written first with status 'running'; chunks then
commit in groups of about COMMIT_ROWS rows (one huge transaction would hold
the whole file in memory), and the last step flips the status to 'loaded'.
If the process dies in between, `recover` (run by every `connect`) deletes
the rows of that ingest, so readers see either all of a file or none of it.

A file whose content hash was ingested before is skipped; a conversation
or event id already stored counts as a duplicate. A file none of whose records
loaded (all quarantined, say under a wrong --format) ends 'quarantined', not
'loaded': read again as another format, or with force=True, it replaces what the
earlier ingest wrote, in one transaction, so a failure leaves the earlier rows.
"""
import hashlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from rmcurate.readers import Chunk, Format, FormatError, detect
from rmcurate.readers.calls import overlap
from rmcurate.readers.read import read
from rmcurate.settings import SourceSettings
from rmcurate.warehouse.attach import attach, attach_waiting, expire_waiting
from rmcurate.warehouse.db import memory_limit, scalar
from rmcurate.warehouse.ddl import columns
from rmcurate.warehouse.recovery import delete_rows, recover
from rmcurate.warehouse.replies import index_replies, reindex
from rmcurate.warehouse.scrubbing import scrub_chunk


@dataclass
class IngestResult:
    path: str
    format: str
    ingest_id: int | None = None
    n_read: int = 0
    n_loaded: int = 0
    n_duplicate: int = 0
    n_quarantined: int = 0
    status: str = "loaded"  # loaded | empty | quarantined | skipped | rejected | unreadable
    skipped_as: int | None = None  # the earlier ingest of the same content
    replaced: list[int] | None = None  # earlier ingests of the same content this one replaced
    note: str | None = None  # why a file was skipped, when it is worth saying
    reason: str | None = None  # why a file was rejected or could not be read


def content_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _insert(con, table: str, row: dict) -> None:
    con.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def _new_ingest(con, path: Path, digest: str, format: str, status: str) -> int:
    """Allocate an ingest id and write its row with zero counts; a finished status also stamps finished_at."""
    ingest_id = scalar(con, "SELECT nextval('ingest_ids')")
    now = datetime.now(timezone.utc)
    _insert(con, "ingests", dict(
        ingest_id=ingest_id, path=str(path.resolve()), size=path.stat().st_size, content_hash=digest,
        format=format, n_read=0, n_loaded=0, n_duplicate=0, n_quarantined=0, started_at=now,
        finished_at=None if status == "running" else now, status=status))
    return ingest_id


def _load_conversations(con, chunk: Chunk, ingest_id: int, source_file: str) -> int:
    """Insert the chunk's new conversations and their messages; returns how many."""
    con.register("chunk_conversations", chunk.conversations)
    con.register("chunk_messages", chunk.messages)
    # First copy of each id in the chunk, if the warehouse does not have it yet.
    con.execute("""
        CREATE OR REPLACE TEMP TABLE new_ids AS
        SELECT conversation_id, min(source_row) AS source_row
        FROM chunk_conversations c
        WHERE NOT EXISTS (SELECT 1 FROM conversations x WHERE x.conversation_id = c.conversation_id)
        GROUP BY conversation_id""")
    given = ", ".join(f'"{c}"' for c in chunk.conversations.column_names)
    con.execute(f"""
        INSERT INTO conversations ({given}, source_file, ingest_id)
        SELECT c.*, ?, ? FROM chunk_conversations c SEMI JOIN new_ids n USING (conversation_id, source_row)""",
                [source_file, ingest_id])
    given = [c for c in columns("messages") if c in chunk.messages.column_names]  # a reader may leave some out
    con.execute(f"""
        INSERT INTO messages ({", ".join(f'"{c}"' for c in given)})
        SELECT {", ".join(f'm."{c}"' for c in given)}
        FROM chunk_messages m SEMI JOIN new_ids n USING (conversation_id, source_row)""")
    index_replies(con, """(SELECT m.conversation_id, m.message_index, m.role, m.content
                           FROM chunk_messages m SEMI JOIN new_ids n USING (conversation_id, source_row))""")
    loaded = scalar(con, "SELECT count(*) FROM new_ids")
    con.unregister("chunk_conversations")
    con.unregister("chunk_messages")
    return loaded


def _extend_conversations(con, chunk: Chunk, ingest_id: int) -> int:
    """For sources whose conversations grow over files (a Langfuse session over API pages or nights):
    a conversation already stored gets the messages this chunk adds after what it holds, under the
    next indexes, so labels and events on the earlier messages stay where they are. The label stage
    reads it again (label_backlog). Those conversations leave the chunk; returns how many grew."""
    ids = chunk.conversations.column("conversation_id").to_pylist()
    known = {r[0] for r in con.execute("SELECT conversation_id FROM conversations WHERE list_contains(?, conversation_id)",
                                       [ids]).fetchall()}
    if not known:
        return 0
    grown = []
    rows = [m for m in chunk.messages.to_pylist() if m["conversation_id"] in known]
    for cid in sorted(known):
        new = sorted((m for m in rows if m["conversation_id"] == cid), key=lambda m: m["message_index"])
        stored = [tuple(r) for r in con.execute("SELECT role, content FROM messages WHERE conversation_id = ? "
                                                "ORDER BY message_index", [cid]).fetchall()]
        pairs = [(m["role"], m["content"]) for m in new]
        if stored[:len(pairs)] == pairs:
            continue  # nothing this conversation lacks (an older page, or the same one)
        tail = new[overlap(stored, pairs):]
        given = [c for c in columns("messages") if c in chunk.messages.column_names]
        con.executemany(f"INSERT INTO messages ({', '.join(given)}) VALUES ({', '.join('?' * len(given))})",
                        [[len(stored) + j if c == "message_index" else m[c] for c in given]
                         for j, m in enumerate(tail)])
        con.execute("UPDATE conversations SET n_messages = ? WHERE conversation_id = ?", [len(stored) + len(tail), cid])
        con.execute("""INSERT INTO label_backlog SELECT w.pipeline_version, ?, ? FROM label_watermarks w
                       WHERE NOT EXISTS (SELECT 1 FROM label_backlog b WHERE b.pipeline_version = w.pipeline_version
                                                                        AND b.conversation_id = ?)""",
                    [cid, f"ingest {ingest_id}", cid])
        grown.append(cid)
    if grown:
        reindex(con, "SELECT unnest(?::VARCHAR[])", [grown])
    keep = pc.invert(pc.is_in(chunk.conversations.column("conversation_id"), pa.array(sorted(known))))
    chunk.conversations = chunk.conversations.filter(keep)
    chunk.messages = chunk.messages.filter(
        pc.invert(pc.is_in(chunk.messages.column("conversation_id"), pa.array(sorted(known)))))
    return len(grown)


def _load_events(con, chunk: Chunk, ingest_id: int) -> tuple[int, int]:
    """Our event log's rows (events) and the feedback that names its reply by other ids (pending_events),
    attached by warehouse/attach.py. Returns (loaded, unattached); the unattached join the quarantine."""
    loaded = lost = 0
    for table in (chunk.events, chunk.pending_events):
        if table is None or not table.num_rows:
            continue
        if table is chunk.events:  # our log names our conversation id, or the app's, and maybe a message id
            table = table.rename_columns(["conversation_ref" if c == "conversation_id" else c
                                          for c in table.column_names])
            table = table.append_column("trace_ref", pa.nulls(table.num_rows, pa.string()))
        table = table.append_column("pos", pa.array(range(table.num_rows), pa.int64()))
        con.register("chunk_events", table)
        n, unattached = attach(con, "chunk_events", ingest_id)
        con.unregister("chunk_events")
        chunk.quarantined += unattached
        loaded, lost = loaded + n, lost + len(unattached)
    return loaded, lost


def _quarantine(con, chunk: Chunk, ingest_id: int, source_file: str) -> None:
    """One INSERT from an Arrow table: row by row, 2,000 quarantine rows took a second."""
    if chunk.quarantined:
        bad = pa.table({"location": [q.location for q in chunk.quarantined],
                        "reason": [q.reason for q in chunk.quarantined],
                        "raw": pa.array([q.raw for q in chunk.quarantined], pa.string())})
        con.register("chunk_quarantine", bad)
        con.execute("""INSERT INTO quarantine (ingest_id, source_file, location, reason, raw)
                       SELECT ?, ?, location, reason, raw FROM chunk_quarantine""", [ingest_id, source_file])
        con.unregister("chunk_quarantine")


# Messages (or events) per commit. DuckDB writes a transaction's full row groups (122,880 rows)
# straight to the database file and sends only the rest through the WAL, which the final
# checkpoint writes again. A 20k-conversation chunk's ~100k messages fill less than one row group,
# so committing each chunk sent everything through the WAL: 19.7 s for 400k conversations against
# 10.8 s in one transaction, whose peak RSS grew with the file (2.8 GiB). Four row groups a commit
# gave 10.5 s at 1.5 GiB; two gave 14.7 s, six no faster and more memory.
COMMIT_ROWS = 4 * 122_880


def _read_ahead(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """Yield chunks while a thread parses the next one.

    Parsing (pyarrow, polars) and DuckDB's insert both release the GIL, so
    the reader's time hides behind the insert; only one chunk waits.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="rmcurate-read") as pool:
        pending = pool.submit(next, chunks, None)
        while (chunk := pending.result()) is not None:
            pending = pool.submit(next, chunks, None)
            yield chunk


def _forget(con, ingest_ids: list[int]) -> None:
    """Delete what these ingests wrote and mark them 'replaced' (inside the caller's transaction)."""
    for ingest_id in ingest_ids:
        delete_rows(con, ingest_id)
        con.execute("UPDATE ingests SET status = 'replaced' WHERE ingest_id = ?", [ingest_id])


def _earlier(con, digest: str) -> list[tuple[int, str, str]]:
    """Earlier ingests of this content that still stand: (ingest_id, status, format)."""
    return con.execute("""SELECT ingest_id, status, format FROM ingests WHERE content_hash = ?
                          AND status IN ('loaded', 'empty', 'quarantined') ORDER BY ingest_id""",
                       [digest]).fetchall()


def _same(earlier: list[tuple[int, str, str]], fmt: Format) -> list[tuple[int, str, str]]:
    """Those that make this file a skip: all of them, but a fully quarantined one only under the same format."""
    return [(i, status, f) for i, status, f in earlier if status != "quarantined" or f == fmt.name]


def needs_reading(con, path: Path, fmt: Format, force: bool = False) -> bool:
    """Whether `ingest_file` would read this file rather than skip it (so it is worth parsing ahead)."""
    return force or not _same(_earlier(con, content_hash(path)), fmt)


def ingest_file(con, path: Path, fmt: Format, *, batch_size: int = 20_000,
                on_chunk: Callable[[Chunk], None] | None = None, force: bool = False,
                chunks: Iterable[Chunk] | None = None) -> IngestResult:
    """`chunks`: the file already parsed (on a worker, flows/scaleout.py); by default it is read here."""
    source_file = str(path.resolve())
    digest = content_hash(path)
    result = IngestResult(path=source_file, format=fmt.name)
    earlier = _earlier(con, digest)
    # Seen before: skipped, unless forced, or unless all of it was quarantined when read as another format.
    same = _same(earlier, fmt)
    if same and not force:
        result.status, result.skipped_as = "skipped", same[0][0]
        if same[0][1] == "quarantined":
            result.note = (f"every record was quarantined when read as {same[0][2]}: check --format, "
                           "or --force to read it again")
        return result
    replaced = [i for i, _, _ in earlier]
    result.replaced = replaced or None
    # Replacing rows: all of it in one transaction or none. Otherwise a commit every COMMIT_ROWS rows.
    single = bool(replaced)
    uncommitted = None  # rows written since the last commit; None: no transaction open
    result.ingest_id = _new_ingest(con, path, digest, fmt.name, "running")
    con.execute(f"SET memory_limit = '{memory_limit(ingest=True)}'")
    try:
        if single:
            con.begin()
            _forget(con, replaced)
        sources = SourceSettings()
        source = read(path, fmt, batch_size, feedback_names=sources.feedback_map)
        for chunk in _read_ahead(source) if chunks is None else chunks:
            if sources.scrub_at_ingest:
                chunk = scrub_chunk(chunk)
            if not single and uncommitted is None:
                con.begin()
                uncommitted = 0
            loaded = 0  # a chunk may hold only quarantine rows (an unreadable stretch of a file)
            if chunk.conversations is not None and chunk.grows:
                loaded += _extend_conversations(con, chunk, result.ingest_id)
            if chunk.conversations is not None:
                loaded += _load_conversations(con, chunk, result.ingest_id, source_file)
            n_read, unattached = chunk.n_read, 0
            if chunk.events is not None or chunk.pending_events is not None:  # after the conversations they name
                attached, unattached = _load_events(con, chunk, result.ingest_id)
                loaded += attached
            _quarantine(con, chunk, result.ingest_id, source_file)
            if not single:
                written = [t.num_rows for t in (chunk.messages, chunk.events) if t is not None]
                uncommitted += max([chunk.n_read, *written])
                if uncommitted >= COMMIT_ROWS:
                    con.commit()
                    uncommitted = None
            result.n_read += n_read
            result.n_loaded += loaded
            result.n_duplicate += chunk.n_good - loaded - unattached
            result.n_quarantined += len(chunk.quarantined)
            if on_chunk:
                on_chunk(chunk)
        if not single and uncommitted is None:
            con.begin()
        attach_waiting(con, result.ingest_id)  # events that arrived before their conversation find it
        expire_waiting(con, sources.unattached_days)
        nothing_good = result.n_loaded == 0 and result.n_duplicate == 0 and result.n_quarantined > 0
        result.status = "empty" if result.n_read == 0 else "quarantined" if nothing_good else "loaded"
        if nothing_good:  # never "loaded" and forgotten: the command fails, and says why
            (first,) = con.execute("SELECT reason FROM quarantine WHERE ingest_id = ? ORDER BY rowid LIMIT 1",
                                   [result.ingest_id]).fetchone()
            result.reason = (f"{path}: nothing loaded as {fmt.name}: {result.n_quarantined} records quarantined "
                             f"(the first: {first})")
        con.execute("""
            UPDATE ingests SET n_read = ?, n_loaded = ?, n_duplicate = ?, n_quarantined = ?, finished_at = ?,
                               status = ?
            WHERE ingest_id = ?""", [result.n_read, result.n_loaded, result.n_duplicate, result.n_quarantined,
                                     datetime.now(timezone.utc), result.status, result.ingest_id])
        con.commit()
        con.execute("CHECKPOINT")
    except BaseException:
        try:
            con.rollback()
        except duckdb.TransactionException:
            pass  # failed between chunks, nothing open
        recover(con)
        raise
    finally:
        con.execute(f"SET memory_limit = '{memory_limit()}'")
    return result


def ingest_path(con, path: Path, kind: str | None = None, **options) -> IngestResult:
    """Detect and load one file; a file that cannot be read ends as a result, never an exception.

    A file no reader can make sense of is `rejected` (an ingest row and a quarantine row with the
    reason; tried again next time, in case it changes); one that cannot even be opened is
    `unreadable` and recorded nowhere, so it loads once its permissions are fixed. Errors of the
    warehouse itself (DuckDB) still raise: they are not the file's fault, except running out of the
    ingest's memory, which a file with one huge record does (it is rejected, and tried again next time).
    """
    try:
        return ingest_file(con, path, detect(path, kind), **options)
    except duckdb.OutOfMemoryException as e:
        reason = (f"{path}: a chunk of this file needs more memory than an ingest may use "
                  f"(RMCURATE_INGEST_MEMORY_LIMIT={memory_limit(ingest=True)}): {str(e).splitlines()[0]}")
        result = reject_file(con, path, reason)
        result.reason = reason
        return result
    except duckdb.Error:
        raise
    except OSError as e:
        return IngestResult(path=str(path), format="unknown", status="unreadable",
                            reason=f"cannot read {path}: {e.strerror or e}")
    except Exception as e:  # noqa: BLE001 - any reader failure is this file's problem alone
        reason = str(e) if isinstance(e, FormatError) else f"{path}: {type(e).__name__}: {str(e).splitlines()[0]}"
        try:
            result = reject_file(con, path, reason)
        except OSError as gone:
            return IngestResult(path=str(path), format="unknown", status="unreadable",
                                reason=f"cannot read {path}: {gone.strerror or gone}")
        result.reason = reason
        return result


def reject_file(con, path: Path, reason: str) -> IngestResult:
    """Record a file that could not be read at all (unknown format), once per content."""
    digest = content_hash(path)
    result = IngestResult(path=str(path.resolve()), format="unknown", status="rejected")
    if scalar(con, "SELECT count(*) FROM ingests WHERE content_hash = ? AND status = 'rejected'", [digest]):
        return result
    con.begin()
    result.ingest_id = _new_ingest(con, path, digest, "unknown", "rejected")
    _insert(con, "quarantine", dict(ingest_id=result.ingest_id, source_file=result.path, location="whole file",
                                    reason=reason, raw=None))
    con.commit()
    return result
