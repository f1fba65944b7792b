"""The judge client, cache and failure handling, against a real vLLM server on loopback."""
import json
import re
import signal
import subprocess
import sys
import textwrap

import httpx
import pytest

from rmcurate.judges.cache import CachedJudge
from rmcurate.judges.vllm_http import HttpJudge
from rmcurate.prompts.templates import TEMPLATE_DIR, TemplateError, available, file_digests, load
from rmcurate.schemas.judge import JudgeRequest, Sampling, Structured
from rmcurate.warehouse import connect
from rmcurate.warehouse.judge_calls import DuckCallStore, judge_stats, run_costs

from conftest import rows
from faults import Failing500, Hanging, dead_url

FEEDBACK = ["thank you, that fixed it!", "no, this is wrong, the function does not exist",
            "continue", "now write the same in Rust"]


def feedback_requests(n=4, tag=""):
    t = load("feedback_choice")
    return [t.render(prompt=f"How do I reverse a list in Python?{tag}", response="Use xs[::-1] or xs.reverse().",
                     feedback=FEEDBACK[i % len(FEEDBACK)] + f" ({i})") for i in range(n)]


def cached(con, urls, **kw) -> CachedJudge:
    kw.setdefault("model", None)
    return CachedJudge(HttpJudge(urls, **kw), DuckCallStore(con))


def served_requests(url) -> float:
    """Successful requests the vLLM server itself has counted (its Prometheus metrics)."""
    text = httpx.get(f"{url}/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("vllm:request_success_total"))


def test_structured_choice_with_probabilities(con, judge_url):
    judge = cached(con, [judge_url])
    choices = load("feedback_choice").choices
    results = judge.run(feedback_requests())
    assert [r.status for r in results] == ["ok"] * 4
    for r in results:
        assert r.text in choices
        probs = r.choice_probs(choices)
        assert set(probs) == set(choices) and sum(probs.values()) == pytest.approx(1.0)
        assert max(probs, key=probs.get) == r.text  # greedy: the answer is the likeliest choice
        assert r.completion_tokens <= 2 and r.prompt_tokens > 50


def test_regex_and_json_schema_outputs(con, judge_url):
    judge = cached(con, [judge_url])
    ask = (("user", "Give me a three-digit number and a colour."),)
    regex = JudgeRequest(messages=ask, template="adhoc", template_version=1, sampling=Sampling(max_tokens=8),
                         structured=Structured(regex=r"[0-9]{3}"))
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "colour": {"type": "string",
              "enum": ["red", "blue"]}}, "required": ["n", "colour"]}
    as_json = JudgeRequest(messages=ask, template="adhoc", template_version=1, sampling=Sampling(max_tokens=40),
                           structured=Structured(json_schema=schema))
    r_regex, r_json = judge.run([regex, as_json])
    assert re.fullmatch(r"[0-9]{3}", r_regex.text)
    value = json.loads(r_json.text)
    assert isinstance(value["n"], int) and value["colour"] in ("red", "blue")


def test_repeat_is_answered_from_the_cache(con, judge_url):
    judge = cached(con, [judge_url])
    requests = feedback_requests(tag=" [cache]")
    first = judge.run(requests)
    sent_before, served_before = judge.backend.http_requests, served_requests(judge_url)
    again = cached(con, [judge_url], model=judge.model).run(requests)  # a fresh client: only the store remembers
    assert served_requests(judge_url) == served_before
    assert judge.backend.http_requests == sent_before
    assert all(r.cached for r in again)
    assert [r.text for r in again] == [r.text for r in first]
    assert [r.top_logprobs for r in again] == [r.top_logprobs for r in first]
    (hits,) = rows(con, "SELECT sum(hits) FROM judge_calls WHERE key IN (SELECT unnest(?))",
                   [[r.key for r in first]])[0]
    assert hits == 4


