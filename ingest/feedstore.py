"""Storage of the feeds themselves: the feeds file synced in, due feeds claimed and given
back, each feed's health, a feed's move to a new URL.

What a poll writes (articles, the feed's new state, the fetch log) is in `ingest.store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from ingest.models import Article, Feed


@dataclass(frozen=True, slots=True)
class DeclaredFeed:
    """A feed as the feeds file lists it."""

    url: str
    title: str | None = None
    site_url: str | None = None
    category: str | None = None
    interval: float | None = None
    allow_private: bool = False
    full_text: str | None = None  # auto | always | never; None: the [fulltext] mode


@dataclass(frozen=True, slots=True)
class FeedState:
    """A feed as read back from storage, what a poll needs."""

    id: int
    url: str
    source_url: str
    title: str | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    not_modified_since: datetime | None
    interval_override: float | None
    interval: float | None
    consecutive_errors: int
    error_since: datetime | None
    allow_private: bool
    ttl_hint: int | None


@dataclass(frozen=True, slots=True)
class SyncReport:
    added: tuple[str, ...]
    retired: tuple[str, ...]
    reactivated: tuple[str, ...]
    updated: tuple[str, ...]


def sync_feeds(engine: Engine, declared: Sequence[DeclaredFeed], now: datetime) -> SyncReport:
    """Make the database follow the feeds file: add, retire (articles stay), reactivate."""
    wanted = {feed.url: feed for feed in declared}
    added: list[str] = []
    retired: list[str] = []
    reactivated: list[str] = []
    updated: list[str] = []
    with engine.begin() as conn:
        _one_sync_at_a_time(conn)
        rows = conn.execute(
            select(
                Feed.id,
                Feed.source_url,
                Feed.active,
                Feed.retired_reason,
                Feed.interval_override,
                Feed.category,
                Feed.allow_private,
                Feed.title,
                Feed.full_text,
            )
        ).all()
        known = {row.source_url: row for row in rows}
        new_rows: list[dict[str, Any]] = []
        for url, feed in wanted.items():
            row = known.get(url)
            if row is None:
                new_rows.append(
                    {
                        "source_url": url,
                        "url": url,
                        "title": feed.title,
                        "site_url": feed.site_url,
                        "category": feed.category,
                        "interval_override": feed.interval,
                        "allow_private": feed.allow_private,
                        "full_text": feed.full_text,
                        "active": True,
                        "next_poll_at": now,
                        "consecutive_errors": 0,
                        "created_at": now,
                    }
                )
                added.append(url)
                continue
            changes: dict[str, Any] = {}
            if not row.active and row.retired_reason == REMOVED_FROM_FILE:
                changes.update(active=True, retired_at=None, retired_reason=None, next_poll_at=now)
                reactivated.append(url)
            if (row.interval_override, row.category, row.allow_private, row.full_text) != (
                feed.interval,
                feed.category,
                feed.allow_private,
                feed.full_text,
            ):
                changes.update(
                    interval_override=feed.interval,
                    category=feed.category,
                    allow_private=feed.allow_private,
                    full_text=feed.full_text,
                )
                if url not in reactivated:
                    updated.append(url)
            if feed.title and not row.title:
                changes["title"] = feed.title
            if changes:
                conn.execute(update(Feed).where(Feed.id == row.id).values(**changes))
        if new_rows:  # one executemany: a first start with 10,000 feeds took seconds
            conn.execute(insert(Feed), new_rows)
        for url, row in known.items():
            if url not in wanted and row.active:
                conn.execute(
                    update(Feed)
                    .where(Feed.id == row.id)
                    .values(active=False, retired_at=now, retired_reason=REMOVED_FROM_FILE)
                )
                retired.append(url)
    return SyncReport(tuple(added), tuple(retired), tuple(reactivated), tuple(updated))


REMOVED_FROM_FILE = "removed from the feeds file"


# Any constant: the key of the PostgreSQL advisory lock that serializes feeds-file syncs.
_SYNC_LOCK_KEY = 0x1A6E57


def _one_sync_at_a_time(conn: Connection) -> None:
    """Daemons started together on one PostgreSQL would insert the same feeds twice.

    A transaction-scoped advisory lock makes the second wait and then see the first's
    rows. SQLite has one writer anyway.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_SYNC_LOCK_KEY)))


