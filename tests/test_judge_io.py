"""Judge I/O at production scale: batched cache writes, final answers for requests no run can get
answered, and a client that no exception can stall. Against a real (instant) OpenAI-compatible
server on loopback and a real DuckDB file."""
import concurrent.futures

import pytest

from rmcurate.judges.cache import CachedJudge
from rmcurate.judges.vllm_http import HttpJudge
from rmcurate.prompts.templates import load
from rmcurate.schemas.judge import JudgeRequest
from rmcurate.warehouse import connect
from rmcurate.warehouse.judge_calls import GIVE_UP_AFTER, DuckCallStore

from benchmarks.fake_judge import serving
from conftest import rows
from faults import Failing500


@pytest.fixture(scope="module")
def fake_url():
    with serving() as url:
        yield url


def requests(n: int, tag: str = "", bad: set[int] = frozenset()) -> list[JudgeRequest]:
    t = load("feedback_choice")
    return [t.render(prompt=f"How do I sort? {tag}", response="sorted(xs)",
                     feedback=f"thanks {i}" + (" [[status 400]]" if i in bad else "")) for i in range(n)]


def bounded(fn, seconds: float = 60):
    """Run fn in a thread and fail (rather than hang the suite) if it does not return in time."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(timeout=seconds)


def test_results_are_written_in_batches_and_read_back(con, fake_url):
    store = DuckCallStore(con, "run-1", batch_rows=64, flush_s=5.0)
    judge = CachedJudge(HttpJudge([fake_url], max_in_flight=16), store)
    first = judge.run(requests(200, "batch"))
    assert all(r.ok for r in first) and store.rows_written == 200
    # flushed before run() returned, though 5 s had not passed: the next lookups see every row
    assert rows(con, "SELECT count(*), count(DISTINCT key) FROM judge_calls WHERE run_id = 'run-1'") == [(200, 200)]
    again = judge.run(requests(200, "batch"))
    assert judge.counts.sent == 200 and judge.counts.cached == 200
    assert [r.text for r in again] == [r.text for r in first] and all(r.cached for r in again)
    store.close()


def test_a_4xx_is_a_final_answer_never_sent_twice(con, fake_url):
    backend = HttpJudge([fake_url], max_in_flight=4)
    judge = CachedJudge(backend, DuckCallStore(con))
    results = judge.run(requests(6, "4xx", bad={2}))
    assert [r.status for r in results] == ["ok", "ok", "rejected", "ok", "ok", "ok"]
    assert results[2].error.startswith("HTTP 400") and backend.http_requests == 6  # a 4xx is not retried
    second = CachedJudge(backend, DuckCallStore(con)).run(requests(6, "4xx", bad={2}))
    assert backend.http_requests == 6 and second[2].status == "rejected" and second[2].cached


def test_a_call_that_fails_run_after_run_is_given_up(con):
    server = Failing500()
    try:
        for night in range(1, GIVE_UP_AFTER + 2):
            backend = HttpJudge([server.url], "m", retries=0)
            (r,) = CachedJudge(backend, DuckCallStore(con, f"night-{night}")).run(requests(1, "500"))
            (status, failures, error), = rows(con, "SELECT status, failures, error FROM judge_calls")
            if night < GIVE_UP_AFTER:
                assert (r.status, status, failures) == ("failed", "failed", night)
            elif night == GIVE_UP_AFTER:
                assert (status, failures) == ("rejected", night) and f"failed {night} runs running" in error
            else:  # given up: answered from the store, nothing sent
                assert backend.http_requests == 0 and r.status == "rejected" and r.cached
        assert server.hits == GIVE_UP_AFTER
    finally:
        server.close()


def test_no_exception_in_a_request_or_a_callback_stalls_a_batch(fake_url):
    class Broken(JudgeRequest):
        def body(self, model):
            raise ValueError("cannot build this body")

    good = requests(5, "survive")
    batch = good[:2] + [Broken(**good[2].model_dump())] + good[3:]

    def callback(i, result):
        if i == 4:
            raise OSError("disk full")

    results = bounded(lambda: HttpJudge([fake_url], "m", max_in_flight=2).run(
        batch, keys=[f"k{i}" for i in range(5)], on_result=callback))
    assert [r.status for r in results] == ["ok", "ok", "failed", "ok", "failed"]
    assert results[2].error == "client error: ValueError: cannot build this body"
    assert results[4].error == "result callback failed: OSError: disk full"


def test_a_cache_write_that_fails_ends_the_batch_with_the_error(home, fake_url):
    connect(home).close()
    reader = connect(home, read_only=True)  # every write on it fails, as on a full or read-only disk
    judge = CachedJudge(HttpJudge([fake_url], max_in_flight=4), DuckCallStore(reader))
    with pytest.raises(RuntimeError, match="judge call cache: a batch write failed"):
        bounded(lambda: judge.run(requests(20, "ro")))
    reader.close()


def test_a_turn_whose_call_is_rejected_is_dropped_with_the_reason_not_left_pending(home, tmp_path, fake_url):
    from rmcurate.readers import detect
    from rmcurate.rules.feedback.embed import Embedder
    from rmcurate.settings import LabelSettings
    from rmcurate.stages.label import label_feedback
    from rmcurate.warehouse import ingest_file

    from conftest import write_json

    reply = "Here is a complete answer with more than ten words in it, as the filter requires."
    convs = [{"id": f"c{i}", "conversations": [
        {"from": "human", "value": "How do I sort a list in Python?"}, {"from": "gpt", "value": reply},
        {"from": "human", "value": f"can you also show the reverse order{tail}"},
        {"from": "gpt", "value": "Use reverse=True."}]} for i, tail in enumerate(["", " [[status 400]]"])]
    path = write_json(tmp_path / "two.json", convs)
    con = connect(home)
    ingest_file(con, path, detect(path))
    judge = CachedJudge(HttpJudge([fake_url], max_in_flight=4), DuckCallStore(con, "run-1"))
    result = label_feedback(con, judge, "run-1", LabelSettings(cues=False, prefilter=False), embed=Embedder())
    assert result.n_pending == 0 and result.n_labelled == 2
    # the fake judge's "3" makes the other turn neutral: judged, not pending
    assert rows(con, "SELECT drop_step, drop_reason FROM feedback_labels ORDER BY 1") == [
        ("judge", 'judge gave up: HTTP 400: {"error":{"message":"fake status 400","code":400}}'),
        ("neutral", "neutral feedback")]


def test_seeds_whose_rewrite_is_rejected_are_recorded_and_moved_past(home, tmp_path, fake_url):
    """A seed the judge can never answer (a 4xx) is a pair attempt with the reason, so the next run's
    seeds are the next ones: seeds that always fail cannot hold the stage's first places for good."""
    from datetime import UTC, datetime

    from rmcurate.readers import detect
    from rmcurate.schemas.feedback import FeedbackLabel
    from rmcurate.settings import PairSettings
    from rmcurate.stages.label import PIPELINE_VERSION as LABEL_VERSION
    from rmcurate.stages.pairs import synthesize_pairs
    from rmcurate.warehouse import ingest_file
    from rmcurate.warehouse.feedback import insert_models

    from conftest import write_json

    convs = [{"id": f"c{i}", "conversations": [
        {"from": "human", "value": f"How do I sort list number {i}?"},
        {"from": "gpt", "value": f"Call sorted() on list {i}; it returns a new list. [[status 400]]"},
        {"from": "human", "value": "thanks, that works"}]} for i in range(3)]
    path = write_json(tmp_path / "three.json", convs)
    con = connect(home)
    ingest_file(con, path, detect(path))
    insert_models(con, "feedback_labels", [
        FeedbackLabel(item_id=i, conversation_id=c, category=5, label=4, method="judged", kept=True,
                      pipeline_version=LABEL_VERSION, run_id="r0", labeled_at=datetime.now(UTC))
        for i, c in rows(con, "SELECT item_id, conversation_id FROM turns")])
    judge = CachedJudge(HttpJudge([fake_url], max_in_flight=4), DuckCallStore(con))
    settings = PairSettings(max_seeds=2, verify=False)
    tried = []
    for night in range(3):
        result = synthesize_pairs(con, judge, f"night-{night}", settings)
        assert result.n_pending == 0 and result.n_kept == 0
        tried.append(result.n_seeds)
    assert tried == [2, 1, 0]
    assert rows(con, "SELECT count(DISTINCT source_item_id), bool_and(NOT kept), min(drop_reason) FROM pair_attempts") \
        == [(3, True, 'judge gave up: HTTP 400: {"error":{"message":"fake status 400","code":400}}')]
    con.close()


