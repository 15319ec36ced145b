"""Poll one feed, top to bottom: fetch → parse → dedupe → match → store, and record the outcome.

The decisions (what the feed's next state is) are pure functions below `poll_feed`;
`poll_feed` only sequences the stages and the I/O.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, Protocol

from ingest.db import Database
from ingest.dedupe import ArticlePlan, StoredKey, lookup_keys, plan_articles
from ingest.errors import FetchError, ParseError
from ingest.feedstore import GONE, FeedState
from ingest.prepare import ShippedWatchlist
from ingest.records import FeedRequest, FetchedFeed, ParsedFeed
from ingest.schedule import (
    IntervalHints,
    error_delay,
    jittered,
    retry_after_delay,
    success_interval,
    validators_stale,
)
from ingest.settings import PollingSettings
from ingest.store import FeedUpdate, FetchEvent, StoredArticle, load_article_keys, write_poll

log = logging.getLogger("ingest.poll")


class FeedFetcher(Protocol):
    async def fetch(self, req: FeedRequest, *, conditional: bool = True) -> FetchedFeed: ...


class FeedParser(Protocol):
    async def parse(
        self,
        body: bytes,
        *,
        url: str,
        content_type: str | None,
        watchlist: ShippedWatchlist | None = None,
    ) -> ParsedFeed | ParseError: ...


class Flagger(Protocol):
    """The watchlist stage: decides flags for written articles, inside the poll's transaction."""

    def write_flags(self, conn: Any, stored: Sequence[StoredArticle]) -> int: ...


class PageSink(Protocol):
    """The full-text stage (`ingest.fulltext`): marks articles whose page is wanted inside
    the poll's transaction, and takes their ids after the commit (never blocking)."""

    def mark_pending(
        self, conn: Any, feed_id: int, stored: Sequence[StoredArticle]
    ) -> list[int]: ...

    def offer(self, article_ids: Sequence[int]) -> None: ...


@dataclass
class PollContext:
    fetcher: FeedFetcher
    parser: FeedParser
    db: Database
    polling: PollingSettings
    flagger: Callable[[], Flagger | None] = lambda: None
    # The current watchlist, for matching beside the parse (ingest.prepare).
    watchlist: Callable[[], ShippedWatchlist | None] = lambda: None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    rng: random.Random = field(default_factory=random.Random)
    pages: PageSink | None = None


@dataclass(frozen=True, slots=True)
class PollReport:
    feed_id: int
    url: str
    outcome: str  # stored | not_modified | unchanged | error | gone
    status: int | None
    new: int = 0
    updated: int = 0
    flags: int = 0
    error: str | None = None
    seconds: float = 0.0
    next_poll_at: datetime | None = None
    stored: tuple[StoredArticle, ...] = ()