GONE = "gone (HTTP 410)"


def claim_due_feeds(
    engine: Engine,
    now: datetime,
    limit: int,
    lease: float,
    *,
    everything: bool = False,
    only: Sequence[int] | None = None,
) -> list[FeedState]:
    """Take up to `limit` due feeds and push their next_poll_at out by a lease.

    The lease is the claim: another daemon (PostgreSQL, SKIP LOCKED) will not take them,
    and if this process dies the feeds become due again when the lease ends.
    """
    if limit <= 0:
        return []
    with engine.begin() as conn:
        query = (
            select(Feed.id).where(Feed.active.is_(True)).order_by(Feed.next_poll_at).limit(limit)
        )
        if not everything:
            query = query.where(Feed.next_poll_at <= now)
        if only is not None:
            query = query.where(Feed.id.in_(list(only)))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(conn.execute(query).scalars())
        if not ids:
            return []
        conn.execute(
            update(Feed).where(Feed.id.in_(ids)).values(next_poll_at=now + timedelta(seconds=lease))
        )
        rows = conn.execute(select(*_STATE_COLUMNS).where(Feed.id.in_(ids))).all()
    return [FeedState(**row._asdict()) for row in rows]


_STATE_COLUMNS = (
    Feed.id,
    Feed.url,
    Feed.source_url,
    Feed.title,
    Feed.etag,
    Feed.last_modified,
    Feed.body_hash,
    Feed.not_modified_since,
    Feed.interval_override,
    Feed.interval,
    Feed.consecutive_errors,
    Feed.error_since,
    Feed.allow_private,
    Feed.ttl_hint,
)


def active_feed_ids(engine: Engine, now: datetime, *, everything: bool = False) -> list[int]:
    """The feeds one `run --once` will poll: the due ones, or all with --all."""
    query = select(Feed.id).where(Feed.active.is_(True)).order_by(Feed.next_poll_at)
    if not everything:
        query = query.where(Feed.next_poll_at <= now)
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def release_claims(engine: Engine, feed_ids: Sequence[int], now: datetime) -> None:
    """Abandoned polls (shutdown): due again at once rather than after the lease."""
    if feed_ids:
        with engine.begin() as conn:
            conn.execute(update(Feed).where(Feed.id.in_(list(feed_ids))).values(next_poll_at=now))


@dataclass(frozen=True, slots=True)
class FeedStatus:
    id: int
    url: str
    title: str | None
    active: bool
    retired_reason: str | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_status: int | None
    consecutive_errors: int
    error_since: datetime | None
    last_error: str | None
    next_poll_at: datetime
    articles: int


def feed_statuses(engine: Engine) -> list[FeedStatus]:
    counts = select(Article.feed_id, func.count().label("n")).group_by(Article.feed_id).subquery()
    query = (
        select(
            Feed.id,
            Feed.url,
            Feed.title,
            Feed.active,
            Feed.retired_reason,
            Feed.last_polled_at,
            Feed.last_success_at,
            Feed.last_status,
            Feed.consecutive_errors,
            Feed.error_since,
            Feed.last_error,
            Feed.next_poll_at,
            func.coalesce(counts.c.n, 0).label("articles"),
        )
        .outerjoin(counts, counts.c.feed_id == Feed.id)
        .order_by(Feed.active.desc(), Feed.consecutive_errors.desc(), Feed.url)
    )
    with engine.connect() as conn:
        return [FeedStatus(**row._asdict()) for row in conn.execute(query)]


def move_feed(engine: Engine, feed_id: int, new_url: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(Feed).where(Feed.id == feed_id).values(url=new_url))