def test_the_label_stage_sends_batches_ahead_and_labels_as_it_would_one_at_a_time(tmp_path, fake_url):
    """Calls of later batches go out while the stage still finishes the first (mining, writes), and the
    labels, the funnel and the calls are those of a run that takes one batch at a time."""
    from rmcurate.readers import detect
    from rmcurate.rules.feedback.embed import Embedder
    from rmcurate.settings import LabelSettings
    from rmcurate.stages.label import label_feedback
    from rmcurate.stages.sources import sample_file
    from rmcurate.warehouse import ingest_file

    embed, runs = Embedder(), {}
    for ahead in (0, 3):
        home = tmp_path / f"ahead-{ahead}"
        con = connect(home)
        sample = sample_file(home, 60)
        ingest_file(con, sample, detect(sample))
        judge = CachedJudge(HttpJudge([fake_url], max_in_flight=8), DuckCallStore(con, "run"))
        result = label_feedback(con, judge, "run", LabelSettings(batch_conversations=10, batches_ahead=ahead),
                                embed=embed)
        labels = rows(con, """SELECT item_id, category, label, method, kept, drop_step FROM feedback_labels
                              ORDER BY item_id""")
        # per batch of 10 conversations (in id order): when its first call went out, and when its labels were made
        timing = rows(con, """
            WITH b AS (SELECT conversation_id, (row_number() OVER (ORDER BY conversation_id) - 1) // 10 AS batch
                       FROM conversations)
            SELECT b.batch, min(c.started_at), max(l.labeled_at) FROM feedback_judgements j
            JOIN judge_calls c ON c.key = j.call_key JOIN feedback_labels l USING (item_id)
            JOIN b ON b.conversation_id = l.conversation_id GROUP BY 1 ORDER BY 1""")
        runs[ahead] = (labels, [(f.step, f.n_in, f.n_dropped, f.n_changed) for f in result.funnel],
                       judge.counts.sent, timing)
        con.close()
    (one, funnel_one, sent_one, timing_one), (ahead, funnel_ahead, sent_ahead, timing_ahead) = runs[0], runs[3]
    assert one == ahead and funnel_one == funnel_ahead and sent_one == sent_ahead > 20
    assert len(timing_ahead) >= 4
    # one at a time, batch 1's first call waits for batch 0's labels; ahead, it goes out before them
    assert timing_one[1][1] > timing_one[0][2]
    assert timing_ahead[1][1] < timing_ahead[0][2]
