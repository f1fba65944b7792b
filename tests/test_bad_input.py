"""Hostile and careless input: every file ends as records loaded, duplicate or quarantined,
or as a one-line error for that file alone; the process lives and the other files load."""
import bz2
import gzip
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from rmcurate.warehouse import connect

from benchmarks.wildchat_gen import generate
from conftest import rows

RMCURATE = str(Path(sys.executable).parent / "rmcurate")
MSG = [{"role": "user", "content": "how do I sort a list?"}, {"role": "assistant", "content": "use sorted(xs)"}]


def ok(cid: str) -> dict:
    return {"conversation_hash": cid, "conversation": MSG, "timestamp": "2023-05-01T10:00:00Z"}


def jsonl(path: Path, lines: list) -> Path:
    path.write_text("".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines))
    return path


def array(path: Path, parts: list) -> Path:
    path.write_text("[" + ", ".join(p if isinstance(p, str) else json.dumps(p) for p in parts) + "]")
    return path


def compressed(path: Path, compress, plain: Path) -> Path:
    path.write_bytes(compress(plain.read_bytes()))
    return path


def cut(path: Path, share: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * share)])
    return path


def MANY(prefix: str) -> list[dict]:
    """400 conversations of varied words: enough compressed blocks that a cut file still decompresses in part."""
    rng = random.Random(prefix)
    words = ["sort", "list", "python", "error", "thanks", "file", "loop", "value", "key", "dict", "print", "why"]
    return [{**ok(f"{prefix}{i}"), "conversation": [
        {"role": "user", "content": " ".join(rng.choice(words) + str(rng.randrange(10_000)) for _ in range(40))},
        {"role": "assistant", "content": " ".join(rng.choice(words) + str(rng.randrange(10_000)) for _ in range(60))}]}
        for i in range(400)]


DEEP = "[" * 10_000 + "]" * 10_000
SURROGATE = '{"conversation_hash": "%s", "conversation": [{"role": "user", "content": "x\\ud800y"}]}'


def corrupt_middle_row_group(path: Path) -> int:
    """Scramble the pages of row group 1 of 3; returns its row count."""
    meta = pq.ParquetFile(path).metadata
    group = meta.row_group(1)
    columns = [group.column(i) for i in range(group.num_columns)]
    start = min(c.dictionary_page_offset or c.data_page_offset for c in columns)
    size = sum(c.total_compressed_size for c in columns)
    data = bytearray(path.read_bytes())
    for i in range(start + 64, start + size - 64):
        data[i] = (data[i] * 7 + 13) % 256
    path.write_bytes(bytes(data))
    return group.num_rows


