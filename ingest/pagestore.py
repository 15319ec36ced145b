"""Storage of article pages (the SQL of the full-text stage).

An article whose page is wanted is marked `page_status = 'pending'` in the same
transaction that stores it, so pending pages survive restarts and crashes; a worker
claims one by stamping `page_claimed_at` (a lease: if the daemon dies, the page is free
again when the lease ends), then records the page or the failure for the article version
it was claimed for. A page is fetched once per article version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, or_, select, update

from ingest.models import Article, Feed
from ingest.pagepolicy import retry_delay
from ingest.store import article_pages

PENDING, FETCHED, FAILED = "pending", "fetched", "failed"
_IN_CHUNK = 400


@dataclass(frozen=True, slots=True)
class PageJob:
    """A claimed article page: what the worker needs to fetch, extract and match it."""

    article_id: int
    version: int
    feed_id: int
    url: str
    allow_private: bool
    title: str
    feed_text: str  # the fuller of summary and content
    attempts: int = 0  # failed fetches of this version before this claim


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """An extracted page to be written."""

    text: str
    canonical_url: str | None
    language: str | None
    cut: bool


@dataclass(frozen=True, slots=True)
class PageCandidate:
    """A stored article as the backfill (`ingest fulltext`) decides on it."""

    id: int
    url: str | None
    summary: str
    content: str
    feed_mode: str | None
    page_status: str | None
    retry_at: datetime | None = None  # pending, waiting to be tried again after a failure


@dataclass
class PageCounts:
    """One feed's article pages, for `ingest status`."""

    pending: int = 0
    fetched: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # kind → count


def feed_mode(conn: Connection, feed_id: int) -> str | None:
    return conn.execute(select(Feed.full_text).where(Feed.id == feed_id)).scalar_one_or_none()


def mark_pending(conn: Connection, article_ids: Sequence[int]) -> None:
    """Inside the poll's transaction: these articles (at their current version) want a page."""
    ids = list(article_ids)
    for start in range(0, len(ids), _IN_CHUNK):
        conn.execute(
            update(Article)
            .where(Article.id.in_(ids[start : start + _IN_CHUNK]))
            .values(
                page_status=PENDING,
                page_version=Article.version,
                page_claimed_at=None,
                page_failure=None,
                page_error=None,
                page_attempts=0,
                page_retry_at=None,
            )
        )


def mark_pending_ids(engine: Engine, article_ids: Sequence[int]) -> None:
    with engine.begin() as conn:
        mark_pending(conn, article_ids)


def _claimable(now: datetime, lease: float) -> Any:
    return (
        (Article.page_status == PENDING)
        & or_(
            Article.page_claimed_at.is_(None),
            Article.page_claimed_at < now - timedelta(seconds=lease),
        )
        & or_(Article.page_retry_at.is_(None), Article.page_retry_at <= now)
    )


def pending_page_ids(engine: Engine, now: datetime, lease: float, limit: int) -> list[int]:
    """Pending pages no worker holds (or whose holder's lease ended), oldest first."""
    query = select(Article.id).where(_claimable(now, lease)).order_by(Article.id).limit(limit)
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def claim_page(engine: Engine, article_id: int, now: datetime, lease: float) -> PageJob | None:
    """Take one pending page for a lease; None when another worker has it or it is done."""
    with engine.begin() as conn:
        taken = conn.execute(
            update(Article)
            .where(Article.id == article_id, _claimable(now, lease))
            .values(page_claimed_at=now)
        )
        if not taken.rowcount:
            return None
        row = conn.execute(
            select(
                Article.id,
                Article.page_version,
                Article.version,
                Article.feed_id,
                Article.url,
                Article.title,
                Article.summary,
                Article.content_text,
                Article.page_attempts,
                Feed.allow_private,
            )
            .join(Feed, Feed.id == Article.feed_id)
            .where(Article.id == article_id)
        ).one()
    summary, content = row.summary or "", row.content_text or ""
    return PageJob(
        article_id=row.id,
        version=row.page_version or row.version,
        feed_id=row.feed_id,
        url=row.url or "",
        allow_private=bool(row.allow_private),
        title=row.title,
        feed_text=content if len(content) >= len(summary) else summary,
        attempts=row.page_attempts or 0,
    )


def release_pages(engine: Engine, article_ids: Sequence[int]) -> None:
    """Claims given back (shutdown): pending pages are free at once, not after the lease."""
    ids = list(article_ids)
    with engine.begin() as conn:
        for start in range(0, len(ids), _IN_CHUNK):
            conn.execute(
                update(Article)
                .where(
                    Article.id.in_(ids[start : start + _IN_CHUNK]), Article.page_status == PENDING
                )
                .values(page_claimed_at=None)
            )


