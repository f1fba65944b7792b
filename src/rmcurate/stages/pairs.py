"""The RMBoost stage: preference pairs built on purpose, plus natural ones.

For each seed turn (a labelled reply y1 to a prompt): draw the preference
label (y2 better or worse than y1) and k quality aspects from a seeded RNG,
ask the LLM to rewrite y1 accordingly, validate y2, and store the pair with
chosen/rejected known by construction. Every attempt is stored, kept or
dropped with its reason, in `pair_attempts`; a failed generation call leaves
no attempt, so the next run retries it.
"""
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rmcurate.judges.cache import CachedJudge
from rmcurate.prompts.fields import cut, render_conversation
from rmcurate.prompts.templates import load
from rmcurate.rules.pii import scrub, scrub_value
from rmcurate.rules.rmboost import BETTER, condition, pair_id, parse_response, template_markers, validate
from rmcurate.schemas.judge import JudgeRequest, Structured
from rmcurate.schemas.pairs import Pair, PairAttempt
from rmcurate.schemas.records import ChatMessage
from rmcurate.settings import PairSettings
from rmcurate.stages.common import EMBEDDED_FIELD_MAX_CHARS, StageFailed, call_summary
from rmcurate.stages.label import PIPELINE_VERSION as LABEL_VERSION
from rmcurate.stages.progress import StageProgress
from rmcurate.warehouse.pairs import existing_pair_ids, natural_candidates, seeds, write_pairs

PAIRS_VERSION = "rmboost-2"
# With the embedded judge: short seeds and short rewrites keep a CPU run in minutes.
# The embedded 135M model on 2 CPU cores: short fields and 100 seeds keep `make run` under 10 minutes.
# Seeds are replies the rewrite sees whole (no longer than field_max_chars).
EMBEDDED = {"field_max_chars": EMBEDDED_FIELD_MAX_CHARS, "max_y2_chars": 600,
            "seed_filter": f"l.kept AND length(t.response) <= {EMBEDDED_FIELD_MAX_CHARS}", "max_seeds": 100}


def prompt_messages(seed: dict) -> list[dict]:
    """What the reply answers: the history, the prompt, and the tool calls and results in between."""
    def message(m: dict) -> dict:
        return {"role": m["role"], "content": m["content"], "tool_calls": m.get("tool_calls"),
                "tool_call_id": m.get("tool_call_id")}
    msgs = [message(m) for m in seed["history"]]
    if seed["prompt"] is not None:
        msgs.append(message({"role": "user", "content": seed["prompt"]}))
    return msgs + [message(m) for m in seed.get("steps") or []]


@dataclass
class PairResult:
    run_id: str
    n_seeds: int = 0
    n_kept: int = 0
    n_natural: int = 0
    n_pending: int = 0
    drops: dict[str, int] = field(default_factory=dict)
    verification: dict[str, int] = field(default_factory=dict)
    verifier: str | None = None
    p_better: list[float] = field(default_factory=list)  # the verifier's P(chosen better), per verified pair
    calls: dict = field(default_factory=dict)
    failure: str | None = None


