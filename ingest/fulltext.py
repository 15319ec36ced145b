"""The full-text stage: fetch article pages for entries whose feed text is cut, match again.

Two phases, so polling never waits for pages. A poll stores and matches an article on
the feed's text at once and, in the same transaction, marks it "page pending"
(`mark_pending`); after the commit it offers the article ids here (`offer`). They go
into a bounded in-memory queue; when it is full they are dropped, and stay pending in
the database, from where the feeder takes them when there is room (so does a restarted
daemon). Workers claim a page (a lease in the database), honour robots.txt (cached per
host), keep a per-host concurrency limit and delay, fetch with the feeds' `Fetcher`
(timeouts, redirect cap, private-network guard; a long page is cut at max_page_size),
extract the main text off the event loop, store it and match it again: a flag either
phase raises is raised once, its `source` saying feed or page.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from ingest.db import Database, database_unavailable, describe_db_error
from ingest.errors import FetchError
from ingest.extract import ExtractionFailed, extract_outcome
from ingest.pagepolicy import (
    PageFailure,
    RobotsRules,
    agent_token,
    effective_mode,
    needs_page,
    response_failure,
    robots_from_response,
    robots_key,
    robots_url,
    text_failure,
)
from ingest.pagestore import (
    FetchedPage,
    PageJob,
    claim_page,
    feed_mode,
    mark_pending,
    pending_page_ids,
    release_pages,
    save_page,
    save_page_failure,
)
from ingest.records import FetchedFeed
from ingest.settings import FullTextSettings
from ingest.store import StoredArticle

log = logging.getLogger("ingest.fulltext")

ROBOTS_ACCEPT = "text/plain,*/*;q=0.5"
REFILL_INTERVAL = 30.0  # pending pages written by other daemons, or whose lease ended
ROBOTS_HOSTS = 1024  # robots.txt rules kept in memory


class PageFetcher(Protocol):
    async def fetch_page(
        self, url: str, *, allow_private: bool = False, accept: str = ..., cut_at: int | None = None
    ) -> FetchedFeed: ...


@runtime_checkable
class PageFlagger(Protocol):
    """The watchlist stage, matching an article again on its page (inside the transaction)."""

    def write_page_flags(self, conn: Any, article_id: int, title: str, page_text: str) -> int: ...


@dataclass(frozen=True, slots=True)
class PageOutcome:
    """What became of one claimed page (for logs, progress bars and tests)."""

    article_id: int
    status: str  # fetched | failed | retrying (a transient failure) | outdated
    failure: str | None = None
    flags: int = 0
    cut: bool = False


@dataclass(slots=True)
class _HostGate:
    gate: asyncio.Semaphore
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_at: float = 0.0
    users: int = 0


@dataclass
class PageWorker:
    """The bounded page queue and its workers: `start()`, `offer(ids)`, `stop()`, or `drain()`."""

    fetcher: PageFetcher
    db: Database
    settings: FullTextSettings
    user_agent: str
    flagger: Callable[[], Any] = lambda: None  # the current watchlist stage, or None
    extractor: Executor | None = None  # None: one thread per extract_workers
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    on_outcome: Callable[[PageOutcome], None] | None = None

    def __post_init__(self) -> None:
        self.queue: asyncio.Queue[int] = asyncio.Queue(self.settings.queue_size)
        self.known: set[int] = set()  # queued or in flight: never offered twice
        self.inflight: set[int] = set()
        self.dropped = 0  # offers that found the queue full (they wait in the database)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._hosts: dict[str, _HostGate] = {}
        self._robots: OrderedDict[str, RobotsRules] = OrderedDict()
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self._own_extractor = self.extractor is None
        if self.extractor is None:
            self.extractor = ThreadPoolExecutor(
                self.settings.extract_workers, thread_name_prefix="ingest-extract"
            )

    # --- the poll's side ---------------------------------------------------------------

    def mark_pending(self, conn: Any, feed_id: int, stored: Sequence[StoredArticle]) -> list[int]:
        """Inside the poll's transaction: mark the articles whose page is wanted."""
        mode = effective_mode(feed_mode(conn, feed_id), self.settings.mode)
        wanted = [
            article.id
            for article in stored
            if needs_page(
                mode,
                article.draft.entry.link,
                article.draft.entry.summary_text,
                article.draft.entry.content_text,
                self.settings.min_chars,
            )
        ]
        if wanted:
            mark_pending(conn, wanted)
        return wanted

    def offer(self, article_ids: Sequence[int]) -> None:
        """After the poll's commit: queue what fits; the rest waits in the database."""
        for article_id in article_ids:
            if article_id in self.known:
                continue
            try:
                self.queue.put_nowait(article_id)
            except asyncio.QueueFull:
                self.dropped += 1
                self._wake.set()  # the feeder takes it from the database when there is room
                continue
            self.known.add(article_id)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._feeder(), name="pages:feeder"))
        for n in range(self.settings.concurrency):
            self._tasks.append(loop.create_task(self._work(), name=f"pages:worker-{n}"))
        self._wake.set()

    async def drain(self) -> None:
        """Process every pending page (this daemon's and the database's), then return."""
        while True:
            await self.queue.join()
            added = await self.refill()  # the queue is empty: room for whatever is pending
            if not added and self.queue.empty() and not self.inflight:
                return

    async def stop(self, deadline: float = 5.0) -> None:
        """Let pages in flight finish within `deadline`; give the rest back to the database."""
        tasks, self._tasks = self._tasks, []
        if self.inflight and deadline > 0:
            with suppress(TimeoutError):
                async with asyncio.timeout(deadline):
                    while self.inflight:
                        await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        unfinished = sorted(self.known)
        self.known.clear()
        while not self.queue.empty():
            self.queue.get_nowait()
            self.queue.task_done()
        if unfinished:
            try:
                await self.db.run(release_pages, unfinished)
            except Exception as exc:  # the lease frees them anyway
                log.error("release of pending pages failed error=%r", exc)
        if self._own_extractor and self.extractor is not None:
            self.extractor.shutdown(wait=False, cancel_futures=True)

    # --- feeding the queue from the database ----------------------------------------------

    async def refill(self) -> int:
        """Queue pending pages from the database, as many as there is room for."""
        room = self.queue.maxsize - self.queue.qsize()
        if room <= 0:
            return 0
        ids = await self.db.run(
            pending_page_ids, self.clock(), self.settings.claim_lease, room + len(self.known)
        )
        added = 0
        for article_id in ids:
            if article_id in self.known or self.queue.full():
                continue
            self.queue.put_nowait(article_id)
            self.known.add(article_id)
            added += 1
        return added

    async def _feeder(self) -> None:
        while True:
            with suppress(TimeoutError):
                async with asyncio.timeout(REFILL_INTERVAL):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.refill()
            except Exception as exc:  # database down: the next wake or interval retries
                log.error('page refill failed error="%s"', describe_db_error(exc))

    # --- one page ---------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            article_id = await self.queue.get()
            self.inflight.add(article_id)
            try:
                outcome = await self.process(article_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if database_unavailable(exc):  # an outage, not a bug: one line, and the
                    # page stays pending in the database for the next refill
                    log.error(
                        'page not stored, database unavailable article=%d error="%s"',
                        article_id,
                        describe_db_error(exc),
                    )
                else:
                    log.exception("page crashed article=%d", article_id)
                outcome = None
            finally:
                self.inflight.discard(article_id)
                self.known.discard(article_id)
                self.queue.task_done()
                if self.dropped and self.queue.qsize() < self.queue.maxsize // 2:
                    self._wake.set()
            if outcome is not None and self.on_outcome is not None:
                self.on_outcome(outcome)

    async def process(self, article_id: int) -> PageOutcome | None:
        """Claim, fetch, extract, store and match one article page. None: not ours now."""
        job = await self.db.run(claim_page, article_id, self.clock(), self.settings.claim_lease)
        if job is None:
            return None
        try:
            page = await self._page(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not leave the page pending forever
            log.exception("page failed article=%d url=%s", job.article_id, job.url)
            page = PageFailure("error", f"{type(exc).__name__}: {exc}")
        if isinstance(page, PageFailure):
            return await self._failed(job, page)
        return await self._fetched(job, page)

    async def _page(self, job: PageJob) -> FetchedPage | PageFailure:
        if not job.url:
            return PageFailure("no_link", "the entry has no link")
        rules = await self._robots_for(job)
        if not rules.allows(agent_token(self.user_agent), job.url):
            reason = rules.reason or "disallowed by robots.txt"
            return PageFailure("robots", f"{reason} ({robots_url(job.url)})")
        try:
            async with self._slot(job.url):
                fetched = await self.fetcher.fetch_page(
                    job.url, allow_private=job.allow_private, cut_at=self.settings.max_page_size
                )
        except FetchError as exc:
            return PageFailure(exc.kind, str(exc))
        failure = response_failure(fetched.status, fetched.content_type, fetched.body)
        if failure is not None:
            return failure
        loop = asyncio.get_running_loop()
        extracted = await loop.run_in_executor(
            self.extractor, extract_outcome, fetched.body, fetched.final_url, fetched.content_type
        )
        if isinstance(extracted, ExtractionFailed):
            return PageFailure("no_text", f"no article text on the page: {extracted.message}")
        failure = text_failure(extracted.text, job.feed_text)
        if failure is not None:
            return failure
        return FetchedPage(extracted.text, extracted.canonical_url, extracted.language, fetched.cut)

    async def _fetched(self, job: PageJob, page: FetchedPage) -> PageOutcome:
        flagger = self.flagger()
        counter: list[int] = []

        def write_flags(conn: Any) -> None:
            if isinstance(flagger, PageFlagger):
                counter.append(flagger.write_page_flags(conn, job.article_id, job.title, page.text))

        saved = await self.db.run(save_page, job, page, self.clock(), write_flags)
        status = "fetched" if saved else "outdated"
        log.info(
            "page article=%d url=%s status=%s chars=%d cut=%s flags=%d",
            job.article_id, job.url, status, len(page.text), page.cut, sum(counter),
        )  # fmt: skip
        return PageOutcome(job.article_id, status, flags=sum(counter), cut=page.cut)

    async def _failed(self, job: PageJob, failure: PageFailure) -> PageOutcome:
        status = await self.db.run(
            save_page_failure, job, failure.kind, failure.message, self.clock()
        )
        log.warning(
            'page article=%d url=%s status=%s failure=%s attempt=%d error="%s"',
            job.article_id, job.url, status, failure.kind, job.attempts + 1, failure.message,
        )  # fmt: skip
        return PageOutcome(job.article_id, status, failure.kind)

    # --- politeness ---------------------------------------------------------------------------

    @asynccontextmanager
    async def _slot(self, url: str) -> AsyncIterator[None]:
        """At most per_host pages of a host at once, per_host_delay apart."""
        host = (urlsplit(url).hostname or "").lower()
        gate = self._hosts.get(host)
        if gate is None:
            gate = self._hosts[host] = _HostGate(asyncio.Semaphore(self.settings.per_host))
        gate.users += 1
        loop = asyncio.get_running_loop()
        try:
            async with gate.gate:
                async with gate.lock:
                    wait = gate.next_at - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    gate.next_at = loop.time() + self.settings.per_host_delay
                yield
        finally:
            gate.users -= 1
            if len(self._hosts) > ROBOTS_HOSTS:  # forget idle hosts whose delay has passed
                now = loop.time()
                for name in [h for h, g in self._hosts.items() if not g.users and g.next_at <= now]:
                    del self._hosts[name]

    async def _robots_for(self, job: PageJob) -> RobotsRules:
        key = robots_key(job.url)
        lock = self._robots_locks.setdefault(key, asyncio.Lock())
        async with lock:  # one robots.txt request per host, however many pages wait for it
            rules = self._robots.get(key)
            now = asyncio.get_running_loop().time()
            if rules is not None and now - rules.fetched < self.settings.robots_ttl:
                self._robots.move_to_end(key)
                return rules
            rules = await self._fetch_robots(job)
            rules.fetched = now
            self._robots[key] = rules
            while len(self._robots) > ROBOTS_HOSTS:
                old, _ = self._robots.popitem(last=False)
                self._robots_locks.pop(old, None)
            return rules

    async def _fetch_robots(self, job: PageJob) -> RobotsRules:
        url = robots_url(job.url)
        try:
            async with self._slot(url):
                fetched = await self.fetcher.fetch_page(
                    url, allow_private=job.allow_private, accept=ROBOTS_ACCEPT, cut_at=500 * 1024
                )
        except FetchError as exc:
            if exc.kind in ("blocked", "scheme"):  # the page's own fetch says why, precisely
                return RobotsRules(allow_all=True)
            log.info("robots unreachable url=%s error=%s", url, exc.kind)
            rules = robots_from_response(None, b"")
            rules.reason = f"robots.txt unreachable ({exc.kind}), so the page is not fetched"
            return rules
        return robots_from_response(fetched.status, fetched.body)


def page_worker(
    settings: FullTextSettings,
    fetcher: PageFetcher,
    db: Database,
    *,
    user_agent: str,
    flagger: Callable[[], Any],
    clock: Callable[[], datetime],
) -> PageWorker | None:
    """The daemon's page worker, or None when [fulltext] enabled = false."""
    if not settings.enabled:
        return None
    return PageWorker(fetcher, db, settings, user_agent, flagger=flagger, clock=clock)
