"""`ingest fulltext`: fetch and extract article pages for stored entries whose text is cut."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ingest.cli_common import (
    ConfigOption,
    VerboseOption,
    console,
    errors_as_exit_codes,
    parse_since,
    settings_for,
    setup_logging,
)
from ingest.db import check_schema, create_db_engine
from ingest.fulltext import PageOutcome


def fulltext_command(
    since: Annotated[
        str | None, typer.Option(help="articles seen or published since (date or 7d)")
    ] = None,
    feed: Annotated[str | None, typer.Option("--feed", help="only this feed (its URL)")] = None,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="also fetch again pages that failed, and those waiting to be retried",
        ),
    ] = False,
    config: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Fetch article pages of stored entries whose feed text is cut, extract and match them."""
    from ingest.daemon import fetch_limits
    from ingest.flagging import WatchlistFlaggers
    from ingest.fulltext_backfill import fetch_pending_pages, queue_backfill

    settings = settings_for(config)
    setup_logging(settings, verbose, quiet=not verbose)  # failures are summed up at the end
    engine = create_db_engine(settings.database)
    with errors_as_exit_codes(verbose):
        check_schema(engine)
        pending = queue_backfill(
            engine, settings, parse_since(since), feed, retry_failed=retry_failed
        )
        engine.dispose()
        # Flags found on old articles' pages are recorded as alerted: no burst of alerts.
        flaggers = WatchlistFlaggers.load(settings, pre_alerted=True)
        outcomes: Counter[str] = Counter()
        flags = 0
        with Progress(
            TextColumn("pages"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=console, transient=True,
        ) as bar:  # fmt: skip
            task = bar.add_task("pages", total=pending)

            def done(outcome: PageOutcome) -> None:
                nonlocal flags
                kind = outcome.failure or outcome.status
                retrying = outcome.status == "retrying"
                outcomes[f"{kind} (tried again later)" if retrying else kind] += 1
                flags += outcome.flags
                bar.advance(task, 1)

            asyncio.run(
                fetch_pending_pages(settings, fetch_limits(settings), flaggers.current, done)
            )
    fetched = outcomes.pop("fetched", 0)
    failed = ", ".join(f"{kind} {n}" for kind, n in sorted(outcomes.items()))
    console.print(
        f"{pending} pages pending: {fetched} fetched, {flags} new flags"
        + (f"; failed: {escape(failed)}" if failed else "")
    )