def _finish(job: PageJob) -> Any:
    # Only for the version claimed: an article changed meanwhile is pending again for its new
    # version, and that claim must not be answered with the old page.
    return update(Article).where(
        Article.id == job.article_id,
        Article.page_status == PENDING,
        Article.page_version == job.version,
    )


def save_page(
    engine: Engine,
    job: PageJob,
    page: FetchedPage,
    now: datetime,
    after_write: Callable[[Connection], Any] | None = None,
) -> bool:
    """Write the page text and, in the same transaction, its flags. False if outdated."""
    with engine.begin() as conn:
        result = conn.execute(
            _finish(job).values(
                page_status=FETCHED,
                page_fetched_at=now,
                page_claimed_at=None,
                page_text=page.text,
                page_url=page.canonical_url,
                page_language=page.language,
                page_cut=page.cut,
                page_failure=None,
                page_error=None,
                page_retry_at=None,
            )
        )
        if not result.rowcount:
            return False
        if after_write is not None:
            after_write(conn)
    return True


def save_page_failure(engine: Engine, job: PageJob, kind: str, message: str, now: datetime) -> str:
    """Record why the page could not be had; the article keeps its feed text.

    "retrying": a transient failure, the page is pending again from `page_retry_at`;
    "failed": final for this article version; "outdated": the article changed meanwhile.
    """
    delay = retry_delay(kind, job.attempts)
    with engine.begin() as conn:
        result = conn.execute(
            _finish(job).values(
                page_status=FAILED if delay is None else PENDING,
                page_fetched_at=now,
                page_claimed_at=None,
                page_failure=kind[:32],
                page_error=message[:2000],
                page_attempts=job.attempts + 1,
                page_retry_at=None if delay is None else now + delay,
            )
        )
    if not result.rowcount:
        return "outdated"
    return "failed" if delay is None else "retrying"


def page_counts(engine: Engine) -> dict[int, PageCounts]:
    """feed id → its pages pending, fetched, failed (by kind)."""
    query = (
        select(Article.feed_id, Article.page_status, Article.page_failure, func.count().label("n"))
        .where(Article.page_status.is_not(None))
        .group_by(Article.feed_id, Article.page_status, Article.page_failure)
    )
    counts: defaultdict[int, PageCounts] = defaultdict(PageCounts)
    with engine.connect() as conn:
        for row in conn.execute(query):
            entry = counts[row.feed_id]
            if row.page_status == PENDING:
                entry.pending += row.n
            elif row.page_status == FETCHED:
                entry.fetched += row.n
            elif row.page_status == FAILED:
                entry.failed += row.n
                kind = row.page_failure or "unknown"
                entry.failures[kind] = entry.failures.get(kind, 0) + row.n
    return dict(counts)


def iter_page_candidates(
    engine: Engine,
    since: datetime | None = None,
    feed_url: str | None = None,
    *,
    retry_failed: bool = False,
    batch: int = 500,
) -> Iterator[PageCandidate]:
    """Stored articles without a page yet (and failed ones with `retry_failed`), by id."""
    wanted = [Article.page_status.is_(None), Article.page_status == PENDING]
    if retry_failed:
        wanted.append(Article.page_status == FAILED)
    query = (
        select(
            Article.id,
            Article.url,
            Article.summary,
            Article.content_text.label("content"),
            Feed.full_text.label("feed_mode"),
            Article.page_status,
            Article.page_retry_at.label("retry_at"),
        )
        .join(Feed, Feed.id == Article.feed_id)
        .where(or_(*wanted))
    )
    if feed_url is not None:
        query = query.where(or_(Feed.source_url == feed_url, Feed.url == feed_url))
    for row in article_pages(engine, query, since, batch):
        yield PageCandidate(**row._asdict())


@dataclass(frozen=True, slots=True)
class StoredPage:
    """An article's page state as read back (tests, `ingest fulltext` summaries)."""

    article_id: int
    status: str | None
    version: int | None
    text: str | None
    canonical_url: str | None
    language: str | None
    cut: bool | None
    failure: str | None
    error: str | None


def stored_pages(engine: Engine, article_ids: Sequence[int] | None = None) -> list[StoredPage]:
    query = select(
        Article.id.label("article_id"),
        Article.page_status.label("status"),
        Article.page_version.label("version"),
        Article.page_text.label("text"),
        Article.page_url.label("canonical_url"),
        Article.page_language.label("language"),
        Article.page_cut.label("cut"),
        Article.page_failure.label("failure"),
        Article.page_error.label("error"),
    ).order_by(Article.id)
    if article_ids is not None:
        query = query.where(Article.id.in_(list(article_ids)))
    with engine.connect() as conn:
        return [StoredPage(**row._asdict()) for row in conn.execute(query)]
