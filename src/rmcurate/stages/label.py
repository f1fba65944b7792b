"""The WildReward stage: from each reply's next user message to an ordinal label.

Steps, in order (each drop is stored with its step and reason):
  language -> history length -> reply length -> feedback length -> token budget
  -> PII -> topic -> prefilter (cues, prefilter, learned first pass) -> judge -> refusal check
  -> mining -> neutral -> ordinal
The cheap deterministic filters run before the judge, so dropped turns cost no
call (WildReward runs them after; the one difference is that a dropped turn
cannot lend its label to an earlier neutral one in mining).

Incremental: a run reads the conversations ingested above this version's watermark
(label_watermarks) and those in label_backlog, a batch of whole conversations at a
time, each batch committed on its own; of those, only turns without a label are labelled.
A turn whose judge call failed gets no label and its conversation goes to the backlog, so
the next run retries it; one whose call was rejected (a 4xx, or failed too many runs
running) is dropped with that reason.
"""
import hashlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from rmcurate.judges.cache import CachedJudge
from rmcurate.prompts.fields import cut
from rmcurate.prompts.templates import load
from rmcurate.rules.feedback.cues import cue
from rmcurate.rules.feedback.first_pass import FirstPass, features, model_path
from rmcurate.rules.feedback.labels import NEUTRAL, ordinal, parse_category
from rmcurate.rules.feedback.mining import mine
from rmcurate.rules.feedback.prefilter import obviously_neutral
from rmcurate.rules.feedback.refusal import VERDICTS, looks_like_refusal
from rmcurate.rules.feedback.screen import STEPS as SCREEN_STEPS
from rmcurate.rules.feedback.screen import screen
from rmcurate.schemas.feedback import FeedbackJudgement, FeedbackLabel, FunnelStep
from rmcurate.schemas.tables import TABLES
from rmcurate.settings import LabelSettings
from rmcurate.stages.common import EMBEDDED_FIELD_MAX_CHARS, StageFailed, call_summary  # noqa: F401 - callers import StageFailed from here
from rmcurate.stages.progress import StageProgress
from rmcurate.warehouse.feedback import (advance_watermark, greetings_of, insert_models, latest_ingest,
                                         pending_conversations, turns_of, write_batch)

# Bump when a step's logic changes: every turn is then labelled again (judge answers come from the cache).
PIPELINE_VERSION = "wildreward-2"

SETTLED = ("cue", "prefiltered", "first_pass")  # the methods that save a judge call

# The precision the first pass must have shown, out of fold, for a category before it answers it:
# against "neutral" it only adds; against a judge it replaces a better reader, so it takes the easy cases.
FIRST_PASS_PRECISION = {"neutral": 0.6, "judge": 0.9}


def audited(turn: dict, settings: LabelSettings) -> bool:
    """Is this turn, settled without the judge, one of the `audit_share` also put to the judge? Only with
    a judge in use; the same turns every run (a hash of the item id), so the report's figure is stable."""
    if settings.undecided != "judge" or not settings.audit_share or turn.get("method") not in SETTLED:
        return False
    digest = hashlib.blake2b(turn["item_id"].encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < settings.audit_share * 2 ** 64


def first_pass_precision(settings: LabelSettings) -> float:
    if settings.first_pass_precision is not None:
        return settings.first_pass_precision
    return FIRST_PASS_PRECISION[settings.undecided]


# With the embedded 135M judge, for the settings nobody set (by option or environment):
EMBEDDED = {
    "field_max_chars": EMBEDDED_FIELD_MAX_CHARS,  # short texts keep a CPU run in minutes
    # On the judge dev set (judges/gold) the 135M model answers "clear rejection" for nearly
    # every follow-up (macro-F1 0.01), below always-neutral: what no cue settles stays neutral.
    "undecided": "neutral",
    # Nor does it overrule labels as the refusal judge: on the sample it called
    # "I'm sorry, I'm not sure what you mean by X" a right refusal of a harmful request.
    "refusal_check": False,
}


def embedded_defaults(settings: LabelSettings) -> LabelSettings:
    for name, value in EMBEDDED.items():
        if name not in settings.model_fields_set:
            setattr(settings, name, value)
    return settings


@dataclass
class Funnel:
    steps: list[str]
    n_in: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)

    def add(self, step: str, n_in: int = 0, dropped: int = 0, changed: int = 0):
        self.n_in[step] = self.n_in.get(step, 0) + n_in
        self.dropped[step] = self.dropped.get(step, 0) + dropped
        self.changed[step] = self.changed.get(step, 0) + changed

    def rows(self, run_id: str) -> list[FunnelStep]:
        return [FunnelStep(run_id=run_id, step_index=i, step=s, n_in=self.n_in.get(s, 0),
                           n_dropped=self.dropped.get(s, 0), n_changed=self.changed.get(s, 0),
                           n_out=self.n_in.get(s, 0) - self.dropped.get(s, 0)) for i, s in enumerate(self.steps)]


