"""The daemon: APScheduler drives the poll tick and housekeeping inside one asyncio loop.

SIGTERM/SIGINT stop taking new work and let polls in flight finish within a deadline;
SIGHUP (or a change of the files) reloads the feeds file and the watchlist.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from ingest.db import (
    Database,
    check_schema,
    create_db_engine,
    database_unavailable,
    describe_db_error,
    instance_lock,
)
from ingest.digest.period import digest_period, due_day
from ingest.digeststore import DAILY, digest_built, watched_before
from ingest.errors import ConfigError
from ingest.feedsfile import read_feeds_file
from ingest.feedstore import FeedState, active_feed_ids, claim_due_feeds, release_claims, sync_feeds
from ingest.fetch import Fetcher, FetchLimits
from ingest.fulltext import page_worker
from ingest.parse_pool import ParserPool
from ingest.poll import Flagger, PollContext, PollReport, poll_feed
from ingest.prepare import ShippedWatchlist
from ingest.runtime import settle_more
from ingest.settings import Settings, alerts_configured
from ingest.store import prune_fetch_log

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

log = logging.getLogger("ingest.daemon")

WATCH_INTERVAL = 5.0
PARSER_IDLE_CHECK = 60.0  # seconds between checks for parser workers idle long enough to stop
# The database went away: the first retry after this long, doubling up to the cap.
DB_RETRY_FIRST = 1.0
DB_RETRY_MAX = 60.0


def fetch_limits(settings: Settings) -> FetchLimits:
    http = settings.http
    return FetchLimits(
        connect_timeout=http.connect_timeout,
        read_timeout=http.read_timeout,
        total_timeout=http.total_timeout,
        max_body_bytes=http.max_body_size,
        max_redirects=http.max_redirects,
        user_agent=http.user_agent,
        per_host_limit=settings.polling.per_host,
        allow_private_networks=http.allow_private_networks,
        connections=http.connections,
    )


@dataclass
class CycleStats:
    """Counts for the summary line of one batch of polls."""

    started: float = field(default_factory=time.monotonic)
    feeds: int = 0
    stored: int = 0
    not_modified: int = 0
    unchanged: int = 0
    errors: int = 0
    new: int = 0
    updated: int = 0
    flags: int = 0
    unstored: int = 0  # polls lost to a database failure (they are polled again)

    def add(self, report: PollReport) -> None:
        self.feeds += 1
        self.new += report.new
        self.updated += report.updated
        self.flags += report.flags
        if report.outcome == "stored":
            self.stored += 1
        elif report.outcome == "not_modified":
            self.not_modified += 1
        elif report.outcome == "unchanged":
            self.unchanged += 1
        else:
            self.errors += 1

    def line(self) -> str:
        return (
            f"cycle feeds={self.feeds} stored={self.stored} not_modified={self.not_modified} "
            f"unchanged={self.unchanged} errors={self.errors} new={self.new} "
            f"updated={self.updated} flags={self.flags} "
            + (f"unstored={self.unstored} " if self.unstored else "")
            + f"seconds={time.monotonic() - self.started:.1f}"
        )


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        flagger_factory: Callable[[Settings], FlaggerSource] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.engine = create_db_engine(settings.database)
        self.db = Database(self.engine)
        self.flagger_factory = flagger_factory
        self.flaggers: FlaggerSource | None = None
        self.parser: ParserPool | None = None  # while running
        self.inflight: dict[int, asyncio.Task[PollReport | None]] = {}
        self._poll_ended: asyncio.Event | None = None  # set as each poll ends (poll_once)
        self.stopping = asyncio.Event()
        self._mtimes: dict[Path, float] = {}
        self._db_failures = 0
        self._db_retry_at = 0.0  # time.monotonic() before which ticks do not touch the database
        self._orphaned: set[int] = set()  # claimed feeds whose poll the database outage lost
        self._claims: set[asyncio.Future[list[FeedState]]] = set()  # claims in progress

    # --- lifecycle -----------------------------------------------------------------

    async def run(self, *, once: bool = False, everything: bool = False) -> int:
        """Exit code: 0, or 1 when `once` could not store some polls (database failure)."""
        code = 0
        parser = ParserPool(
            self.settings.parse.workers or None,
            parser=self.settings.parse.parser,
            # Only when most polls in flight wait on a parse do more workers start.
            backlog=self.settings.polling.concurrency * 3 // 4,
        )
        self.parser = parser
        try:
            # The workers start (and import) while this process opens its database.
            parser.start()
            settle_more()
            code = await self._run_with(parser, once=once, everything=everything)
        finally:
            parser.close()
        self.db.close()
        return code

    async def _run_with(self, parser: ParserPool, *, once: bool, everything: bool) -> int:
        code = 0
        check_schema(self.engine)
        with instance_lock(self.settings.database):
            self.sync_feeds_file(strict=True)
            if self.flagger_factory is not None:
                self.flaggers = self.flagger_factory(self.settings)
            async with Fetcher(fetch_limits(self.settings)) as fetcher:
                pages = page_worker(
                    self.settings.fulltext,
                    fetcher,
                    self.db,
                    clock=self.clock,
                    user_agent=self.settings.http.user_agent,
                    flagger=self._current_flagger,
                )
                self.ctx = PollContext(
                    fetcher=fetcher,
                    parser=parser,
                    db=self.db,
                    polling=self.settings.polling,
                    flagger=self._current_flagger,
                    watchlist=self._current_watchlist,
                    clock=self.clock,
                    rng=random.Random(),
                    pages=pages,
                )
                try:
                    if pages is not None:
                        pages.start()
                    if once:
                        stats = await self.poll_once(everything)
                        if stats.unstored:
                            # For cron: the work failed, though nothing stored was lost.
                            code = 1
                            await self._give_back_orphaned()
                        if pages is not None:  # one cycle includes its pages
                            await pages.drain()
                        await self.send_alerts()
                        await self.catch_up_digest()
                    else:
                        await self.serve()
                finally:
                    if pages is not None:
                        await pages.stop(self.settings.polling.shutdown_deadline)
        return code

    def _current_flagger(self) -> Flagger | None:
        return self.flaggers.current() if self.flaggers else None

    def _current_watchlist(self) -> ShippedWatchlist | None:
        return self.flaggers.current_shipped() if self.flaggers else None

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self.reload, "SIGHUP")
        from apscheduler.schedulers.asyncio import AsyncIOScheduler  # `run --once` needs none

        scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
        polling = self.settings.polling
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=polling.tick,
            id="poll-tick",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
        scheduler.add_job(
            self.housekeeping,
            "interval",
            hours=1,
            id="housekeeping",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
        scheduler.add_job(
            self.watch_files,
            "interval",
            seconds=WATCH_INTERVAL,
            id="watch-files",
            max_instances=1,
            coalesce=True,
        )
        scheduler.add_job(
            self.daily_digest,
            self.digest_trigger(),
            id="daily-digest",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
        )
        scheduler.add_job(
            self.send_alerts, "interval", seconds=30, id="alerts", max_instances=1, coalesce=True
        )
        scheduler.add_job(
            self.retire_idle_parsers,
            "interval",
            seconds=PARSER_IDLE_CHECK,
            id="parser-pool",
            max_instances=1,
            coalesce=True,
        )
        scheduler.start()
        # Held: the loop keeps only a weak reference to a task.
        self.catch_up_task = loop.create_task(self.catch_up_digest())
        log.info(
            "daemon started feeds_file=%s database=%s",
            self.settings.feeds_file,
            self.engine.url.render_as_string(hide_password=True),
        )
        try:
            await self.stopping.wait()
        finally:
            scheduler.shutdown(wait=False)
            await self.drain(polling.shutdown_deadline)
            await self.give_back_claims()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        log.info("daemon stopped")

    def request_stop(self, sig: signal.Signals | None = None) -> None:
        if not self.stopping.is_set():
            log.info("stopping signal=%s inflight=%d", sig.name if sig else "-", len(self.inflight))
        self.stopping.set()

    async def drain(self, deadline: float) -> None:
        """Let polls in flight finish; abandon the rest cleanly (their claims released)."""
        if not self.inflight:
            return
        _done, pending = await asyncio.wait(list(self.inflight.values()), timeout=deadline)
        abandoned = [fid for fid, task in self.inflight.items() if task in pending]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            log.warning("abandoned polls=%d after deadline=%.0fs", len(abandoned), deadline)
            await self.db.run(release_claims, abandoned, self.clock())

    # --- work ----------------------------------------------------------------------

    async def tick(self) -> None:
        """Claim what is due, up to the free concurrency, and start polling it."""
        if self.stopping.is_set() or time.monotonic() < self._db_retry_at:
            return
        free = self.settings.polling.concurrency - len(self.inflight)
        if free <= 0:
            return
        try:
            await self._release_orphaned()
            feeds = await self._claim(free)
        except Exception as exc:
            if database_unavailable(exc):
                self._database_failed(exc)
            else:
                log.exception("claim failed")
            return
        if self._db_failures:
            log.warning("database available again after failures=%d", self._db_failures)
            self._db_failures = 0
        if not feeds:
            return
        self._announce(feeds)
        stats = CycleStats()
        tasks = [self._start(feed, stats) for feed in feeds]
        asyncio.get_running_loop().create_task(self._summarize(tasks, stats))

    def _announce(self, feeds: list[FeedState]) -> None:
        """Feeds never parsed (no body stored yet) will be: the parser can start its workers."""
        if self.parser is not None:
            self.parser.expect(sum(1 for feed in feeds if feed.body_hash is None))

    async def _give_back_orphaned(self) -> None:
        """`run --once` after polls lost to a database failure: due again at once if the
        database takes that small write now (a full disk may not even have room for it);
        else when their lease ends, which the log says."""
        lost = len(self._orphaned)
        try:
            await self._release_orphaned()
        except Exception as exc:
            lease = self.settings.polling.claim_lease
            log.warning(
                "polls not given back=%d, due again when their lease ends (%.0fs) error=%r",
                lost,
                lease,
                exc,
            )

    async def _release_orphaned(self) -> None:
        """Polls lost to a database failure are due again now, not when their lease ends."""
        orphaned = [fid for fid in self._orphaned if fid not in self.inflight]
        if orphaned:
            await self.db.run(release_claims, orphaned, self.clock())
            self._orphaned.difference_update(orphaned)

    async def _claim(self, free: int) -> list[FeedState]:
        """Claim due feeds; a stop arriving meanwhile gives the claimed feeds back."""
        claim = asyncio.ensure_future(
            self.db.run(claim_due_feeds, self.clock(), free, self.settings.polling.claim_lease)
        )
        self._claims.add(claim)
        try:
            feeds = await asyncio.shield(claim)
        except asyncio.CancelledError:
            # The scheduler shuts down (SIGTERM) while the database thread claims: the
            # claim commits anyway; serve() gives its feeds back (give_back_claims).
            return []
        except Exception:
            self._claims.discard(claim)
            raise
        self._claims.discard(claim)
        if self.stopping.is_set() and feeds:
            await self.db.run(release_claims, [feed.id for feed in feeds], self.clock())
            return []
        return feeds

    async def give_back_claims(self) -> None:
        """Feeds claimed by a tick that the stop interrupted: due again now, not after the lease."""
        while self._claims:
            claim = self._claims.pop()
            try:
                feeds = await claim
            except Exception:
                continue  # nothing was claimed
            if feeds:
                await self.db.run(release_claims, [feed.id for feed in feeds], self.clock())

    def _database_failed(self, exc: Exception) -> None:
        """Log once per retry, and retry after a delay that doubles up to DB_RETRY_MAX."""
        self._db_failures += 1
        delay = min(DB_RETRY_FIRST * 2 ** (self._db_failures - 1), DB_RETRY_MAX)
        self._db_retry_at = time.monotonic() + delay
        log.error(
            'database unavailable, retrying in %.0fs failures=%d error="%s"',
            delay,
            self._db_failures,
            describe_db_error(exc),
        )

    def _start(self, feed: FeedState, stats: CycleStats) -> asyncio.Task[PollReport | None]:
        task = asyncio.get_running_loop().create_task(
            self._poll(feed, stats), name=f"poll:{feed.url}"
        )
        self.inflight[feed.id] = task
        task.add_done_callback(functools.partial(self._forget, feed.id))
        return task

    def _forget(self, feed_id: int, _task: asyncio.Task[PollReport | None]) -> None:
        self.inflight.pop(feed_id, None)
        if self._poll_ended is not None:
            self._poll_ended.set()

    async def _poll(self, feed: FeedState, stats: CycleStats) -> PollReport | None:
        try:
            report = await poll_feed(feed, self.ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A bug or the database going away mid-poll: nothing of the poll was written
            # (one transaction), and the feed is due again (the lease ends, or the next
            # tick that reaches the database releases it), so nothing is lost.
            stats.unstored += 1
            if database_unavailable(exc):
                self._orphaned.add(feed.id)
                log.error(
                    'poll not stored, database unavailable feed=%s error="%s"',
                    feed.url,
                    describe_db_error(exc),
                )
            else:
                log.exception("poll crashed feed=%s", feed.url)
            return None
        stats.add(report)
        return report

    async def _summarize(
        self, tasks: list[asyncio.Task[PollReport | None]], stats: CycleStats
    ) -> None:
        await asyncio.gather(*tasks, return_exceptions=True)
        log.info(stats.line())
        if stats.flags:
            await self.send_alerts()

    # --- digest and alerts ------------------------------------------------------------

    def digest_trigger(self) -> CronTrigger:
        from apscheduler.triggers.cron import CronTrigger

        digest = self.settings.digest
        return CronTrigger(
            hour=digest.hour, minute=digest.minute, timezone=ZoneInfo(digest.timezone)
        )

    async def daily_digest(self) -> None:
        """The cron job: the digest of the day that just reached digest.time, once."""
        digest = self.settings.digest
        tz = ZoneInfo(digest.timezone)
        day = due_day(self.clock(), digest.time, tz)
        try:
            if await self.db.run(digest_built, DAILY, day.isoformat()):
                return  # every `run --once` after the first of the day
            _start, end = digest_period(day, digest.time, tz)
            if not await self.db.run(watched_before, end):
                log.info("digest skipped day=%s: no feed was watched before it ended", day)
                return
            # Imported when a digest is due: Jinja and the mail stack are ~25 ms of a
            # start-up that `run --once` pays each time.
            from ingest.digest.job import produce_daily_digest

            await self.db.run(produce_daily_digest, self.settings, day, self.clock())
        except Exception as exc:
            log.error("digest failed day=%s error=%r", day, exc)

    async def catch_up_digest(self) -> None:
        """Down at digest time? Build the missed (latest) digest at start; a no-op if built."""
        await self.daily_digest()

    async def send_alerts(self) -> None:
        if not alerts_configured(self.settings):
            return
        from ingest.digest.job import send_alerts  # see daily_digest

        try:
            await send_alerts(self.db, self.settings, self.clock())
        except Exception as exc:
            log.error("alerts failed, will retry error=%r", exc)

    async def poll_once(self, everything: bool) -> CycleStats:
        """`run --once`: every due feed (or every feed) exactly once, then return."""
        stats = CycleStats()
        ended = self._poll_ended = asyncio.Event()  # of this event loop
        ids = await self.db.run(active_feed_ids, self.clock(), everything=everything)
        limit = self.settings.polling.concurrency
        queue = list(reversed(ids))
        claimed: list[FeedState] = []
        while queue or claimed or self.inflight:
            if queue and len(claimed) < limit:
                # Claimed a concurrency's worth ahead: one claim transaction per batch,
                # not one per feed as slots free up.
                batch = [queue.pop() for _ in range(min(limit, len(queue)))]
                feeds = await self.db.run(
                    claim_due_feeds,
                    self.clock(),
                    len(batch),
                    self.settings.polling.claim_lease,
                    everything=everything,
                    only=batch,
                )
                self._announce(feeds)
                claimed.extend(feeds)
            while claimed and len(self.inflight) < limit:
                self._start(claimed.pop(0), stats)
            if self.inflight:
                # Not asyncio.wait(inflight, FIRST_COMPLETED): it adds and then removes a
                # callback on each of the `concurrency` polls for every one that ends.
                ended.clear()
                await ended.wait()
        log.info(stats.line())
        self.last_stats = stats
        return stats

    async def retire_idle_parsers(self) -> None:
        """The parser workers beyond the first stop after a while without work."""
        if self.parser is not None:
            self.parser.retire_idle()

    async def housekeeping(self) -> None:
        days = self.settings.polling.fetch_log_days
        try:
            removed = await self.db.run(prune_fetch_log, self.clock() - timedelta(days=days))
        except Exception as exc:
            log.error("housekeeping failed error=%r", exc)
            return
        if removed:
            log.info("housekeeping pruned_fetch_log=%d", removed)

    # --- configuration -------------------------------------------------------------

    def sync_feeds_file(self, *, strict: bool = False) -> None:
        path = self.settings.feeds_file
        try:
            declared = read_feeds_file(path)
        except ConfigError as exc:
            if strict:
                raise
            log.error("feeds file rejected, keeping the last good one: %s", exc)
            return
        self._mtimes[path] = _mtime(path)
        report = sync_feeds(self.engine, declared, self.clock())
        if report.added or report.retired or report.reactivated:
            log.info(
                "feeds synced added=%d retired=%d reactivated=%d",
                len(report.added),
                len(report.retired),
                len(report.reactivated),
            )

    def reload(self, why: str = "reload") -> None:
        log.info("reloading why=%s", why)
        self.sync_feeds_file()
        if self.flaggers is not None:
            self.flaggers.reload()

    async def watch_files(self) -> None:
        path = self.settings.feeds_file
        if _mtime(path) != self._mtimes.get(path):
            self.reload(f"changed {path.name}")
        elif self.flaggers is not None and self.flaggers.changed():
            self.flaggers.reload()


class FlaggerSource(Protocol):
    """Holds the current watchlist stage and reloads it; the last good one stays in force."""

    def current(self) -> Flagger | None: ...

    def current_shipped(self) -> ShippedWatchlist | None: ...

    def changed(self) -> bool: ...

    def reload(self) -> None: ...


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0
