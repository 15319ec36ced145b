"""SQLAlchemy 2 typed tables. The ORM stays in the storage layer (db, store)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import GenericFunction

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only has INTEGER PRIMARY KEY as rowid alias; BigInteger would not autoincrement.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both engines (SQLite stores naive text otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


def sqlite_utc_text(value: datetime | None) -> str | None:
    """What UTCDateTime and SQLite's DATETIME make of a moment, in one step instead of
    three, for the raw-driver bulk paths: naive UTC text with microseconds."""
    if value is None:
        return None
    if value.tzinfo is not UTC:  # the parsers and the clock give UTC: no conversion then
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        value = value.astimezone(UTC)
    # Cut the text's "+00:00" rather than replace(tzinfo=None) first: the replace cost
    # half as much again, and the write path converts two moments per article.
    return value.isoformat(" ", "microseconds")[:-6]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Feed(Base):
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # As listed in the feeds file: the key that file sync matches on, even after a 301.
    source_url: Mapped[str] = mapped_column(String(2048), unique=True)
    url: Mapped[str] = mapped_column(String(2048))  # what is fetched now
    title: Mapped[str | None] = mapped_column(String(1024))
    site_url: Mapped[str | None] = mapped_column(String(2048))
    category: Mapped[str | None] = mapped_column(String(256))
    interval_override: Mapped[float | None] = mapped_column(Float)
    allow_private: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    full_text: Mapped[str | None] = mapped_column(
        String(8)
    )  # auto | always | never; None: settings
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_reason: Mapped[str | None] = mapped_column(String(256))

    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(256))
    body_hash: Mapped[str | None] = mapped_column(String(64))
    not_modified_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime)
    interval: Mapped[float | None] = mapped_column(Float)  # current adaptive interval, seconds
    ttl_hint: Mapped[int | None] = mapped_column(Integer)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_new_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    error_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_feeds_due", "active", "next_poll_at"),)


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    guid: Mapped[str | None] = mapped_column(String(2048))
    url: Mapped[str | None] = mapped_column(String(4096))
    url_key: Mapped[str | None] = mapped_column(String(4096))  # normalized link
    content_key: Mapped[str] = mapped_column(
        String(32)
    )  # hash of title + text: last-resort identity
    fingerprint: Mapped[str] = mapped_column(
        String(32)
    )  # hash of every stored field: change detection
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)  # plain text
    summary_html: Mapped[str] = mapped_column(Text)
    content_html: Mapped[str] = mapped_column(Text)
    content_text: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(1024))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the entry's date, else first seen
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    # The article page (ingest.fulltext): None = not wanted | pending | fetched | failed,
    # for the article version in page_version; a claim (page_claimed_at) leases it to a worker.
    page_status: Mapped[str | None] = mapped_column(String(16))
    page_version: Mapped[int | None] = mapped_column(Integer)
    page_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    page_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    page_text: Mapped[str | None] = mapped_column(Text)  # main text, boilerplate removed
    page_url: Mapped[str | None] = mapped_column(String(4096))  # canonical, when stated
    page_language: Mapped[str | None] = mapped_column(String(35))  # BCP 47, when stated
    page_cut: Mapped[bool | None] = mapped_column(Boolean)  # longer than max_page_size
    page_failure: Mapped[str | None] = mapped_column(String(32))  # http_403, robots, timeout…
    page_error: Mapped[str | None] = mapped_column(Text)
    # Failed fetches of this version; a transient failure is tried again at page_retry_at.
    page_attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    page_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ux_articles_feed_guid", "feed_id", "guid", unique=True),
        Index("ix_articles_page_status", "page_status"),
        Index("ix_articles_feed_url_key", "feed_id", "url_key"),
        Index("ix_articles_feed_content_key", "feed_id", "content_key"),
        Index("ix_articles_first_seen", "first_seen_at"),
    )


# GenericFunction takes its SQL name from the class name.
class greatest(GenericFunction[datetime]):
    """The later of its arguments: GREATEST on PostgreSQL, max() with several arguments
    on SQLite."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(greatest, "sqlite")
def _greatest_on_sqlite(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


def _seen_or_published() -> ColumnElement[datetime]:
    return greatest(Article.__table__.c.first_seen_at, Article.__table__.c.published_at)


# "Since" means first seen or published since then. An index on published_at alone would
# serve that OR too, but feeds list items in their own order: each poll's rows landed on
# as many random pages of it as it had items, over a third of the cost of inserting an
# article. The later of the two dates is first_seen_at for all but future-dated items, so
# this index grows at its end, as ix_articles_first_seen does.
Index("ix_articles_recent", _seen_or_published())


def seen_or_published_since(since: datetime) -> ColumnElement[bool]:
    """Articles first seen or published at `since` or later (what every --since means),
    in the form ix_articles_recent answers."""
    return _seen_or_published() >= since


class FetchLog(Base):
    """One row per poll: answers "why was this feed (not) polled" from data, not logs."""

    __tablename__ = "fetch_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int] = mapped_column(Integer)
    status: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(32))
    new_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_fetch_log_feed_started", "feed_id", "started_at"),)


class Flag(Base):
    """An article that a watchlist rule (or a tracked entity/keyword group alone) flagged."""

    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(256))  # rule id, or the entity / keyword group id
    kind: Mapped[str] = mapped_column(String(16))  # rule | entity | keywords
    name: Mapped[str] = mapped_column(String(512))
    priority: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[str] = mapped_column(Text)
    field: Mapped[str] = mapped_column(String(32))  # title | summary | content
    source: Mapped[str] = mapped_column(
        String(16), default="feed", server_default="feed"
    )  # feed | page
    mentions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    watchlist_version: Mapped[str] = mapped_column(String(64))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ux_flags_article_rule", "article_id", "rule", unique=True),
        Index("ix_flags_raised", "raised_at"),
    )


class Mention(Base):
    """How often an article mentions a tracked entity or keyword group (for trends)."""

    __tablename__ = "mentions"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    target: Mapped[str] = mapped_column(String(256), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(Integer)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_mentions_target_seen", "target", "seen_at"),)


class Digest(Base):
    """One row per digest per day: built once, whoever (of several daemons) gets there first."""

    __tablename__ = "digests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD in the digest's time zone
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    files: Mapped[list[str] | None] = mapped_column(JSON)
    flags: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ux_digests_name_day", "name", "day", unique=True),)