def test_equal_requests_in_one_batch_are_sent_once(con, judge_url):
    judge = cached(con, [judge_url])
    (request,) = feedback_requests(1, tag=" [dup]")
    results = judge.run([request] * 5)
    assert judge.counts.sent == 1 and judge.backend.http_requests == 1
    assert len({r.text for r in results}) == 1


def test_an_error_body_that_is_not_utf8_still_gives_its_status(con):
    """A server's 400 with bytes its charset cannot decode is still a rejected request, not a client error."""
    server = Failing500(status=400, body=b'{"error": "prompt too long \xff\xfe"}')
    judge = cached(con, [server.url], model="m", retries=2, backoff_s=0.01)
    try:
        results = judge.run(feedback_requests(2, tag=" [bad bytes]"))
    finally:
        server.close()
    assert [r.status for r in results] == ["rejected"] * 2 and server.hits == 2  # not retried
    assert all(r.error.startswith("HTTP 400: {\"error\": \"prompt too long") for r in results)
    con.close()


@pytest.mark.parametrize("fault", ["down", "500", "hang"])
def test_a_failing_endpoint_ends_as_failed_rows_after_retries(con, fault):
    server = {"down": None, "500": Failing500(), "hang": Hanging()}[fault]
    url = server.url if server else dead_url()
    judge = cached(con, [url], model="m", retries=2, backoff_s=0.01, timeout_s=0.5)
    try:
        results = judge.run(feedback_requests(3, tag=f" [{fault}]"))
    finally:
        if server:
            server.close()
    assert [r.status for r in results] == ["failed"] * 3
    assert all(r.attempts == 3 for r in results)
    assert judge.backend.http_requests == 9
    expected = {"down": "Cannot connect to host", "500": "HTTP 500", "hang": "timed out after 0.5 s"}[fault]
    assert all(expected in r.error for r in results)
    if fault == "500":
        assert server.hits == 9
    stored = rows(con, "SELECT status, attempts, error FROM judge_calls")
    assert len(stored) == 3 and {s[:2] for s in stored} == {("failed", 3)}


def test_failed_calls_are_sent_again_by_the_next_run(con, judge_url):
    requests = feedback_requests(2, tag=" [retry later]")
    model = HttpJudge([judge_url]).model
    failed = cached(con, [dead_url()], model=model, retries=0).run(requests)
    assert [r.status for r in failed] == ["failed", "failed"]
    judge = cached(con, [judge_url])
    assert [r.status for r in judge.run(requests)] == ["ok", "ok"]
    assert judge.counts.sent == 2
    assert rows(con, "SELECT status, count(*) FROM judge_calls GROUP BY 1") == [("ok", 2)]


def test_requests_spread_over_endpoints_and_survive_a_dead_one(con, judge_url):
    port = judge_url.rsplit(":", 1)[1]
    two_names = [judge_url, f"http://localhost:{port}"]  # one server behind two URLs
    results = cached(con, two_names, max_in_flight=2).run(feedback_requests(16, tag=" [spread]"))
    assert all(r.ok for r in results)
    assert {r.endpoint for r in results} == set(two_names)
    with_dead = [dead_url(), judge_url]
    results = cached(con, with_dead, max_in_flight=2, backoff_s=0.5).run(feedback_requests(8, tag=" [dead]"))
    assert all(r.ok and r.endpoint == judge_url for r in results)


CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from rmcurate.judges.cache import CachedJudge
    from rmcurate.prompts.templates import load
    from rmcurate.judges.vllm_http import HttpJudge
    from rmcurate.warehouse import connect
    from rmcurate.warehouse.judge_calls import DuckCallStore

    class Announcing(DuckCallStore):
        def _write(self, cur, queued):  # says how many rows each committed batch held
            super()._write(cur, queued)
            print("written", len(queued), flush=True)

    t = load("feedback_choice")
    requests = [t.render(prompt="Sort this list", response="Done.", feedback=f"item {i}") for i in range(60)]
    store = Announcing(connect(Path(sys.argv[1])), flush_s=0.05)
    CachedJudge(HttpJudge([sys.argv[2]], max_in_flight=4), store).run(requests)