# "greeting" comes first: replies before any user message, followed by one, are counted there as
# dropped; they are not turns (warehouse/sql/turns.sql), so no label row stands for them.
STEPS = ["greeting", *SCREEN_STEPS, "prefilter", "judge", "mining", "refusal check", "neutral", "ordinal"]


@dataclass
class Prepared:
    """One batch of turns ready for its judge calls (Labeller.prepare)."""
    turns: list[dict]
    alive: list[dict]  # past the filters
    to_judge: list[dict]  # what no cue settled
    requests: list  # their judge requests, in order, then those of `audits`
    labels: list  # drops not yet handed over
    audits: list[dict] = field(default_factory=list)  # settled without the judge, asked anyway to measure that


@dataclass
class LabelResult:
    run_id: str
    funnel: list[FunnelStep]
    n_labelled: int = 0
    n_kept: int = 0
    n_pending: int = 0  # judge failed: no label yet, retried next run
    calls: dict = field(default_factory=dict)  # judge calls sent and failed, failures by error
    n_left: int = 0  # pending conversations a bounded run did not reach: the next run starts with them
    failure: str | None = None  # set when too many calls failed: the stage exits non-zero
    notes: list[str] = field(default_factory=list)  # steps that could not run here, and why


class Labeller:
    """Runs the steps over one batch of turns; `judge` answers, `embed` serves mining."""

    def __init__(self, judge: CachedJudge, embed, settings: LabelSettings, run_id: str, decided=None,
                 screener: Callable[[list[dict]], list] | None = None, first_pass: FirstPass | None = None):
        self.judge, self.embed, self.s, self.run_id = judge, embed, settings, run_id
        # The learned first pass answers what the cues miss where it is confident; None: not used.
        self.first_pass = first_pass if settings.first_pass else None
        # Called with the labels the filters settle, before any judge call: a hanging judge must
        # not hold back what needs no judge.
        self.decided = decided
        # Language and rule filters for a list of turns; flows/scaleout.py spreads it over workers.
        self.screener = screener or partial(screen, settings=settings)
        self.template = load(settings.template)
        self.refusal_template = load("refusal_check")
        self.funnel = Funnel(STEPS)

    def _label(self, t: dict, **kw) -> FeedbackLabel:
        base = dict(item_id=t["item_id"], conversation_id=t["conversation_id"], language=t.get("lang"),
                    pipeline_version=PIPELINE_VERSION, run_id=self.run_id, labeled_at=datetime.now(UTC))
        return FeedbackLabel(**{**base, **kw})

    def _drop(self, out: list, t: dict, step: str, reason: str, method: str = "filtered", **kw):
        out.append(self._label(t, kept=False, drop_step=step, drop_reason=reason, method=method, **kw))

    def _requests(self, template, turns: list[dict]) -> list:
        n = self.s.field_max_chars
        return [template.render(**{f: cut(t.get(f), n) for f in template.fields}) for t in turns]

    def _answers(self, template, turns: list[dict], requests: list, results: list, kind: str,
                 judgements: list) -> list:
        """Each turn's (parsed answer, probs, confidence), or None where the call failed."""
        answers = []
        for t, req, r in zip(turns, requests, results):
            if r.status == "rejected":  # never answerable (a 4xx, or failed runs running): a drop, not a wait
                t["rejected"] = r.error
                answers.append((None, None, None))
                continue
            if not r.ok:
                answers.append(None)
                continue
            parsed = parse_category(r.text, template.choices or ("1", "2", "3", "4", "5"))
            if kind == "refusal":
                parsed = int(r.text.strip()) if r.text and r.text.strip() in ("0", "1", "2") else None
            probs = r.choice_probs(template.choices) if template.choices else None
            conf = probs.get(str(parsed)) if probs and parsed is not None else None
            judgements.append(FeedbackJudgement(
                item_id=t["item_id"], kind=kind, judge_model=self.judge.model, template=template.name,
                template_version=template.version, call_key=r.key, raw_category=parsed, category_probs=probs,
                confidence=conf, from_cache=r.cached, run_id=self.run_id, judged_at=datetime.now(UTC)))
            answers.append((parsed, conf, probs))
        return answers

    def _ask(self, template, turns: list[dict], kind: str, judgements: list) -> list:
        requests = self._requests(template, turns)
        return self._answers(template, turns, requests, self.judge.run(requests), kind, judgements)

    def decide_without_judge(self, turns: list[dict]) -> list[dict]:
        """Cues, prefilter and the first pass settle what they can (and, with undecided=neutral, the
        rest); returns the turns left for the judge."""
        open_ = []
        for t in turns:
            found = cue(t["feedback"]) if self.s.cues else None
            rule = obviously_neutral(t["feedback"]) if self.s.prefilter and not found else None
            if found:
                t.update(category=found[0], method="cue", rule=found[1], confidence=None)
            elif rule:
                t.update(category=NEUTRAL, method="prefiltered", rule=rule, confidence=None)
            else:
                open_.append(t)
        if self.first_pass is not None and open_:
            answers = self.first_pass.answers(features(open_, self.embed), first_pass_precision(self.s))
            for t, answer in zip(open_, answers):
                if answer:
                    t.update(category=answer[0], method="first_pass", rule=None, confidence=answer[1])
            open_ = [t for t, answer in zip(open_, answers) if not answer]
        to_judge = []
        for t in open_:
            if self.s.undecided == "neutral":
                t.update(category=NEUTRAL, method="undecided", rule=None, confidence=None)
            else:
                to_judge.append(t)
        self.funnel.add("prefilter", len(turns), 0, len(turns) - len(to_judge))
        return to_judge

    def apply_judge(self, to_judge: list[dict], requests: list, results: list, judgements: list) -> set[str]:
        """The judge's answers onto its turns; returns the item ids whose call failed."""
        pending = set()
        for t, answer in zip(to_judge, self._answers(self.template, to_judge, requests, results, "feedback",
                                                     judgements)):
            if answer is None:
                pending.add(t["item_id"])
            elif answer[0] is None:
                t.update(category=None, method="judged")
            else:
                t.update(category=answer[0], method="judged", confidence=answer[1], probs=answer[2])
        return pending

    def categorise(self, turns: list[dict], judgements: list) -> set[str]:
        """Set each turn's 1-5 `category` and `method`: cue, prefilter, judge, or neutral when undecided.

        Returns the item ids whose judge call failed (no category yet). `rmcurate
        judge eval` runs this same step on a gold file.
        """
        to_judge = self.decide_without_judge(turns)
        requests = self._requests(self.template, to_judge)
        return self.apply_judge(to_judge, requests, self.judge.run(requests), judgements)

    def prepare(self, turns: list[dict]) -> "Prepared":
        """A batch up to its judge calls: screened (drops handed to `decided`), cues applied, the
        judge's requests rendered. Needs no judge: the stage prepares the next batch while this
        one's calls are out."""
        labels: list[FeedbackLabel] = []
        for t, answer in zip(turns, self.screener(turns)):
            t["lang"], t["screened"] = answer.lang, answer
        alive = turns
        for step in SCREEN_STEPS:  # the funnel counts what each step saw and dropped, in order
            for t in alive:
                if t["screened"].step == step:
                    self._drop(labels, t, step, t["screened"].reason)
            survivors = [t for t in alive if t["screened"].step != step]
            self.funnel.add(step, len(alive), len(alive) - len(survivors))
            alive = survivors
        if self.decided and labels:
            self.decided(labels)
            labels = []
        to_judge = self.decide_without_judge(alive)
        audits = [t for t in alive if audited(t, self.s)]
        return Prepared(turns, alive, to_judge, self._requests(self.template, to_judge + audits), labels, audits)

    def finish(self, batch: "Prepared", results: list) -> tuple[list[FeedbackJudgement], list[FeedbackLabel], set[str]]:
        """A prepared batch with its judge results: mining, refusal check, neutral drop, ordinal labels."""
        judgements: list[FeedbackJudgement] = []
        labels, turns, alive, f = batch.labels, batch.turns, batch.alive, self.funnel
        n = len(batch.to_judge)
        pending = self.apply_judge(batch.to_judge, batch.requests[:n], results[:n], judgements)
        # An audit's answer is stored beside the label it checks and changes nothing; a failed one is not retried.
        self._answers(self.template, batch.audits, batch.requests[n:], results[n:], "audit", judgements)
        judged = [t for t in alive if t["item_id"] not in pending]
        for t in [t for t in judged if t.get("category") is None]:
            reason = f"judge gave up: {t['rejected']}" if t.get("rejected") else "unparseable judge answer"
            self._drop(labels, t, "judge", reason, method="judged")
        judged = [t for t in judged if t.get("category") is not None]
        f.add("judge", len(alive), len(alive) - len(judged))  # pending ones count as dropped for this run
        alive = judged

        by_conv: dict[str, list[dict]] = {}
        for t in alive:
            by_conv.setdefault(t["conversation_id"], []).append(t)
        index = {t["item_id"]: t for t in alive}
        # WildReward's order: mine neutral items first, then check refusals.
        mined = [] if self.embed is None else mine(  # no embedder (no ml extra): no mining
            [[(t["item_id"], t["category"], t["feedback"], t["turn_index"]) for t in conv] for conv in by_conv.values()],
            self.embed, self.s.lookahead, self.s.mining_threshold)
        for m in mined:
            t = index[m.item_id]
            t.update(category=m.category, method="mined", mined_from=m.source_item_id,
                     confidence=index[m.source_item_id].get("confidence"))
        f.add("mining", len(alive), 0, len(mined))

        checks = [t for t in alive if self.s.refusal_check and looks_like_refusal(t["response"])]
        changed = 0
        for t, answer in zip(checks, self._ask(self.refusal_template, checks, "refusal", judgements)):
            if answer is None:
                pending.add(t["item_id"])
            elif answer[0] is not None and VERDICTS[str(answer[0])] is not None:
                t.update(category=VERDICTS[str(answer[0])], method="refusal_checked", confidence=answer[1])
                changed += 1
        # A neutral turn could still be mined from a later turn whose call failed: it waits with
        # that turn for the next run (its own judge answer is cached, so waiting costs no call).
        waiting = {t["conversation_id"] for t in turns if t["item_id"] in pending}
        held = {t["item_id"] for t in alive if t["conversation_id"] in waiting and t["category"] == NEUTRAL}
        pending |= held
        n_in = len(alive)
        alive = [t for t in alive if t["item_id"] not in pending]
        f.add("refusal check", n_in, n_in - len(alive), changed)

        kept = []
        for t in alive:
            if t["category"] == NEUTRAL:
                self._drop(labels, t, "neutral", "neutral feedback", method=t["method"], category=NEUTRAL,
                           mined_from=t.get("mined_from"), confidence=t.get("confidence"), rule=t.get("rule"))
            else:
                kept.append(t)
        f.add("neutral", len(alive), len(alive) - len(kept))
        for t in kept:
            labels.append(self._label(t, category=t["category"], label=ordinal(t["category"]), kept=True,
                                      method=t["method"], mined_from=t.get("mined_from"),
                                      confidence=t.get("confidence"), rule=t.get("rule")))
        f.add("ordinal", len(kept))
        return judgements, labels, pending


