"""Storage of feeds' state, articles and the fetch log (SQL lives here and in db.py).

Functions take an Engine and plain records and return plain records; the daemon
calls them from its single database thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    union_all,
    update,
)

from ingest.db import sqlite_driver
from ingest.dedupe import ArticleDraft, ArticlePlan, StoredKey
from ingest.models import Article, Feed, FetchLog, sqlite_utc_text
from ingest.records import shallow_dict, slot_init

# SQLite limits bound parameters per statement; stay well under it.
_IN_CHUNK = 400


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
class FeedUpdate:
    """The new state of a feed after a poll (only the columns a poll may change)."""

    last_polled_at: datetime
    next_poll_at: datetime
    last_status: int | None
    consecutive_errors: int
    error_since: datetime | None
    last_error: str | None
    values: dict[str, Any] = field(default_factory=dict)  # etag, title, url…: only when set


@dataclass(frozen=True, slots=True)
class FetchEvent:
    started_at: datetime
    duration_ms: int
    status: int | None
    outcome: str
    new_count: int = 0
    updated_count: int = 0
    error: str | None = None


@slot_init
@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article written by a poll: what matching and alerts need."""

    id: int
    feed_id: int
    is_new: bool
    draft: ArticleDraft


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


def _keys_where(column: Any, values: str) -> Any:
    return select(
        Article.id, Article.guid, Article.url_key, Article.content_key, Article.fingerprint
    ).where(Article.feed_id == bindparam("feed"), column.in_(bindparam(values, expanding=True)))


# Built once, one statement for the three keys: a changed feed costs one round trip of
# three index searches. Building the statement for each poll, and then three statements
# (as OR, SQLite scans the feed's whole history instead), cost several times more.
# UNION ALL: load_article_keys drops the repeats by id, the database need not sort for it.
_KEYS_BY = union_all(
    _keys_where(Article.guid, "guids"),
    _keys_where(Article.url_key, "links"),
    _keys_where(Article.content_key, "contents"),
)


def load_article_keys(
    engine: Engine, feed_id: int, guids: set[str], links: set[str], contents: set[str]
) -> list[StoredKey]:
    """The stored articles of a feed that any of these keys could identify."""
    found: dict[int, StoredKey] = {}
    lists = [sorted(guids), sorted(links), sorted(contents)]
    with engine.connect() as conn:
        # Chunks bound the statement's parameters (SQLite's limit, PostgreSQL's plan size).
        for start in range(0, max(map(len, lists)), _IN_CHUNK):
            chunk = [values[start : start + _IN_CHUNK] for values in lists]
            parameters = dict(zip(("guids", "links", "contents"), chunk, strict=True))
            for row in conn.execute(_KEYS_BY, {"feed": feed_id, **parameters}).all():
                found[row[0]] = StoredKey(*row)
    return list(found.values())


def _article_values(feed_id: int, article: ArticleDraft, now: datetime) -> dict[str, Any]:
    entry = article.entry
    return {
        "feed_id": feed_id,
        "guid": entry.guid,
        "url": entry.link,
        "url_key": article.url_key,
        "content_key": article.content_key,
        "fingerprint": article.fingerprint,
        "title": entry.title,
        "summary": entry.summary_text,
        "summary_html": entry.summary_html,
        "content_html": entry.content_html,
        "content_text": entry.content_text,
        "author": entry.author,
        "published_at": article.published_at,
        "updated_at": entry.updated,
        "changed_at": now,
    }


# One statement each, parameters per call: compiled once per set of keys, instead of
# an ORM statement built and keyed again for every poll (~0.3 ms of a 304's write).
_FETCH_LOG_TABLE = cast(Table, FetchLog.__table__)
_FEED_TABLE = cast(Table, Feed.__table__)
_FETCH_LOG_INSERT = insert(_FETCH_LOG_TABLE)
_FEED_UPDATE = update(_FEED_TABLE).where(_FEED_TABLE.c.id == bindparam("feed_id_"))


