"""Snapshots share what did not change: a night with a little new data writes a little."""
import json

from rmcurate.readers import detect
from rmcurate.warehouse import connect, ingest_file
from rmcurate.warehouse.exports.rows import open_snapshot
from rmcurate.warehouse.snapshot import write_snapshot

from conftest import rows, write_json

REPLY = "Here is a complete answer with more than ten words in it, as the filter requires."


def convs(prefix: str, n: int) -> list[dict]:
    return [{"id": f"{prefix}{i}", "conversations": [
        {"from": "human", "value": f"How do I sort list number {i} in Python?"}, {"from": "gpt", "value": REPLY},
        {"from": "human", "value": f"thanks, that works ({prefix}{i})"}, {"from": "gpt", "value": "Glad to help."}]}
        for i in range(n)]


def parts(snapshot, table: str) -> dict[str, int]:
    """part file -> inode."""
    return {p.name: p.stat().st_ino for p in (snapshot / table).glob("part-*.parquet")}


def test_unchanged_partitions_are_linked_and_changed_ones_rewritten(home, tmp_path):
    con = connect(home)
    for name, n in (("big", 2000), ("small", 2)):
        path = write_json(tmp_path / f"{name}.json", convs(name, n))
        ingest_file(con, path, detect(path))
        if name == "big":
            first = write_snapshot(con, home, "20260101T000000Z")
    second = write_snapshot(con, home, "20260102T000000Z")
    m1, m2 = (json.loads((s / "manifest.json").read_text()) for s in (first, second))
    for table in ("conversations", "messages", "replies"):
        old, new = parts(first, table), parts(second, table)
        assert len(old) == 1 and len(new) == 2, table
        (shared,) = old
        assert new[shared] == old[shared], table  # the same file on disk: a hard link
    assert m2["bytes_written"] < m1["bytes_written"] / 4 and m2["bytes_shared"] > 0
    assert m2["rows"]["conversations"] == 2002 and m2["rows"]["replies"] == 4004
    # the views are defined over the snapshot's tables when it is read, not copied into it
    assert not (second / "turns").exists() and not (second / "reply_evidence").exists()
    snap = open_snapshot(second)  # readers see one table, whatever its parts
    assert rows(snap, "SELECT count(*) FROM turns") == rows(con, "SELECT count(*) FROM turns") == [(2002,)]
    assert rows(snap, "SELECT count(DISTINCT conversation_id) FROM messages") == [(2002,)]
    snap.close()

    # a changed row in the old ingest: its conversations part is written anew, and the turns read it
    con.execute("UPDATE conversations SET model = 'edited' WHERE conversation_id = "
                "(SELECT min(conversation_id) FROM conversations)")
    third = write_snapshot(con, home, "20260103T000000Z")
    assert parts(third, "messages") == parts(second, "messages")
    assert parts(third, "replies") == parts(second, "replies")
    changed = set(parts(third, "conversations").values()) - set(parts(second, "conversations").values())
    assert len(changed) == 1
    snap = open_snapshot(third)
    assert rows(snap, "SELECT count(*) FROM turns WHERE model = 'edited'") == [(1,)]
    snap.close()
    con.close()
