"""`rmcurate review`: people review the labels on the home's own traffic (docs/labels.md, "Review").

    rmcurate review                  serve the page (fills the queue first when it is empty)
    rmcurate review queue -n 200     add items to the queue, by strategy
    rmcurate review export FILE      the queue as .jsonl, .csv or Label Studio tasks (.json)
    rmcurate review import FILE      reviews made elsewhere, from the same formats
"""
from pathlib import Path
from typing import Annotated

import typer

from rmcurate.cli.common import Home, fail, home_of, open_warehouse, out

app = typer.Typer(no_args_is_help=False, invoke_without_command=True)

DEFAULT_SHARES = "random=0.4,uncertain=0.2,disagree=0.2,similar=0.2"
Reviewer = Annotated[str, typer.Option(help="Who is reviewing (stored with each review).", envvar="USER")]
Shares = Annotated[str, typer.Option("--strategies", help="Share of each queue strategy: random (the unbiased "
                                     "measure), uncertain, disagree, similar.")]


def _version() -> str:
    from rmcurate.stages.label import PIPELINE_VERSION

    return PIPELINE_VERSION


def _fill(root: Path, n: int, strategies: str, seed: int) -> dict[str, int]:
    from rmcurate.warehouse.reviews import ReviewError, fill, shares

    try:
        weights = shares(strategies)
    except ReviewError as e:
        fail(str(e))
    embed = None
    if weights.get("similar"):
        from rmcurate.rules.feedback.embed import Embedder, missing

        embed = None if missing() else Embedder()
    con = open_warehouse(root)
    try:
        return fill(con, n, _version(), weights, seed, embed)
    finally:
        con.close()


def _say_queued(queued: dict[str, int]) -> None:
    out.print(f"queued {sum(queued.values())} items: " + (", ".join(f"{k} {v}" for k, v in queued.items()) or "none "
              "(every labelled item is queued or reviewed)"), soft_wrap=True)


@app.callback()
def review(ctx: typer.Context,
           host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs --token.")] = "127.0.0.1",
           port: Annotated[int, typer.Option(help="Port (0: any free one).")] = 8765,
           token: Annotated[str | None, typer.Option(help="Access token a non-loopback bind requires in the URL. "
                                                     "[default: $RMCURATE_REVIEW_TOKEN]", show_default=False)] = None,
           raw: Annotated[bool, typer.Option("--raw", help="Show text unscrubbed (loopback binds only).")] = False,
           reviewer: Reviewer = "reviewer", strategies: Shares = DEFAULT_SHARES,
           fill_n: Annotated[int, typer.Option("--fill", help="Items to queue when the queue is empty.")] = 100,
           home: Home = None):
    """Review labels by hand on a local page, to measure and teach the label stage on your own traffic.

    A session: `rmcurate review --reviewer ana` queues --fill items when the queue is empty (by --strategies: random is the unbiased measure; uncertain, disagree and similar find the labels most likely wrong) and serves http://127.0.0.1:8765/. The page shows one item at a time: the prompt, the reply, the user's follow-up, the history folded, the current label with its method and confidence (text scrubbed as in exports unless --raw). Keys: 1-5 choose a category, s skips, n adds a note (Enter keeps it for the next key), u undoes the last review. Ctrl-C stops.

    What it changes: reviews go to the `reviews` table and never overwrite `feedback_labels`; the ordinal export reads a reviewed item's latest category first (its card says how many); the report's review section measures cues, first pass and judge on the random-draw reviews; `rmcurate judge first-pass` trains on the reviews and `rmcurate judge eval` scores on them, beside the dev set. Teams annotating elsewhere use `review export` and `review import` (docs/labels.md, "Review")."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = home or ctx.obj
        return
    from rmcurate.settings import ReviewSettings
    from rmcurate.stages.review import serve
    from rmcurate.warehouse.reviews import ReviewError, remaining

    token = token or ReviewSettings().token or None
    root = home_of(ctx, home)
    con = open_warehouse(root)
    try:
        left = remaining(con, reviewer)
    finally:
        con.close()
    if left == 0:
        _say_queued(_fill(root, fill_n, strategies, 0))
    try:
        serve(root, reviewer, host, port, raw, token,
              ready=lambda url: out.print(f"review page: {url} (Ctrl-C to stop)", soft_wrap=True))
    except ReviewError as e:
        fail(str(e))
    except OSError as e:
        fail(f"cannot serve on {host}:{port}: {e.strerror or e}", code=1)
    except KeyboardInterrupt:
        pass


@app.command()
def queue(ctx: typer.Context, n: Annotated[int, typer.Option("-n", help="Items to add.")] = 100,
          strategies: Shares = DEFAULT_SHARES, seed: int = 0, home: Home = None):
    """Add items to the review queue, each strategy its share (what one cannot fill, random fills)."""
    _say_queued(_fill(home_of(ctx, home), n, strategies, seed))


@app.command("export")
def export_(ctx: typer.Context, path: Annotated[Path, typer.Argument(help="FILE.jsonl, FILE.csv or FILE.json "
                                                                    "(Label Studio tasks)")],
            reviewer: Reviewer = "", home: Home = None):
    """Write the queue (what `--reviewer` has not reviewed) for annotation in another tool."""
    from rmcurate.warehouse.reviews import export_queue

    con = open_warehouse(home_of(ctx, home))
    try:
        n = export_queue(con, path, reviewer)
    finally:
        con.close()
    out.print(f"{n} items written to {path}", soft_wrap=True)


@app.command("import")
def import_(ctx: typer.Context, path: Annotated[Path, typer.Argument(help="FILE.jsonl, FILE.csv (item_id, category "
                                                                     "1-5 or empty to skip, note, reviewer) or a Label "
                                                                     "Studio export (.json)")],
            reviewer: Reviewer = "imported", home: Home = None):
    """Store reviews made elsewhere; each names its item_id (`rmcurate review export` wrote them)."""
    from rmcurate.warehouse.reviews import ReviewError, import_reviews

    con = open_warehouse(home_of(ctx, home))
    try:
        n = import_reviews(con, path, reviewer, _version())
    except ReviewError as e:
        fail(str(e), code=1)
    finally:
        con.close()
    out.print(f"{n} reviews imported from {path}", soft_wrap=True)