# (file name, how to write it, expected (read, loaded, quarantined), a quarantine reason expected)
CASES = {
    "timestamp-1e20.jsonl": (lambda p: jsonl(p, [ok("t1"), {**ok("t2"), "timestamp": 1e20}, ok("t3")]),
                             (3, 2, 1), "unparseable timestamp"),
    "deep.jsonl": (lambda p: jsonl(p, [ok("d1"), '{"conversation_hash": "d2", "conversation": %s}' % DEEP, ok("d3")]),
                   (3, 2, 1), "JSON nested too deep"),
    "deep.json": (lambda p: array(p, [ok("e1"), '{"conversation_hash": "e2", "conversation": %s}' % DEEP, ok("e3")]),
                  (3, 2, 1), "bad value for conversation.0"),
    "surrogate.jsonl": (lambda p: jsonl(p, [ok("s1"), SURROGATE % "s2", ok("s3")]),
                        (3, 2, 1), "lone UTF-16 surrogate"),
    "mid-array-error.json": (lambda p: array(p, [ok("m1"), '{"conversation_hash": "m2" "conversation": []}', ok("m3"),
                                                 ok("m4")]),
                             (4, 3, 1), "malformed JSON"),
    "bom.jsonl": (lambda p: p.write_bytes(b"\xef\xbb\xbf" + jsonl(p, [ok("b1"), ok("b2")]).read_bytes()) and p,
                  (2, 2, 0), None),
    "bom.json": (lambda p: p.write_bytes(b"\xef\xbb\xbf" + array(p, [ok("c1"), ok("c2")]).read_bytes()) and p,
                 (2, 2, 0), None),
    # a greeting before the first question, two questions in a row: real conversations, they load
    "greeting-first.jsonl": (lambda p: jsonl(p, [ok("o1"), {**ok("o2"), "conversation": MSG[::-1]},
                                                 {**ok("o3"), "conversation": [MSG[0], MSG[0], MSG[1]]}]),
                             (3, 3, 0), None),
    "trailing-comma.jsonl": (lambda p: p.write_text("".join(json.dumps(ok(c)) + ",\n" for c in ("tc1", "tc2"))) and p,
                             (2, 2, 0), None),
    "gzip.jsonl.gz": (lambda p: compressed(p, gzip.compress, jsonl(p, [ok("z1"), ok("z2")])), (2, 2, 0), None),
    "bzip2.json.bz2": (lambda p: compressed(p, bz2.compress, array(p, [ok("z3"), ok("z4")])), (2, 2, 0), None),
    "zstd.jsonl.zst": (lambda p: compressed(p, zstandard.compress, jsonl(p, [ok("z5"), ok("z6")])), (2, 2, 0), None),
    "empty-array.json": (lambda p: p.write_text("[ ]\n"), (0, 0, 0), None),
    "whitespace.json": (lambda p: p.write_text("  \n\n\t"), (0, 0, 0), None),
    "index-true.jsonl": (lambda p: jsonl(p, [{"event_id": "x1", "ts": "2024-01-01T00:00:00Z", "conversation_id": "t1",
                                              "message_index": True, "event": "copy"}]),
                         (1, 0, 1), "bad value for message_index: expected an integer, got true"),
}


# Compressed files cut in the middle: what decompressed loads; the cut record, and the broken stream
# where the decompressor says so (gzip does, zstd just ends), are quarantined. How much decompresses
# depends on the compressor's blocks, so the test checks the shape, not the counts.
CUT = {
    "cut.jsonl.gz": (lambda p: cut(compressed(p, gzip.compress, jsonl(p, MANY("k"))), 0.5),
                     ["not JSON", "gzip data ends early"]),
    "cut.json.zst": (lambda p: cut(compressed(p, zstandard.compress, array(p, MANY("y"))), 0.5),
                     ["truncated JSON"]),
    # cut inside the first block: nothing decompresses, and that is an error, not an empty file
    "cut-early.jsonl.gz": (lambda p: cut(compressed(p, gzip.compress, jsonl(p, [ok("e1")])), 0.5), None),
}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    """One `rmcurate ingest` of a folder holding every bad file, a broken one and a good one."""
    root = tmp_path_factory.mktemp("bad")
    folder = root / "inbox"
    folder.mkdir()
    for name, (write, _, _) in CASES.items():
        write(folder / name)
    for name, (write, _) in CUT.items():
        write(folder / name)
    pq.write_table(pa.table({"conversation_hash": ["w1"], "conversation": ["not a list"], "timestamp": [5]}),
                   folder / "wrong-types.parquet")
    lost = corrupt_middle_row_group(generate(folder / "corrupt-pages.parquet", 300, seed=5, batch_size=100))
    (folder / "zz-broken-link.jsonl").symlink_to(root / "gone.jsonl")
    jsonl(folder / "zz-good.jsonl", [ok("g1")])
    home = root / "home"
    r = subprocess.run([RMCURATE, "ingest", str(folder)], capture_output=True, text=True,
                       env={**os.environ, "RMCURATE_HOME": str(home)})
    con = connect(home)
    yield r, con, lost
    con.close()


def by_file(con) -> dict[str, tuple]:
    return {Path(p).name: (n_read, n_loaded, n_dup, n_q, status) for p, n_read, n_loaded, n_dup, n_q, status in rows(
        con, "SELECT path, n_read, n_loaded, n_duplicate, n_quarantined, status FROM ingests")}


