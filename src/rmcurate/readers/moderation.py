"""WildChat's per-message moderation -> the moderation columns of `messages`.

The source keeps, per conversation, a list aligned with its messages: OpenAI
moderation ({categories: bools, category_scores: floats, flagged}) and
Detoxify scores. Both readers hand those lists over as Arrow (Parquet as
stored, JSON rows cleaned by `clean_json`), and everything here is
column-wise: a per-message take, then struct fields copied by name.

Scores under the names the contract lists become struct fields; any other
name goes to `other_scores`, so nothing the source said is lost.
"""
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rmcurate.schemas import Message, arrow_schema
from rmcurate.schemas.records import DETOXIFY_HEADS, OPENAI_CATEGORIES

SOURCE_COLUMNS = ("openai_moderation", "detoxify_moderation")
COLUMNS = ("moderation_flagged", "moderation_categories", "moderation_scores", "detoxify_scores", "other_scores")
TYPES = {name: arrow_schema(Message).field(name).type for name in COLUMNS}


# ---------------------------------------------------------------- JSON rows

def _flags(d) -> dict | None:
    return {k: v for k, v in d.items() if isinstance(v, bool)} if isinstance(d, dict) else None


def _scores(d) -> dict | None:
    if not isinstance(d, dict):
        return None
    return {k: float(v) for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def clean_json(value: dict, n_messages: int) -> dict:
    """A JSON row's moderation lists, keeping only values of the right type.

    Arrow infers one struct type from the cleaned dicts of a whole chunk, so
    a stray string score cannot fail the chunk. Moderation is optional
    context: a list that is not aligned with the messages is left out
    rather than costing the conversation.
    """
    openai, detox = value.get("openai_moderation"), value.get("detoxify_moderation")
    out = dict.fromkeys(SOURCE_COLUMNS)
    if isinstance(openai, list) and len(openai) == n_messages:
        out["openai_moderation"] = [
            {"categories": _flags(m.get("categories")), "category_scores": _scores(m.get("category_scores")),
             "flagged": m.get("flagged") if isinstance(m.get("flagged"), bool) else None}
            if isinstance(m, dict) else None for m in openai]
    if isinstance(detox, list) and len(detox) == n_messages:
        out["detoxify_moderation"] = [_scores(m) for m in detox]
    return out


# ---------------------------------------------------------------- columns

def per_message(lists: pa.Array, lengths: np.ndarray) -> pa.Array:
    """One list per conversation -> one item per message, in message order.

    `lengths` are the conversations' message counts; a list that is null or
    of another length gives nulls for that conversation's messages.
    """
    lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    offsets = lists.offsets.to_numpy()
    aligned = (np.diff(offsets) == lengths) & ~lists.is_null().to_numpy(zero_copy_only=False)
    row = np.repeat(np.arange(len(lengths)), lengths)
    pos = np.arange(len(row)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    missing = ~aligned[row]
    index = np.where(missing, 0, offsets[:-1][row] + pos)
    return lists.values.take(pa.array(index, mask=missing))


def _field(struct: pa.Array | None, name: str) -> pa.Array | None:
    """A child, null where the struct is (StructArray.field ignores the parent's nulls)."""
    if not isinstance(struct, pa.StructArray) or struct.type.get_field_index(name) < 0:
        return None
    return pc.struct_field(struct, name)


def _known(struct: pa.Array | None, column: str, n: int) -> pa.Array:
    """The score fields the contract lists for `column`, as doubles; null where the source had none."""
    want = TYPES[column]
    if not isinstance(struct, pa.StructArray):
        return pa.nulls(n, want)
    names = [f.name for f in want]
    fields = [pc.cast(struct.field(name), pa.float64()) if struct.type.get_field_index(name) >= 0
              else pa.nulls(n, pa.float64()) for name in names]
    return pa.StructArray.from_arrays(fields, names=names, mask=struct.is_null())


def _true_names(struct: pa.Array | None, n: int) -> pa.Array:
    """A struct of booleans per message -> the names of the fields that are true."""
    if not isinstance(struct, pa.StructArray):
        return pa.nulls(n, pa.list_(pa.string()))
    names = pa.array([f.name for f in struct.type], pa.string())
    flags = np.zeros((n, len(names)), dtype=bool)
    for i in range(len(names)):
        flags[:, i] = pc.fill_null(pc.cast(struct.field(i), pa.bool_()), False).to_numpy(zero_copy_only=False)
    _, cols = np.nonzero(flags)  # row-major, so names come out message by message
    offsets = np.concatenate([[0], np.cumsum(flags.sum(axis=1))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), names.take(pa.array(cols, pa.int64())),
                                    mask=struct.is_null())


def _others(parts: list[tuple[str, pa.Array | None, tuple[str, ...]]], n: int) -> pa.Array:
    """Score fields outside the contract -> a MAP 'source:name' -> score; null where a message has none."""
    keys, values = [], []
    for prefix, struct, known in parts:
        if isinstance(struct, pa.StructArray):
            for i, f in enumerate(struct.type):
                if f.name not in known:
                    keys.append(f"{prefix}:{f.name}")
                    column = pc.cast(_field(struct, f.name), pa.float64())
                    values.append(column.to_numpy(zero_copy_only=False))  # null -> NaN
    if not keys:
        return pa.nulls(n, TYPES["other_scores"])
    matrix = np.column_stack(values)
    present = ~np.isnan(matrix)
    _, cols = np.nonzero(present)  # row-major: entries come out message by message
    counts = present.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.MapArray.from_arrays(pa.array(offsets), pa.array(keys, pa.string()).take(pa.array(cols, pa.int64())),
                                   pa.array(matrix[present]), mask=pa.array(counts == 0))


def columns(sources: dict[str, pa.Array], lengths: np.ndarray) -> dict[str, pa.Array]:
    """Per-conversation source lists (either may be missing) -> the per-message COLUMNS."""
    n = int(lengths.sum())
    given = {name: per_message(col, lengths) for name, col in sources.items() if pa.types.is_list(col.type)}
    openai, detox = given.get("openai_moderation"), given.get("detoxify_moderation")
    scores = _field(openai, "category_scores")
    flagged = _field(openai, "flagged")
    return {
        "moderation_flagged": pa.nulls(n, pa.bool_()) if flagged is None else pc.cast(flagged, pa.bool_()),
        "moderation_categories": _true_names(_field(openai, "categories"), n),
        "moderation_scores": _known(scores, "moderation_scores", n),
        "detoxify_scores": _known(detox, "detoxify_scores", n),
        "other_scores": _others([("openai", scores, OPENAI_CATEGORIES), ("detoxify", detox, DETOXIFY_HEADS)], n),
    }
