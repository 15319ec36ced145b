"""Storage of what a poll writes (articles, the feed's new state, the fetch log) and of
articles read back for export; the feeds themselves (the feeds file synced in, claims,
health) are in `ingest.feedstore`. SQL lives in these modules and in db.py.

Functions take an Engine and plain records and return plain records; the daemon
calls them from its single database thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    union_all,
    update,
)

from ingest.db import sqlite_driver
from ingest.dedupe import ArticleDraft, ArticlePlan, StoredKey
from ingest.models import Article, Feed, FetchLog, seen_or_published_since, sqlite_utc_text
from ingest.records import shallow_dict, slot_init

# SQLite limits bound parameters per statement; stay well under it.
_IN_CHUNK = 400


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
class ExportedArticle:
    id: int
    feed_url: str
    guid: str | None
    url: str | None
    title: str
    summary: str
    published: datetime
    first_seen: datetime


def keyset_start(engine: Engine, since: datetime | None) -> int | None:
    """The id to page from (`Article.id > start`) for the articles seen or published at
    `since` or later: 0 without `since`, None when there is none.

    The pages' `id > start ... ORDER BY id` walks the primary key and filters, so it
    starts at the first recent article, not at the oldest: a database of ten million
    older ones was otherwise read whole for the first page. That first id comes through
    ix_articles_recent; a plain min(id) gets the primary-key walk again (SQLite's min()
    optimisation, and PostgreSQL's when it misjudges), which `+ 0` takes away.
    """
    if since is None:
        return 0
    with engine.connect() as conn:
        first = conn.execute(
            select(func.min(Article.id + 0)).where(seen_or_published_since(since))
        ).scalar()
    return None if first is None else int(first) - 1


def article_pages(
    engine: Engine, query: Select[*tuple[Any, ...]], since: datetime | None, batch: int
) -> Iterator[Row[*tuple[Any, ...]]]:
    """The rows of `query` (which selects Article.id) in id order, a batch per
    connection, limited to articles seen or published since `since` if given."""
    last_id = keyset_start(engine, since)
    if last_id is None:
        return
    if since is not None:
        query = query.where(seen_or_published_since(since))
    while True:
        page = query.where(Article.id > last_id).order_by(Article.id).limit(batch)
        with engine.connect() as conn:
            rows = conn.execute(page).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id


def iter_articles(
    engine: Engine, since: datetime | None = None, article_ids: Any = None, batch: int = 1000
) -> Iterator[ExportedArticle]:
    """Stored articles oldest first, streamed in batches (keyset pagination)."""
    query = select(
        Article.id,
        Feed.source_url.label("feed_url"),
        Article.guid,
        Article.url,
        Article.title,
        Article.summary,
        Article.published_at.label("published"),
        Article.first_seen_at.label("first_seen"),
    ).join(Feed, Feed.id == Article.feed_id)
    if article_ids is not None:
        query = query.where(Article.id.in_(article_ids))
    for row in article_pages(engine, query, since, batch):
        yield ExportedArticle(**row._asdict())


def prune_fetch_log(engine: Engine, older_than: datetime) -> int:
    with engine.begin() as conn:
        result = conn.execute(delete(FetchLog).where(FetchLog.started_at < older_than))
        return int(result.rowcount or 0)