def test_no_traceback_one_line_per_unreadable_file_and_the_good_file_loads(ingested):
    r, con, _ = ingested
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    assert r.returncode == 1  # two files could not be read, one loaded nothing
    errors = r.stderr.strip().splitlines()
    assert len(errors) == 4, r.stderr
    assert any("index-true.jsonl" in e and "nothing loaded as events-jsonl: 1 records quarantined" in e for e in errors)
    assert any("cut-early.jsonl.gz" in e and "gzip data ends early" in e for e in errors)
    assert any("wrong-types.parquet" in e and "not a list of messages" in e for e in errors)
    assert any("zz-broken-link.jsonl" in e and "cannot read" in e for e in errors)
    assert rows(con, "SELECT count(*) FROM conversations WHERE conversation_id = 'g1'") == [(1,)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_record_is_counted_and_bad_ones_carry_their_reason(ingested, name):
    _, con, _ = ingested
    read, loaded, quarantined = CASES[name][1]
    n_read, n_loaded, n_dup, n_q, status = by_file(con)[name]
    assert (n_read, n_loaded, n_q) == (read, loaded, quarantined)
    assert n_read == n_loaded + n_dup + n_q
    # a file none of whose records loaded is not 'loaded': it may be read again as another format
    assert status == ("empty" if read == 0 else "quarantined" if loaded + n_dup == 0 else "loaded")
    reasons = [r for (r,) in rows(con, "SELECT reason FROM quarantine WHERE source_file LIKE ?", [f"%/{name}"])]
    assert len(reasons) == quarantined
    if CASES[name][2]:
        assert reasons[0].startswith(CASES[name][2]), reasons


@pytest.mark.parametrize("name", [n for n, (_, reasons) in CUT.items() if reasons])
def test_a_cut_compressed_file_loads_what_decompressed_and_says_where_it_broke(ingested, name):
    _, con, _ = ingested
    n_read, n_loaded, n_dup, n_q, status = by_file(con)[name]
    assert n_loaded >= 50 and n_q == len(CUT[name][1]) and n_read == n_loaded + n_q and status == "loaded"
    reasons = [r for (r,) in rows(con, "SELECT reason FROM quarantine WHERE source_file LIKE ? ORDER BY location",
                                  [f"%/{name}"])]
    assert all(any(r.startswith(want) for r in reasons) for want in CUT[name][1]), reasons


def test_corrupt_parquet_pages_cost_only_their_row_group(ingested):
    _, con, lost = ingested
    n_read, n_loaded, n_dup, n_q, status = by_file(con)["corrupt-pages.parquet"]
    assert (n_loaded, n_q, status) == (300 - lost, 1, "loaded")
    (where, reason), = rows(con, "SELECT location, reason FROM quarantine WHERE source_file LIKE '%corrupt-pages%'")
    assert where == f"rows 100-{100 + lost - 1} (row group 1)" and reason.startswith(f"unreadable Parquet data ({lost} rows)")


def test_a_rejected_file_is_recorded_and_tried_again(ingested):
    _, con, _ = ingested
    assert by_file(con)["wrong-types.parquet"][-1] == "rejected"
    assert "zz-broken-link.jsonl" not in by_file(con)  # unreadable: nothing recorded, it loads once fixed


def test_a_record_too_big_for_the_ingest_memory_is_that_files_one_line_error(tmp_path):
    """A single message bigger than DuckDB may hold while a file loads: the file is rejected with the
    limit named, the next file still loads, and no traceback."""
    huge = tmp_path / "huge.jsonl.gz"
    huge.write_bytes(gzip.compress(json.dumps({"messages": [{"role": "user", "content": "a" * (48 << 20)}]}).encode()))
    good = jsonl(tmp_path / "good.jsonl", [ok("big1")])
    home = tmp_path / "home"
    r = subprocess.run([RMCURATE, "ingest", str(huge), str(good)], capture_output=True, text=True,
                       env={**os.environ, "RMCURATE_HOME": str(home), "RMCURATE_INGEST_MEMORY_LIMIT": "32MB"})
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("rmcurate: error: ") and "huge.jsonl.gz" in line and "RMCURATE_INGEST_MEMORY_LIMIT=32MB" in line
    con = connect(home)
    try:
        assert rows(con, "SELECT conversation_id FROM conversations") == [("big1",)]
    finally:
        con.close()