def judge_for_thread(judge: CachedJudge) -> CachedJudge | None:
    """The same judge on its own cache connection, to send calls from a second thread; None when its
    store cannot give one (the stage then sends each batch's calls in turn)."""
    twin = getattr(judge.store, "for_thread", None)
    return CachedJudge(judge.backend, twin()) if twin else None


def label_feedback(con, judge: CachedJudge, run_id: str, settings: LabelSettings | None = None,
                   embed=None, screener=None, first_pass: FirstPass | None = None) -> LabelResult:
    """Label every turn that has no label for PIPELINE_VERSION yet. `first_pass`: the learned model
    (default: the one shipped, when the settings use one)."""
    settings = settings or LabelSettings()
    result = LabelResult(run_id=run_id, funnel=[])
    if embed is None:
        from rmcurate.rules.feedback.embed import Embedder, missing
        if why := missing():  # a core install labels through the judge; mining and the first pass need MiniLM
            result.notes.append(f"mining and the learned first pass are off: {why}")
        else:
            embed = Embedder()
    if embed is None:
        first_pass = None
    elif first_pass is None and settings.first_pass:
        first_pass = load_first_pass(None, settings)

    def write(judgements: list, labels: list) -> None:
        write_batch(con, judgements, labels)
        result.n_labelled += len(labels)
        result.n_kept += sum(lab.kept for lab in labels)

    labeller = Labeller(judge, embed, settings, run_id, decided=lambda labels: write([], labels), screener=screener,
                        first_pass=first_pass)
    mark = latest_ingest(con)  # what this run reads up to; the watermark moves there when it is done
    conversations = pending_conversations(con, PIPELINE_VERSION)
    # A bounded run (a first night over a large backfill): what it does not reach waits in the backlog.
    if settings.max_conversations:
        conversations, left = conversations[:settings.max_conversations], conversations[settings.max_conversations:]
    else:
        left = []
    backlog: set[str] = set()
    step = settings.batch_conversations
    batches = iter([conversations[i:i + step] for i in range(0, len(conversations), step)])
    deadline = time.monotonic() + settings.max_minutes * 60 if settings.max_minutes else None

    def prepare_next() -> tuple[list[str], Prepared] | None:
        batch = next(batches, None)
        if batch is not None and deadline is not None and time.monotonic() > deadline:
            left.extend(batch)
            for rest in batches:
                left.extend(rest)
            batch = None
        if batch is None:
            return None
        turns = turns_of(con, batch, PIPELINE_VERSION)
        greetings = greetings_of(con, batch)
        labeller.funnel.add("greeting", len(turns) + greetings, greetings)
        return batch, labeller.prepare(turns)

    # The judge is kept busy: up to `batches_ahead` batches are prepared and their calls sent (on a second
    # cache connection, from a thread) while the stage finishes an earlier one (mining, refusal checks, writes).
    ahead = judge_for_thread(judge)
    progress = StageProgress("label_feedback", "conversations", len(conversations))
    with progress.watching(judge, *([ahead] if ahead else [])), ThreadPoolExecutor(1, "judge-ahead") as pool:
        def send(prepared: Prepared) -> Future:
            if ahead is None:
                done: Future = Future()
                done.set_result(judge.run(prepared.requests))
                return done
            return pool.submit(ahead.run, prepared.requests)

        if conversations and hasattr(embed, "warm"):
            embed.warm()  # start-up paid once, before the first call, not while the judge waits on mining
        out: deque = deque()  # (batch, prepared, its calls), oldest first

        def fill(n: int) -> None:
            while len(out) < n and (nxt := prepare_next()) is not None:
                out.append((*nxt, send(nxt[1])))

        # Batches are prepared ahead only to keep a judge busy. A run that asks none (the embedded defaults)
        # finishes each batch before the next: 4 batches' features ahead held its first labels back 40 s.
        asks = settings.undecided == "judge" or settings.refusal_check
        target = settings.batches_ahead if ahead and asks else 0
        fill(max(1, target))
        while out:
            batch, prepared, calls = out.popleft()
            results = calls.result()
            fill(target)  # the next calls go out before this batch is finished
            judgements, labels, pending = labeller.finish(prepared, results)
            write(judgements, labels)
            result.n_pending += len(pending)
            backlog |= {t["conversation_id"] for t in prepared.turns if t["item_id"] in pending}
            progress.advance(len(batch))
            fill(1)  # nothing ahead: the next batch now
    if ahead is not None:
        judge.counts.add(ahead.counts)
        ahead.store.con.close()
    advance_watermark(con, PIPELINE_VERSION, mark, backlog | set(left), run_id)
    result.n_left = len(left)
    if left:
        result.notes.append(f"{len(left):,} conversations left for the next run (max_conversations / max_minutes)")
    result.calls = call_summary(judge)
    result.funnel = labeller.funnel.rows(run_id)
    insert_models(con, TABLES.feedback_funnel, result.funnel)
    return result


