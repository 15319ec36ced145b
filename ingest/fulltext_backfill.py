"""`ingest fulltext`: choose stored articles whose page is wanted and run the page worker on them.

Articles stored before full text was enabled (or while it was off) have no page state;
the same pure decision as for a poll (`needs_page`) picks those whose feed text is cut.
An article whose page was fetched is never fetched again; failed ones only on request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from ingest.db import Database
from ingest.fetch import Fetcher, FetchLimits
from ingest.fulltext import PageOutcome, PageWorker
from ingest.pagepolicy import effective_mode, needs_page
from ingest.pagestore import iter_page_candidates, mark_pending_ids, page_counts
from ingest.settings import Settings

_BATCH = 500


def queue_backfill(
    engine: Engine,
    settings: Settings,
    since: datetime | None = None,
    feed_url: str | None = None,
    *,
    retry_failed: bool = False,
) -> int:
    """Mark the chosen articles "page pending"; how many pages are pending now."""
    batch: list[int] = []
    for candidate in iter_page_candidates(engine, since, feed_url, retry_failed=retry_failed):
        waiting = candidate.retry_at is not None  # a transient failure, tried again later
        if candidate.page_status == "pending" and not (retry_failed and waiting):
            continue
        mode = effective_mode(candidate.feed_mode, settings.fulltext.mode)
        if needs_page(
            mode, candidate.url, candidate.summary, candidate.content, settings.fulltext.min_chars
        ):
            batch.append(candidate.id)
        if len(batch) >= _BATCH:
            mark_pending_ids(engine, batch)
            batch = []
    if batch:
        mark_pending_ids(engine, batch)
    return sum(counts.pending for counts in page_counts(engine).values())


async def fetch_pending_pages(
    settings: Settings,
    limits: FetchLimits,
    flagger: Callable[[], Any],
    on_outcome: Callable[[PageOutcome], None] | None = None,
) -> None:
    """Fetch, extract and match every pending page, then return."""
    from ingest.db import create_db_engine

    db = Database(create_db_engine(settings.database))
    try:
        async with Fetcher(limits) as fetcher:
            worker = PageWorker(
                fetcher,
                db,
                settings.fulltext,
                settings.http.user_agent,
                flagger=flagger,
                clock=lambda: datetime.now(UTC),
                on_outcome=on_outcome,
            )
            worker.start()
            try:
                await worker.drain()
            finally:
                await worker.stop(0)
    finally:
        await asyncio.get_running_loop().run_in_executor(None, db.close)