def insert_articles(
    conn: Connection, feed_id: int, drafts: Sequence[ArticleDraft], now: datetime
) -> list[int]:
    """Insert new articles of one feed; their new ids, in order."""
    if conn.dialect.name == "sqlite":
        return _insert_articles_sqlite(conn, feed_id, drafts, now)
    rows = [_article_values(feed_id, a, now) | {"first_seen_at": now} for a in drafts]
    statement = insert(Article).returning(Article.id, sort_by_parameter_order=True)
    return list(conn.execute(statement, rows).scalars())


# The columns `_article_values` gives, plus first_seen_at, in the order of `_sqlite_row`.
SQLITE_INSERT_COLUMNS = (
    "feed_id",
    "guid",
    "url",
    "url_key",
    "content_key",
    "fingerprint",
    "title",
    "summary",
    "summary_html",
    "content_html",
    "content_text",
    "author",
    "published_at",
    "updated_at",
    "changed_at",
    "first_seen_at",
)
_SQLITE_INSERT = (
    f"INSERT INTO articles ({', '.join(SQLITE_INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(SQLITE_INSERT_COLUMNS))})"
)


def _insert_articles_sqlite(
    conn: Connection, feed_id: int, drafts: Sequence[ArticleDraft], now: datetime
) -> list[int]:
    """The bulk path on SQLite: one executemany of plain tuples through the driver.

    SQLAlchemy cannot batch INSERT … RETURNING in parameter order on SQLite and sends a
    statement per row, with more time spent in it than in SQLite (55 µs of 80 µs an
    article); a dict per row run through the columns' bind processors still cost a
    third of the insert. Only the datetimes need converting (`sqlite_utc_text` gives
    SQLAlchemy's text; tests hold the stored bytes alike). The ids need no RETURNING:
    the transaction holds SQLite's one write lock, and each new rowid is one more than
    the largest (the table has no AUTOINCREMENT), so the rows get consecutive ids.
    """
    stamp = sqlite_utc_text(now)
    params = [_sqlite_row(feed_id, draft, stamp) for draft in drafts]
    driver = sqlite_driver(conn)
    driver.executemany(_SQLITE_INSERT, params)
    (last,) = driver.execute("SELECT last_insert_rowid()").fetchone()
    first = last - len(params) + 1
    (stored,) = driver.execute(
        "SELECT count(*) FROM articles WHERE id BETWEEN ? AND ?", (first, last)
    ).fetchone()
    if stored != len(params):  # cannot happen under the write lock; never write wrong ids
        raise RuntimeError(f"article ids {first}..{last} are not the rows just inserted")
    return list(range(first, last + 1))