def load_first_pass(home, settings: LabelSettings) -> FirstPass | None:
    """The model the settings name, else the home's own, else the shipped one; None when off."""
    if not settings.first_pass:
        return None
    from pathlib import Path

    return FirstPass.load(Path(settings.first_pass_model) if settings.first_pass_model else model_path(home))


def label_with_judge(home, run_id: str, settings: LabelSettings | None = None, judge_settings=None,
                     screener_for: Callable[[LabelSettings], Callable] | None = None, embed=None) -> dict:
    """Open the warehouse and the configured judge (or the embedded one), and label.

    `screener_for(settings)` and `embed`: the language and rule filters and mining's embedder when
    they run elsewhere (the flow passes Dask-partitioned ones, flows/scaleout.py); None: here.
    """
    from rmcurate.settings import JudgeSettings
    from rmcurate.warehouse import connect
    from rmcurate.warehouse.feedback import label_histogram
    from rmcurate.warehouse.snapshot import standin_while_writing

    settings = settings or LabelSettings()
    judge_settings = judge_settings or JudgeSettings()
    first_pass = load_first_pass(home, settings)  # a bad model file stops the stage before it writes
    con = connect(home)
    try:
        with standin_while_writing(con, home):  # on a home never snapshotted, what queries answer from meanwhile
            result = _label_or_nothing(home, con, run_id, settings, judge_settings, screener_for, embed, first_pass)
        histogram = [{"label": lab, "turns": n} for lab, n in label_histogram(con)]
    finally:
        con.close()
    out = {"run_id": run_id, "funnel": result.funnel, "n_labelled": result.n_labelled, "n_kept": result.n_kept,
           "n_pending": result.n_pending, "n_left": result.n_left, "histogram": histogram, "calls": result.calls,
           "failure": result.failure, "notes": result.notes}
    if result.failure:
        raise StageFailed(f"{result.failure}; {result.n_labelled} turns labelled, {result.n_pending} wait for "
                          "the next run", out)
    return out


def _label_or_nothing(home, con, run_id, settings, judge_settings, screener_for, embed, first_pass) -> LabelResult:
    """Label what is pending; with nothing pending, start no judge."""
    from rmcurate.judges.backends import judge_backend
    from rmcurate.judges.embedded import SERVED_MODEL
    from rmcurate.warehouse.judge_calls import DuckCallStore

    if not pending_conversations(con, PIPELINE_VERSION):
        result = LabelResult(run_id=run_id, funnel=Funnel(STEPS).rows(run_id))
        insert_models(con, TABLES.feedback_funnel, result.funnel)
        return result
    # The embedded judge starts only when a call needs it: with its defaults (what no cue settles counts
    # neutral, no refusal check) the stage sends none, and a night's labels do not wait a minute for vLLM.
    with judge_backend(home, judge_settings, lazy=True) as backend:
        if backend.model == SERVED_MODEL:
            embedded_defaults(settings)
        judge = CachedJudge(backend, DuckCallStore(con, run_id))
        screener = screener_for(settings) if screener_for else None
        result = label_feedback(con, judge, run_id, settings, screener=screener, embed=embed, first_pass=first_pass)
        result.failure = judge.counts.failure("label", judge_settings.max_failed_share)
    return result
