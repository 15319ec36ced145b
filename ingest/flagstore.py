"""Storage of flags and mentions (the SQL of the watchlist stage)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select, update

from ingest.db import sqlite_driver
from ingest.models import Article, Feed, Flag, Mention, seen_or_published_since, sqlite_utc_text
from ingest.records import shallow_dict, slot_init
from ingest.store import article_pages

PRIORITY_ORDER = {"high": 0, "medium": 1, "low": 2}


@slot_init
@dataclass(frozen=True, slots=True)
class FlagRow:
    """A flag to be written."""

    article_id: int
    rule: str
    kind: str
    name: str
    priority: str
    evidence: str
    field: str
    source: str
    mentions: list[dict[str, Any]]
    watchlist_version: str
    raised_at: datetime


@slot_init
@dataclass(frozen=True, slots=True)
class MentionRow:
    article_id: int
    target: str
    kind: str
    count: int
    seen_at: datetime


def _insert(conn: Connection, table: Any) -> Any:
    # Imported here: the PostgreSQL dialect (and asyncpg's module with it) took 23 ms of
    # every start, SQLite or not.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


# Built once per dialect: building an upsert is cheap, but SQLAlchemy then derives its
# cache key on every call, which cost more than the insert itself (a call per poll).
_STATEMENTS: dict[tuple[str, str], Any] = {}


def _flag_insert(conn: Connection) -> Any:
    key = ("flags", conn.dialect.name)
    if key not in _STATEMENTS:
        _STATEMENTS[key] = (
            _insert(conn, Flag.__table__)
            .on_conflict_do_nothing(index_elements=["article_id", "rule"])
            .returning(Flag.__table__.c.id)
        )
    return _STATEMENTS[key]


def _mention_upsert(conn: Connection) -> Any:
    key = ("mentions", conn.dialect.name)
    if key not in _STATEMENTS:
        statement = _insert(conn, Mention.__table__)
        _STATEMENTS[key] = statement.on_conflict_do_update(
            index_elements=["article_id", "target"], set_={"count": statement.excluded.count}
        )
    return _STATEMENTS[key]


def insert_flags(conn: Connection, rows: Sequence[FlagRow]) -> list[int]:
    """Write flags that are not there yet (same article + rule = same flag). New ids back."""
    if not rows:
        return []
    if conn.dialect.name == "sqlite":
        return _insert_flags_sqlite(conn, rows)
    # One statement for all rows (SQLAlchemy's insertmanyvalues); conflicting rows return
    # nothing, so the ids back are exactly the new flags.
    return list(conn.execute(_flag_insert(conn), [shallow_dict(row) for row in rows]).scalars())


def upsert_mentions(conn: Connection, rows: Sequence[MentionRow]) -> None:
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        sqlite_driver(conn).executemany(_SQLITE_MENTION_UPSERT, map(_sqlite_mention, rows))
    else:
        conn.execute(_mention_upsert(conn), [shallow_dict(row) for row in rows])


# The SQLite paths go through the driver with plain tuples, as articles do (store.py):
# SQLAlchemy's bind processing (JSON, datetimes) and its insertmanyvalues batching cost
# more than SQLite's own work, and flags and mentions are written with every new article.
# The values are what the typed columns would have stored: json.dumps for JSON (the
# dialect's serializer) and `sqlite_utc_text` for moments; a test holds the rows alike.
_FLAG_COLUMNS = (
    "article_id",
    "rule",
    "kind",
    "name",
    "priority",
    "evidence",
    "field",
    "source",
    "mentions",
    "watchlist_version",
    "raised_at",
)
_FLAG_ROWS_PER_STATEMENT = 500  # 5,500 parameters: far below SQLite's limit of 32,766
_SQLITE_MENTION_UPSERT = (
    "INSERT INTO mentions (article_id, target, kind, count, seen_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (article_id, target) DO UPDATE SET count = excluded.count"
)


def _insert_flags_sqlite(conn: Connection, rows: Sequence[FlagRow]) -> list[int]:
    # sqlite3's executemany cannot return rows: one multi-row INSERT … RETURNING instead.
    driver = sqlite_driver(conn)
    new_ids: list[int] = []
    for start in range(0, len(rows), _FLAG_ROWS_PER_STATEMENT):
        chunk = rows[start : start + _FLAG_ROWS_PER_STATEMENT]
        values = ", ".join(["(" + ", ".join("?" * len(_FLAG_COLUMNS)) + ")"] * len(chunk))
        statement = (
            f"INSERT INTO flags ({', '.join(_FLAG_COLUMNS)}) VALUES {values} "
            "ON CONFLICT (article_id, rule) DO NOTHING RETURNING id"
        )
        params = tuple(value for row in chunk for value in _sqlite_flag(row))
        new_ids.extend(flag_id for (flag_id,) in driver.execute(statement, params))
    return sorted(new_ids)  # SQLite returns them in no promised order


def _sqlite_flag(row: FlagRow) -> tuple[Any, ...]:
    return (
        row.article_id,
        row.rule,
        row.kind,
        row.name,
        row.priority,
        row.evidence,
        row.field,
        row.source,
        json.dumps(row.mentions),
        row.watchlist_version,
        sqlite_utc_text(row.raised_at),
    )


def _sqlite_mention(row: MentionRow) -> tuple[Any, ...]:
    return (row.article_id, row.target, row.kind, row.count, sqlite_utc_text(row.seen_at))


def mark_flags_alerted(conn: Connection, flag_ids: Sequence[int], now: datetime) -> None:
    """Flags raised by a backfill (rematch) are news to nobody: they are never alerted."""
    if flag_ids:
        conn.execute(update(Flag).where(Flag.id.in_(list(flag_ids))).values(alerted_at=now))


def delete_flags(conn: Connection, flag_ids: Sequence[int]) -> None:
    if flag_ids:
        conn.execute(delete(Flag).where(Flag.id.in_(list(flag_ids))))


@dataclass(frozen=True, slots=True)
class StoredFlag:
    """A flag read back with its article and feed, for listing, digests and alerts."""

    id: int
    article_id: int
    rule: str
    kind: str
    name: str
    priority: str
    evidence: str
    field: str
    source: str
    mentions: list[dict[str, Any]]
    watchlist_version: str
    raised_at: datetime
    alerted_at: datetime | None
    title: str
    url: str | None
    published_at: datetime
    feed_title: str | None
    feed_url: str


def list_flags(
    engine: Engine,
    since: datetime | None = None,
    until: datetime | None = None,
    priorities: Sequence[str] | None = None,
    limit: int | None = None,
    flag_ids: Sequence[int] | None = None,
) -> list[StoredFlag]:
    query = (
        select(
            Flag.id,
            Flag.article_id,
            Flag.rule,
            Flag.kind,
            Flag.name,
            Flag.priority,
            Flag.evidence,
            Flag.field,
            Flag.source,
            Flag.mentions,
            Flag.watchlist_version,
            Flag.raised_at,
            Flag.alerted_at,
            Article.title,
            Article.url,
            Article.published_at,
            Feed.title.label("feed_title"),
            Feed.source_url.label("feed_url"),
        )
        .join(Article, Article.id == Flag.article_id)
        .join(Feed, Feed.id == Article.feed_id)
        .order_by(Flag.raised_at.desc(), Flag.id.desc())
    )
    if since is not None:
        query = query.where(Flag.raised_at >= since)
    if until is not None:
        query = query.where(Flag.raised_at < until)
    if priorities:
        query = query.where(Flag.priority.in_(list(priorities)))
    if flag_ids is not None:
        query = query.where(Flag.id.in_(list(flag_ids)))
    if limit:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [StoredFlag(**row._asdict()) for row in conn.execute(query)]


def flagged_article_ids(engine: Engine, since: datetime | None = None) -> list[int]:
    query = select(Flag.article_id).distinct()
    if since is not None:
        query = query.join(Article, Article.id == Flag.article_id).where(
            seen_or_published_since(since)
        )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


@dataclass(frozen=True, slots=True)
class ArticleText:
    id: int
    title: str
    summary: str
    content: str
    page: str | None = None  # the article page's main text, once fetched (ingest.fulltext)


def iter_article_texts(
    engine: Engine, since: datetime | None = None, batch: int = 500
) -> Iterator[ArticleText]:
    query = select(
        Article.id,
        Article.title,
        Article.summary,
        Article.content_text.label("content"),
        Article.page_text.label("page"),
    )
    for row in article_pages(engine, query, since, batch):
        yield ArticleText(**row._asdict())


def count_articles(engine: Engine, since: datetime | None = None) -> int:
    query = select(func.count()).select_from(Article)
    if since is not None:
        query = query.where(seen_or_published_since(since))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def flags_of_articles(conn: Connection, article_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """article id → {rule: flag id} for these articles."""
    found: dict[int, dict[str, int]] = {}
    if not article_ids:
        return found
    rows = conn.execute(
        select(Flag.id, Flag.article_id, Flag.rule).where(Flag.article_id.in_(list(article_ids)))
    )
    for row in rows:
        found.setdefault(row.article_id, {})[row.rule] = row.id
    return found