""")


def test_a_killed_run_resends_only_what_had_not_completed(home, judge_url):
    # Killed once 10 results are committed (not merely queued: on a busy machine the writer can lag
    # the client by more than any fixed sleep), so the count to expect does not depend on timing.
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(home), judge_url], stdout=subprocess.PIPE, text=True)
    written = 0
    for line in child.stdout:
        written += int(line.split()[1]) if line.startswith("written") else 0
        if written >= 10:
            child.send_signal(signal.SIGKILL)
            break
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the child finished before it could be killed"
    con = connect(home)
    (stored,) = rows(con, "SELECT count(*) FROM judge_calls WHERE status = 'ok'")[0]
    assert written <= stored < 60
    t = load("feedback_choice")
    requests = [t.render(prompt="Sort this list", response="Done.", feedback=f"item {i}") for i in range(60)]
    judge = cached(con, [judge_url])
    assert all(r.ok for r in judge.run(requests))
    assert judge.counts.sent == 60 - stored
    assert judge.counts.sent <= 60 - 10
    con.close()


def test_released_templates_are_never_edited_in_place():
    lock = dict(line.split()[::-1] for line in (TEMPLATE_DIR / "LOCK").read_text().splitlines() if line.strip())
    assert file_digests() == lock, "a released template changed: add a new version instead (and python -m rmcurate.prompts.templates)"
    assert available()["feedback_choice"] == [1]


def test_rendering_needs_every_field():
    t = load("feedback_choice")
    with pytest.raises(TemplateError, match="needs feedback"):
        t.render(prompt="p", response="r")
    request = t.render(prompt="a {brace}", response="r", feedback="f")  # item text is never formatted again
    assert "a {brace}" in request.messages[1][1]
    assert request.key("m") != t.render(prompt="a {brace}", response="r", feedback="g").key("m")
    assert request.key("m") != request.key("other-model")


def test_run_costs_count_the_calls_a_run_sent_not_its_cache_hits(con, judge_url):
    CachedJudge(HttpJudge([judge_url], model=None), DuckCallStore(con, "run-a")).run(feedback_requests(3, " [cost]"))
    second = CachedJudge(HttpJudge([judge_url], model=None), DuckCallStore(con, "run-b"))
    second.run(feedback_requests(4, " [cost]"))  # three answered from the cache, one sent
    (a,), (b,) = run_costs(con, "run-a"), run_costs(con, "run-b")
    assert (a[1], a[2], a[3]) == ("feedback_choice v1", 3, 0) and (b[2], b[3]) == (1, 0)
    assert a[4] > 3 * 100 and 3 <= a[5] <= 6 and 0 < a[6] <= a[7] and a[8] > 0  # tokens, p50 <= p95, seconds
    assert run_costs(con, "run-c") == []


def test_status_reports_judge_stats(home, judge_url):
    con = connect(home)
    cached(con, [judge_url]).run(feedback_requests(2, tag=" [status]"))
    cached(con, [judge_url]).run(feedback_requests(2, tag=" [status]"))
    (model, template, calls, ok, failed, hits, prompt_tok, completion_tok, _) = judge_stats(con)[0]
    con.close()
    assert (template, calls, ok, failed, hits) == ("feedback_choice v1", 2, 2, 0, 2)
    assert prompt_tok > 100 and 2 <= completion_tok <= 4
    from typer.testing import CliRunner

    from rmcurate.cli import app
    result = CliRunner().invoke(app, ["--home", str(home), "status"])
    assert result.exit_code == 0 and "judge calls" in result.output and "feedback_choice v1" in result.output
    result = CliRunner().invoke(app, ["judge", "ping", "--url", judge_url, "--url", dead_url()])
    assert result.exit_code == 0, result.output
    assert model in result.output and "ConnectError" in result.output
    result = CliRunner().invoke(app, ["judge", "ping", "--url", dead_url()])
    assert result.exit_code == 1
