"""The nightly on a local two-worker Dask cluster gives the same tables as the single-process run."""
import json
import shutil

import pyarrow.parquet as pq
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from rmcurate.flows.nightly import nightly
from rmcurate.warehouse import connect

SIZE = 80

# Every column a run writes but its clock and run id: those differ between any two runs.
TABLES = {
    "ingests": "format, n_read, n_loaded, n_duplicate, n_quarantined, status, content_hash",
    "conversations": "conversation_id, source, source_id, model, language, created_at, n_messages, toxic, redacted, "
                     "user_hash, country, source_row, ingest_id",
    "messages": "conversation_id, message_index, role, content, language, toxic, redacted, moderation_flagged",
    "events": "event_id, ts, user_id, conversation_id, message_index, event, payload, conversation_known, ingest_id",
    "quarantine": "ingest_id, location, reason",
    "feedback_labels": "item_id, language, category, label, method, rule, mined_from, kept, drop_step, drop_reason",
    "feedback_funnel": "step_index, step, n_in, n_dropped, n_changed, n_out",
}

# One model call with a feedback name of the team's own ("vibes"), mapped by setting.
_MESSAGES = [{"role": "user", "parts": [{"type": "text", "content": "How do I reverse a list in Python?"}]}]
_REPLY = [{"role": "assistant", "parts": [{"type": "text", "content": "Use xs[::-1] or xs.reverse()."}]}]
OTEL_LINE = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{
    "traceId": "t1", "spanId": "s1", "startTimeUnixNano": "1714000000000000000",
    "attributes": [{"key": "gen_ai.conversation.id", "value": {"stringValue": "otel-conv"}},
                   {"key": "gen_ai.input.messages", "value": {"stringValue": json.dumps(_MESSAGES)}},
                   {"key": "gen_ai.output.messages", "value": {"stringValue": json.dumps(_REPLY)}}],
    "events": [{"name": "gen_ai.evaluation.result", "timeUnixNano": "1714000000000000000",
                "attributes": [{"key": "gen_ai.evaluation.name", "value": {"stringValue": "vibes"}}]}]}]}]}]})


def tables(home) -> dict[str, list]:
    con = connect(home, read_only=True)
    try:  # a reason that names a file names it under its home
        return {t: [tuple(str(v).replace(str(home), "HOME") if isinstance(v, str) else v for v in row)
                    for row in con.execute(f"SELECT {cols} FROM {t} ORDER BY ALL").fetchall()]
                for t, cols in TABLES.items()}
    finally:
        con.close()


def export_rows(folder) -> tuple[dict, list]:
    """(drops by reason, rows by split). User ids are pseudonyms under each warehouse's own salt: left out."""
    manifest = json.loads((folder / "manifest.json").read_text())
    rows = [(shard["split"], {k: v for k, v in row.items() if k != "user_id"})
            for shard in manifest["shards"] for row in pq.read_table(folder / shard["name"]).to_pylist()]
    return manifest["dropped"], rows


def task_names(flow_run_id) -> list[str]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return [r.name.rsplit("-", 1)[0] for r in runs]


def test_two_workers_give_the_single_process_tables(tmp_path, judge_url, wildchat_parquet, monkeypatch):
    monkeypatch.setenv("RMCURATE_JUDGE_URLS", judge_url)
    monkeypatch.setenv("RMCURATE_TRAIN_ENABLED", "false")  # training reads exports, which both runs write alike
    monkeypatch.setenv("RMCURATE_PAIRS_MAX_SEEDS", "0")  # generation is sampled: not comparable run to run
    homes = {}
    for name, workers in (("single", "0"), ("cluster", "2")):
        home = tmp_path / name
        (home / "inbox").mkdir(parents=True)
        shutil.copy(wildchat_parquet, home / "inbox" / "wildchat.parquet")
        (home / "inbox" / "broken.txt").write_text("not a dataset")
        (home / "inbox" / "otel.jsonl").write_text(OTEL_LINE + "\n")
        monkeypatch.setenv("RMCURATE_FLOW_WORKERS", workers)
        monkeypatch.setenv("RMCURATE_SOURCES_FEEDBACK_NAMES", "vibes=share")  # the writer's setting, on workers too
        monkeypatch.setenv("RMCURATE_FLOW_PARTITION_ROWS", "50")  # several screening tasks per batch
        homes[name] = (home, nightly(home=str(home), sample_size=SIZE))

    single, cluster = tables(homes["single"][0]), tables(homes["cluster"][0])
    assert single["conversations"] and single["events"] and len(single["feedback_labels"]) > 100
    assert {r[8] for r in single["feedback_labels"]} >= {"language", "feedback length"}  # the screen dropped some
    for table in TABLES:
        assert cluster[table] == single[table], table
    # The exports, deduplicated with signatures made on the workers, hold the same rows and drops.
    for fmt in ("trl", "openrlhf", "ordinal", "implicit"):
        one, two = (export_rows(home / "exports" / result["run_id"] / fmt)
                    for home, result in (homes["single"], homes["cluster"]))
        assert one == two, fmt
    assert len(one[1]) > 100 and "near duplicate" in one[0]  # the implicit export: rows to sign, and drops

    # The team's own feedback name became a share event in both runs
    assert [r[5] for r in single["events"] if r[3] == "otel-conv"] == ["share"]
    # The cluster run parsed its four new files, screened turns and signed rows as tasks there; the single run
    # did none of it.
    cluster_tasks = task_names(homes["cluster"][1]["prefect_flow_run_id"])
    assert cluster_tasks.count("parse_file") == 4, cluster_tasks
    assert cluster_tasks.count("screen_turns") >= 3, cluster_tasks
    assert cluster_tasks.count("minhash") >= 2, cluster_tasks
    assert cluster_tasks.count("embed_feedback") >= 1, cluster_tasks  # mining compared some feedback
    single_tasks = task_names(homes["single"][1]["prefect_flow_run_id"])
    assert not {"parse_file", "screen_turns", "minhash", "embed_feedback"} & set(single_tasks)