def bounded(request: JudgeRequest, y1_chars: int, max_chars: int) -> JudgeRequest:
    """The rewrite request with its <response> block capped at 3x y1 (the length rule's limit)."""
    limit = max(1, min(3 * y1_chars, max_chars))
    max_tokens = min(request.sampling.max_tokens, limit // 2 + 32)  # ~2+ chars per token
    return request.model_copy(update={
        # One character class under the count: xgrammar decodes it fast; an alternation such as
        # ([^<]|<[^/]){1,600} made each request take minutes on CPU.
        "structured": Structured(regex=f"<response>[\\s\\S]{{1,{limit}}}</response>"),
        "sampling": request.sampling.model_copy(update={"max_tokens": max_tokens})})


@dataclass(frozen=True)
class Verdict:
    """The pair judge on one pair, asked in both orders.

    vote: agree (both orders prefer the expected better reply), disagree (both prefer the
    other), split (the orders disagree: position bias) or failed (a call failed).
    p_better: GRAM's read-out, P(expected better) from the A/B logprobs of each order,
    averaged; it ranks even when a position-biased judge answers A twice. None without logprobs.
    """
    vote: str
    p_better: float | None = None


def verify(judge: CachedJudge, pairs: list[Pair], limit: int) -> list[Verdict]:
    """The pair judge in both orders against the intended order."""
    return compare(judge, [([m.model_dump() for m in p.prompt], p.chosen, p.rejected) for p in pairs], limit)


def compare(judge: CachedJudge, items: list[tuple[list[dict], str, str]], limit: int) -> list[Verdict]:
    """For each (prompt messages, expected better, expected worse): the pair_compare judge in both orders."""
    t = load("pair_compare")
    requests = []
    for prompt, better, worse in items:
        conv = render_conversation(prompt, limit)
        requests += [t.render(conversation=conv, response_a=cut(better, limit), response_b=cut(worse, limit)),
                     t.render(conversation=conv, response_a=cut(worse, limit), response_b=cut(better, limit))]
    results = judge.run(requests)
    verdicts = []
    for first, second in zip(results[::2], results[1::2]):
        if not (first.ok and second.ok):
            verdicts.append(Verdict("failed"))
            continue
        votes = (first.text.strip() == "A") + (second.text.strip() == "B")  # each order's vote for `better`
        p1, p2 = first.choice_probs(("A", "B")), second.choice_probs(("A", "B"))
        p_better = (p1["A"] + p2["B"]) / 2 if p1 and p2 else None
        verdicts.append(Verdict({2: "agree", 0: "disagree"}.get(votes, "split"), p_better))
    return verdicts


def synthesize_pairs(con, judge: CachedJudge, run_id: str, settings: PairSettings | None = None,
                     verifier: CachedJudge | None = None) -> PairResult:
    """`verifier` asks pair_compare (default: `judge`)."""
    s = settings or PairSettings()
    verifier = verifier or judge
    result = PairResult(run_id=run_id, verifier=verifier.model if s.verify else None)
    aspects = [a.strip() for a in s.aspects.split(",") if a.strip()]
    rewrite, answer = load("rmboost_rewrite"), load("answer")
    markers = template_markers(text for _, text in rewrite.messages)
    todo = seeds(con, LABEL_VERSION, PAIRS_VERSION, s.seed, s.seed_filter, s.max_seeds)
    result.n_seeds = len(todo)
    with StageProgress("synthesize_pairs", "seeds", len(todo)).watching(judge, verifier) as progress:
        for start in range(0, len(todo), s.batch):
            batch = todo[start:start + s.batch]
            now = datetime.now(UTC)
            # Scrubbed before anything reads them: the judge, the rewrite it copies from, the pairs table
            prompts = [scrub_value(prompt_messages(x)) for x in batch]
            convs = [render_conversation(p, s.field_max_chars) for p in prompts]
            given_up = {}  # i -> why a call for this seed was rejected: recorded, so the seed is moved past
            if s.generate_y1:
                y1_results = judge.run([answer.render(conversation=c) for c in convs])
                y1s = [r.text.strip() if r.ok and r.text else None for r in y1_results]
                given_up = {i: r.error for i, r in enumerate(y1_results) if r.status == "rejected"}
            else:
                y1s = [scrub(x["response"]) if x["response"] else x["response"] for x in batch]
            conds = [condition(x["item_id"], s.seed, s.k_aspects, aspects) for x in batch]
            # The model must see all of y1: a pair built on a middle-cut y1 would pair y2 with text it never saw.
            too_long = {i for i in range(len(batch)) if y1s[i] and len(y1s[i]) > s.field_max_chars}
            asks = [(i, bounded(rewrite.render(conversation=convs[i], response=y1s[i],
                                               direction=conds[i][0].upper(), aspects=", ".join(conds[i][1])),
                                len(y1s[i]), s.max_y2_chars))
                    for i in range(len(batch)) if y1s[i] and i not in too_long]
            answers = dict(zip([i for i, _ in asks], judge.run([r for _, r in asks])))
            given_up |= {i: r.error for i, r in answers.items() if r.status == "rejected"}
            pairs, attempts = [], []
            for i, x in enumerate(batch):
                if i in too_long or i in given_up:
                    reason = (f"judge gave up: {given_up[i]}" if i in given_up else
                              f"reply over {s.field_max_chars} characters, longer than the rewrite window")
                    result.drops[reason] = result.drops.get(reason, 0) + 1
                    attempts.append(PairAttempt(source_item_id=x["item_id"], seed=s.seed, intended_label=conds[i][0],
                                                aspects=conds[i][1], kept=False, drop_reason=reason,
                                                pipeline_version=PAIRS_VERSION, run_id=run_id, created_at=now))
                    continue
                r = answers.get(i)
                if r is None or not r.ok:  # no y1 or the call failed: retried next run
                    result.n_pending += 1
                    continue
                direction, chosen_aspects = conds[i]
                y1, y2 = y1s[i], parse_response(r.text)
                reason = validate(y1, y2, markers=markers)
                pid = None
                if reason is None:
                    chosen, rejected = (y2, y1) if direction == BETTER else (y1, y2)
                    pid = pair_id("rmboost", prompts[i], chosen, rejected)
                    pairs.append(Pair(pair_id=pid, prompt=[ChatMessage(**m) for m in prompts[i]], chosen=chosen,
                                      rejected=rejected, origin="rmboost", intended_label=direction,
                                      aspects=chosen_aspects, generator_model=judge.model, template=rewrite.name,
                                      template_version=rewrite.version, seed=s.seed, source_item_id=x["item_id"],
                                      pipeline_version=PAIRS_VERSION, run_id=run_id, created_at=now))
                else:
                    result.drops[reason] = result.drops.get(reason, 0) + 1
                attempts.append(PairAttempt(source_item_id=x["item_id"], seed=s.seed, intended_label=direction,
                                            aspects=chosen_aspects, call_key=r.key, kept=reason is None,
                                            drop_reason=reason, pair_id=pid, pipeline_version=PAIRS_VERSION,
                                            run_id=run_id, created_at=now))
            known = existing_pair_ids(con, [p.pair_id for p in pairs])
            pairs = [p for p in pairs if p.pair_id not in known]
            if s.verify and pairs:
                for p, v in zip(pairs, verify(verifier, pairs, s.field_max_chars)):
                    p.verification, p.verifier_model, p.verifier_p_chosen = v.vote, verifier.model, v.p_better
                    result.verification[v.vote] = result.verification.get(v.vote, 0) + 1
                    if v.p_better is not None:
                        result.p_better.append(v.p_better)
            write_pairs(con, pairs, attempts)
            result.n_kept += len(pairs)
            progress.advance(len(batch))
    result.n_natural = add_natural_pairs(con, run_id)
    return result


def add_natural_pairs(con, run_id: str) -> int:
    """Replies to the same context with different kept labels (e.g. after a regeneration)."""
    now = datetime.now(UTC)
    pairs = []
    for c in natural_candidates(con, LABEL_VERSION):
        prompt, chosen, rejected = scrub_value(prompt_messages(c)), scrub(c["chosen"]), scrub(c["rejected"])
        pairs.append(Pair(pair_id=pair_id("natural", prompt, chosen, rejected),
                          prompt=[ChatMessage(**m) for m in prompt], chosen=chosen, rejected=rejected,
                          origin="natural", source_item_id=c["item_id"], other_item_id=c["other_item_id"],
                          pipeline_version=PAIRS_VERSION, run_id=run_id, created_at=now))
    known = existing_pair_ids(con, [p.pair_id for p in pairs])
    pairs = [p for p in pairs if p.pair_id not in known]
    write_pairs(con, pairs, [])
    return len(pairs)


def pair_verifier(settings: PairSettings, judge_settings, store) -> CachedJudge | None:
    """The judge at settings.verify_url (e.g. a generative RM this tool trained), or None: the
    judge that writes the pairs verifies them too."""
    from rmcurate.judges.backends import http_judge

    if not settings.verify_url:
        return None
    # Its model id is asked of that server: the generation judge's id is not it.
    return CachedJudge(http_judge([settings.verify_url], judge_settings.model_copy(update={"model": None})), store)


def has_seeds(con, s: PairSettings) -> bool:
    return s.max_seeds > 0 and bool(seeds(con, LABEL_VERSION, PAIRS_VERSION, s.seed, s.seed_filter, 1))


def pairs_with_judge(home, run_id: str, settings: PairSettings | None = None, judge_settings=None) -> dict:
    """Open the warehouse and the judge (embedded when no URL is set) and run the stage."""
    from contextlib import nullcontext

    from rmcurate.judges.backends import judge_backend
    from rmcurate.judges.embedded import SERVED_MODEL
    from rmcurate.settings import JudgeSettings
    from rmcurate.warehouse import connect
    from rmcurate.warehouse.judge_calls import DuckCallStore
    from rmcurate.warehouse.snapshot import standin_while_writing

    settings = settings or PairSettings()
    judge_settings = judge_settings or JudgeSettings()
    con = connect(home)
    try:
        # on a home never snapshotted, the stand-in queries answer from meanwhile
        with standin_while_writing(con, home), \
                judge_backend(home, judge_settings) if has_seeds(con, settings) else nullcontext() as backend:
            if backend is None:  # nothing to generate: no judge to start
                result = PairResult(run_id=run_id, n_natural=add_natural_pairs(con, run_id))
            else:
                if backend.model == SERVED_MODEL:  # the embedded 135M model on CPU: for trying the flow
                    for name, value in EMBEDDED.items():  # where no option or environment variable set it
                        if name not in settings.model_fields_set:
                            setattr(settings, name, value)
                judge = CachedJudge(backend, DuckCallStore(con, run_id))
                verifier = pair_verifier(settings, judge_settings, DuckCallStore(con, run_id))
                result = synthesize_pairs(con, judge, run_id, settings, verifier)
                result.calls = call_summary(judge)
                result.failure = judge.counts.failure("pairs", judge_settings.max_failed_share)
                if verifier is not None and not result.failure:
                    result.failure = verifier.counts.failure("pair verification", judge_settings.max_failed_share)
    finally:
        con.close()
    if result.failure:
        raise StageFailed(f"{result.failure}; {result.n_kept} pairs kept, {result.n_pending} seeds wait for the "
                          "next run", result.__dict__)
    return result.__dict__