async def poll_feed(feed: FeedState, ctx: PollContext) -> PollReport:
    started = ctx.clock()
    conditional = not validators_stale(feed.not_modified_since, started, ctx.polling)
    request = FeedRequest(feed.url, feed.etag, feed.last_modified, allow_private=feed.allow_private)
    try:
        fetched = await ctx.fetcher.fetch(request, conditional=conditional)
    except FetchError as exc:
        return await _record(
            feed, ctx, started, failed(feed, started, ctx, None, f"{exc.kind}: {exc}")
        )

    if fetched.status == HTTPStatus.NOT_MODIFIED:
        return await _record(feed, ctx, started, not_modified(feed, fetched, started, ctx))
    if fetched.status == HTTPStatus.GONE:
        return await _record(feed, ctx, started, gone(feed, fetched, started))
    if not 200 <= fetched.status < 300 or fetched.status == HTTPStatus.NO_CONTENT:
        error = f"HTTP {fetched.status} {_reason(fetched.status)}"
        return await _record(feed, ctx, started, failed(feed, started, ctx, fetched, error))

    body_hash = hashlib.sha256(fetched.body).hexdigest()
    if body_hash == feed.body_hash:
        return await _record(feed, ctx, started, unchanged(feed, fetched, started, ctx))

    parsed = await ctx.parser.parse(
        fetched.body,
        url=fetched.final_url,
        content_type=fetched.content_type,
        watchlist=ctx.watchlist(),
    )
    if isinstance(parsed, ParseError):
        return await _record(
            feed, ctx, started, failed(feed, started, ctx, fetched, f"parse: {parsed}")
        )

    known: list[StoredKey] = []
    if feed.body_hash is not None:  # else nothing of this feed was ever stored: no lookup
        guids, links, contents = lookup_keys(parsed.entries, parsed.keys)
        known = await ctx.db.run(load_article_keys, feed.id, guids, links, contents)
    plan = plan_articles(
        parsed.entries, known, started, parsed.matches, parsed.matched_with, parsed.keys
    )
    return await _record(
        feed, ctx, started, stored(feed, fetched, parsed, body_hash, plan, started, ctx)
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a poll decided: the feed's next state, the event to log, articles to write."""

    update: FeedUpdate
    event_outcome: str
    status: int | None
    error: str | None = None
    plan: ArticlePlan | None = None


async def _record(
    feed: FeedState, ctx: PollContext, started: datetime, outcome: Outcome
) -> PollReport:
    elapsed = (ctx.clock() - started).total_seconds()
    plan = outcome.plan
    event = FetchEvent(
        started_at=started,
        duration_ms=int(elapsed * 1000),
        status=outcome.status,
        outcome=outcome.event_outcome,
        new_count=len(plan.inserts) if plan else 0,
        updated_count=len(plan.updates) if plan else 0,
        error=outcome.error,
    )
    flagger = ctx.flagger()
    counter: list[int] = []
    pending: list[int] = []

    def write_flags(conn: Any, articles: Sequence[StoredArticle]) -> None:
        # Assigned, not added to: a group commit may roll this write back and run it again.
        if flagger is not None:
            counter[:] = [flagger.write_flags(conn, articles)]
        if ctx.pages is not None:
            pending[:] = ctx.pages.mark_pending(conn, feed.id, articles)

    written = await ctx.db.write(
        write_poll,
        feed.id,
        outcome.update,
        event,
        plan,
        started,
        write_flags,
        light=plan is None or not (plan.inserts or plan.updates),
    )
    if pending and ctx.pages is not None:
        ctx.pages.offer(pending)
    report = PollReport(
        feed_id=feed.id,
        url=feed.url,
        outcome=outcome.event_outcome,
        status=outcome.status,
        new=event.new_count,
        updated=event.updated_count,
        flags=sum(counter),
        error=outcome.error,
        seconds=elapsed,
        next_poll_at=outcome.update.next_poll_at,
        stored=tuple(written),
    )
    _log(report)
    return report


def _log(report: PollReport) -> None:
    level = logging.WARNING if report.outcome in {"error", "gone"} else logging.INFO
    fields = f"feed={report.url} status={report.status or '-'} outcome={report.outcome}"
    if report.outcome == "stored":
        fields += f" new={report.new} updated={report.updated} flags={report.flags}"
    if report.error:
        fields += f' error="{report.error}"'
    log.log(level, "poll %s ms=%d", fields, int(report.seconds * 1000))


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


# --- pure decisions -------------------------------------------------------------------


def _base_interval(feed: FeedState, polling: PollingSettings) -> float:
    return feed.interval_override or feed.interval or polling.interval


def _healthy(
    feed: FeedState,
    fetched: FetchedFeed,
    now: datetime,
    interval: float,
    ctx: PollContext,
    **values: Any,
) -> FeedUpdate:
    delay = jittered(interval, ctx.polling.jitter, ctx.rng)
    if fetched.max_age:
        delay = max(delay, min(fetched.max_age, ctx.polling.max_interval))
    if fetched.permanent_url and fetched.permanent_url != feed.url:
        values["url"] = fetched.permanent_url
        log.warning("moved feed=%s to=%s", feed.url, fetched.permanent_url)
    if fetched.etag or fetched.last_modified or fetched.status == 200:
        values.setdefault("etag", fetched.etag)
        values.setdefault("last_modified", fetched.last_modified)
    values["last_success_at"] = now
    values["interval"] = interval
    return FeedUpdate(
        last_polled_at=now,
        next_poll_at=now + timedelta(seconds=delay),
        last_status=fetched.status,
        consecutive_errors=0,
        error_since=None,
        last_error=None,
        values=values,
    )


def not_modified(feed: FeedState, fetched: FetchedFeed, now: datetime, ctx: PollContext) -> Outcome:
    values: dict[str, Any] = {"not_modified_since": feed.not_modified_since or now}
    # A 304 may omit validators; keep the ones we sent.
    values["etag"] = fetched.etag or feed.etag
    values["last_modified"] = fetched.last_modified or feed.last_modified
    update = _healthy(feed, fetched, now, _base_interval(feed, ctx.polling), ctx, **values)
    return Outcome(update, "not_modified", fetched.status)


def unchanged(feed: FeedState, fetched: FetchedFeed, now: datetime, ctx: PollContext) -> Outcome:
    update = _healthy(
        feed, fetched, now, _base_interval(feed, ctx.polling), ctx, not_modified_since=None
    )
    return Outcome(update, "unchanged", fetched.status)


def stored(
    feed: FeedState,
    fetched: FetchedFeed,
    parsed: ParsedFeed,
    body_hash: str,
    plan: ArticlePlan,
    now: datetime,
    ctx: PollContext,
) -> Outcome:
    dates = [e.published for e in parsed.entries if e.published and e.published <= now]
    hints = IntervalHints(feed.interval_override, dates, parsed.ttl_hint, fetched.max_age)
    values: dict[str, Any] = {
        "body_hash": body_hash,
        "not_modified_since": None,
        "ttl_hint": parsed.ttl_hint,
    }
    if parsed.title:
        values["title"] = parsed.title[:1024]
    if parsed.link:
        values["site_url"] = parsed.link[:2048]
    if plan.inserts:
        values["last_new_at"] = now
    update = _healthy(feed, fetched, now, success_interval(hints, ctx.polling), ctx, **values)
    return Outcome(
        update,
        "stored",
        fetched.status,
        error=parsed.warning and f"warning: {parsed.warning}",
        plan=plan,
    )


def failed(
    feed: FeedState, now: datetime, ctx: PollContext, fetched: FetchedFeed | None, error: str
) -> Outcome:
    errors = feed.consecutive_errors + 1
    delay = jittered(
        error_delay(errors, _base_interval(feed, ctx.polling), ctx.polling),
        ctx.polling.jitter,
        ctx.rng,
    )
    retry_after = fetched.retry_after if fetched else None
    delay = retry_after_delay(retry_after, now, delay, ctx.polling.max_backoff)
    update = FeedUpdate(
        last_polled_at=now,
        next_poll_at=now + timedelta(seconds=delay),
        last_status=fetched.status if fetched else None,
        consecutive_errors=errors,
        error_since=feed.error_since or now,
        last_error=error[:2000],
    )
    return Outcome(update, "error", fetched.status if fetched else None, error=error)


def gone(feed: FeedState, fetched: FetchedFeed, now: datetime) -> Outcome:
    """410 is the one answer that retires a feed; its articles stay."""
    update = FeedUpdate(
        last_polled_at=now,
        next_poll_at=now,
        last_status=fetched.status,
        consecutive_errors=feed.consecutive_errors + 1,
        error_since=feed.error_since or now,
        last_error="HTTP 410 Gone: the feed was removed by its publisher; retired",
        values={"active": False, "retired_at": now, "retired_reason": GONE},
    )
    return Outcome(update, "gone", fetched.status, error=update.last_error)
