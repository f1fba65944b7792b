"""The nightly flow end to end, through Prefect's local ephemeral API."""
import pytest

from flows.nightly import nightly
from warehouse import connect


@pytest.mark.slow
def test_nightly_ingests_sample_and_inbox_once(home):
    (home / "inbox").mkdir(parents=True)
    (home / "inbox" / "broken.txt").write_text("not a dataset")
    first = nightly(home=str(home), sample_size=50)
    assert [(r["format"], r["n_loaded"], r["status"]) for r in first["ingests"]] == \
        [("sharegpt-json", 50, "loaded"), ("unknown", 0, "rejected")]
    assert (home / "snapshots" / first["run_id"] / "turns.parquet").exists()

    second = nightly(home=str(home), sample_size=50)
    assert [r["status"] for r in second["ingests"]] == ["skipped", "rejected"]
    con = connect(home, read_only=True)
    assert con.execute("SELECT count(*) FROM conversations").fetchall() == [(50,)]
    assert con.execute("SELECT count(*) FROM quarantine WHERE location = 'whole file'").fetchall() == [(1,)]
    assert con.execute("SELECT count(*) FROM turns").fetchall()[0][0] > 0
    con.close()