def record_poll(conn: Connection, feed_id: int, values: dict[str, Any], event: FetchEvent) -> None:
    """The feed's new state and the poll's log line: every poll's two statements.

    On SQLite through the driver with plain values, as the bulk paths are: through
    SQLAlchemy they took 64 ms per 1,000 polls of the database thread, holding the GIL
    the event loop needs; 19 ms this way. A test holds the rows to the ORM's.
    """
    if conn.dialect.name != "sqlite":
        conn.execute(_FEED_UPDATE, {"feed_id_": feed_id, **values})
        conn.execute(_FETCH_LOG_INSERT, {"feed_id": feed_id, **shallow_dict(event)})
        return
    columns = tuple(values)
    statement = _SQLITE_FEED_UPDATES.get(columns)
    if statement is None:
        unknown = set(columns) - _FEED_COLUMNS
        if unknown:
            raise ValueError(f"not columns of feeds: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in columns)
        statement = _SQLITE_FEED_UPDATES[columns] = f"UPDATE feeds SET {assignments} WHERE id = ?"
    driver = sqlite_driver(conn)
    driver.execute(statement, (*map(_sqlite_value, values.values()), feed_id))
    logged = (feed_id, *map(_sqlite_value, (getattr(event, name) for name in _EVENT_FIELDS)))
    driver.execute(_SQLITE_FETCH_LOG_INSERT, logged)


_FEED_COLUMNS = frozenset(_FEED_TABLE.c.keys())
_SQLITE_FEED_UPDATES: dict[tuple[str, ...], str] = {}
_EVENT_FIELDS = tuple(f.name for f in fields(FetchEvent))
_SQLITE_FETCH_LOG_INSERT = (
    f"INSERT INTO fetch_log (feed_id, {', '.join(_EVENT_FIELDS)}) "
    f"VALUES ({', '.join('?' * (len(_EVENT_FIELDS) + 1))})"
)


def _sqlite_value(value: Any) -> Any:
    return sqlite_utc_text(value) if isinstance(value, datetime) else value


def _sqlite_row(feed_id: int, draft: ArticleDraft, stamp: str | None) -> tuple[Any, ...]:
    entry = draft.entry
    return (
        feed_id,
        entry.guid,
        entry.link,
        draft.url_key,
        draft.content_key,
        draft.fingerprint,
        entry.title,
        entry.summary_text,
        entry.summary_html,
        entry.content_html,
        entry.content_text,
        entry.author,
        sqlite_utc_text(draft.published_at),
        sqlite_utc_text(entry.updated),
        stamp,
        stamp,
    )


def save_poll(
    engine: Engine,
    feed_id: int,
    state: FeedUpdate,
    event: FetchEvent,
    plan: ArticlePlan | None,
    now: datetime,
    after_write: Any = None,
) -> list[StoredArticle]:
    """Write one poll in a transaction of its own (see `write_poll`)."""
    with engine.begin() as conn:
        return write_poll(conn, feed_id, state, event, plan, now, after_write)


def write_poll(
    conn: Connection,
    feed_id: int,
    state: FeedUpdate,
    event: FetchEvent,
    plan: ArticlePlan | None,
    now: datetime,
    after_write: Any = None,
) -> list[StoredArticle]:
    """Write one poll's articles, feed state and fetch event, all or nothing.

    The caller gives the transaction: the daemon's group commit runs each poll in a
    SAVEPOINT of a shared transaction (`Database.write`). `after_write(conn, stored)`
    runs inside it too (flags, pages), so a crash loses the whole poll or nothing.
    """
    stored: list[StoredArticle] = []
    if plan is not None and plan.inserts:
        ids = insert_articles(conn, feed_id, plan.inserts, now)
        stored.extend(
            StoredArticle(i, feed_id, True, a) for i, a in zip(ids, plan.inserts, strict=True)
        )
    if plan is not None:
        for article_id, article in plan.updates:
            conn.execute(
                update(Article)
                .where(Article.id == article_id)
                .values(**_article_values(feed_id, article, now), version=Article.version + 1)
            )
            stored.append(StoredArticle(article_id, feed_id, False, article))
    values = {k: v for k, v in shallow_dict(state).items() if k != "values"} | state.values
    record_poll(conn, feed_id, values, event)
    if after_write is not None and stored:
        after_write(conn, stored)
    return stored


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


@dataclass(frozen=True, slots=True)
class ExportedArticle:
    id: int
    feed_url: str
    guid: str | None
    url: str | None
    title: str
    summary: str
    published: datetime
    first_seen: datetime


def iter_articles(
    engine: Engine, since: datetime | None = None, article_ids: Any = None, batch: int = 1000
) -> Iterator[ExportedArticle]:
    """Stored articles oldest first, streamed in batches (keyset pagination)."""
    last_id = 0
    while True:
        query = (
            select(
                Article.id,
                Feed.source_url.label("feed_url"),
                Article.guid,
                Article.url,
                Article.title,
                Article.summary,
                Article.published_at.label("published"),
                Article.first_seen_at.label("first_seen"),
            )
            .join(Feed, Feed.id == Article.feed_id)
            .where(Article.id > last_id)
            .order_by(Article.id)
            .limit(batch)
        )
        if since is not None:
            query = query.where(or_(Article.first_seen_at >= since, Article.published_at >= since))
        if article_ids is not None:
            query = query.where(Article.id.in_(article_ids))
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return
        for row in rows:
            yield ExportedArticle(**row._asdict())
        last_id = rows[-1].id


def prune_fetch_log(engine: Engine, older_than: datetime) -> int:
    with engine.begin() as conn:
        result = conn.execute(delete(FetchLog).where(FetchLog.started_at < older_than))
        return int(result.rowcount or 0)


def move_feed(engine: Engine, feed_id: int, new_url: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(Feed).where(Feed.id == feed_id).values(url=new_url))
