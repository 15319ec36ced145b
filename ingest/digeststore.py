"""Storage for the digest and alerts: the rows a digest is built from, the once-a-day claim,
and claiming flags to alert on (so several daemons never alert twice)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ingest.digest.inputs import DigestArticle, DigestFlag, DigestInputs, EntityTrend, FailingFeed
from ingest.flagstore import StoredFlag, list_flags
from ingest.models import Article, Feed, FetchLog, Flag, Mention
from ingest.models import Digest as DigestRow

ATTENTION_AFTER = timedelta(days=1)
TEXT_FOR_SIMILARITY = 4000
# A build that has not finished this long after its claim is taken over (its daemon died).
STALE_CLAIM = timedelta(minutes=15)


def digest_inputs(
    engine: Engine,
    *,
    title: str,
    start: datetime,
    end: datetime,
    timezone: ZoneInfo,
    now: datetime,
    entity_names: Mapping[str, str],
) -> DigestInputs:
    flags = list_flags(engine, since=start, until=end)
    with engine.connect() as conn:
        articles_ingested = conn.execute(
            select(func.count())
            .select_from(Article)
            .where(Article.first_seen_at >= start, Article.first_seen_at < end)
        ).scalar_one()
        feeds_polled = conn.execute(
            select(func.count(func.distinct(FetchLog.feed_id))).where(
                FetchLog.started_at >= start, FetchLog.started_at < end
            )
        ).scalar_one()
        failing_rows = conn.execute(
            select(
                Feed.source_url,
                Feed.title,
                Feed.error_since,
                Feed.consecutive_errors,
                Feed.last_error,
            )
            .where(Feed.active.is_(True), Feed.consecutive_errors > 0)
            .order_by(Feed.error_since)
        ).all()
        articles = _articles(conn, sorted({f.article_id for f in flags}))
        trends = _trends(conn, start, end, entity_names)
    attention = tuple(
        FailingFeed(r.source_url, r.title, r.error_since, r.consecutive_errors, r.last_error)
        for r in failing_rows
        if r.error_since is not None and r.error_since <= now - ATTENTION_AFTER
    )
    return DigestInputs(
        title=title,
        period_start=start,
        period_end=end,
        timezone=timezone,
        articles_ingested=int(articles_ingested),
        feeds_polled=int(feeds_polled),
        feeds_failing=len(failing_rows),
        flags=tuple(_digest_flag(f) for f in flags),
        articles=articles,
        trends=trends,
        attention=attention,
        generated_at=now,
    )


def _digest_flag(flag: StoredFlag) -> DigestFlag:
    return DigestFlag(
        flag_id=flag.id,
        article_id=flag.article_id,
        rule=flag.rule,
        kind=flag.kind,
        name=flag.name,
        priority=flag.priority,
        evidence=flag.evidence,
        source=flag.source,
        mentions=tuple(flag.mentions or ()),
        raised_at=flag.raised_at,
    )


def _articles(conn: Connection, ids: Sequence[int]) -> dict[int, DigestArticle]:
    found: dict[int, DigestArticle] = {}
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(
                Article.id,
                Article.title,
                Article.url,
                Article.summary,
                Article.content_text,
                Article.published_at,
                Feed.title.label("feed_title"),
                Feed.source_url,
            )
            .join(Feed, Feed.id == Article.feed_id)
            .where(Article.id.in_(ids[start : start + 500]))
        )
        for r in rows:
            text = " ".join(part for part in (r.title, r.summary, r.content_text) if part)
            found[r.id] = DigestArticle(
                id=r.id,
                title=r.title,
                url=r.url,
                feed_title=r.feed_title,
                feed_url=r.source_url,
                published_at=r.published_at,
                text=text[:TEXT_FOR_SIMILARITY],
            )
    return found


def _trends(
    conn: Connection, start: datetime, end: datetime, names: Mapping[str, str]
) -> tuple[EntityTrend, ...]:
    if not names:
        return ()
    length = end - start
    earliest = start - 7 * length
    rows = conn.execute(
        select(Mention.target, Mention.seen_at).where(
            Mention.kind == "entity",
            Mention.seen_at >= earliest,
            Mention.seen_at < end,
            Mention.target.in_(list(names)),
        )
    )
    counts: dict[str, list[int]] = {target: [0] * 8 for target in names}
    for target, seen_at in rows:
        index = int((end - seen_at) / length)  # 0 = this period, 1..7 = the previous ones
        if 0 <= index < 8:
            counts[target][index] += 1
    return tuple(
        EntityTrend(id=target, name=names[target], period=c[0], previous_days=tuple(c[1:]))
        for target, c in counts.items()
        if any(c)
    )


# --- once a day, whoever gets there first ------------------------------------------------


DAILY = "daily"  # the daemon's digest (`name`); the CLI's ad-hoc builds are not stored


def claim_digest(
    engine: Engine,
    name: str,
    day: str,
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    force: bool = False,
) -> bool:
    """True if this process should build the digest of `day` (a unique row decides)."""
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(DigestRow).values(
                    name=name, day=day, period_start=start, period_end=end, claimed_at=now
                )
            )
        return True
    except IntegrityError:
        pass
    with engine.begin() as conn:
        condition = and_(DigestRow.name == name, DigestRow.day == day)
        if not force:
            condition = and_(
                condition, DigestRow.built_at.is_(None), DigestRow.claimed_at < now - STALE_CLAIM
            )
        result = conn.execute(
            update(DigestRow)
            .where(condition)
            .values(claimed_at=now, built_at=None, period_start=start, period_end=end, error=None)
        )
        return bool(result.rowcount)


def finish_digest(
    engine: Engine,
    name: str,
    day: str,
    now: datetime,
    files: Sequence[str],
    flags: int,
    *,
    emailed: bool = False,
    error: str | None = None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(DigestRow)
            .where(DigestRow.name == name, DigestRow.day == day)
            .values(
                built_at=now,
                files=list(files),
                flags=flags,
                error=error,
                emailed_at=now if emailed else None,
            )
        )


def digest_built(engine: Engine, name: str, day: str) -> bool:
    with engine.connect() as conn:
        built = conn.execute(
            select(DigestRow.built_at).where(DigestRow.name == name, DigestRow.day == day)
        ).scalar_one_or_none()
    return built is not None


def watched_before(engine: Engine, moment: datetime) -> bool:
    """Whether any feed, retired ones included, was added to the database before `moment`.

    A digest period that ended before then had nothing to report, not even a failing
    feed: a new install's first start must not build (and mail) one.
    """
    with engine.connect() as conn:
        first = conn.execute(select(Feed.id).where(Feed.created_at < moment).limit(1)).first()
    return first is not None


# --- alerts -------------------------------------------------------------------------------


def claim_alerts(
    engine: Engine, priorities: Sequence[str], since: datetime, limit: int, now: datetime
) -> list[StoredFlag]:
    """Take flags not yet alerted (marking them), so no flag is ever alerted twice."""
    if limit <= 0:
        return []
    with engine.begin() as conn:
        query = (
            select(Flag.id)
            .where(
                Flag.alerted_at.is_(None),
                Flag.priority.in_(list(priorities)),
                Flag.raised_at >= since,
            )
            .order_by(Flag.raised_at)
            .limit(limit)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(conn.execute(query).scalars())
        if not ids:
            return []
        conn.execute(update(Flag).where(Flag.id.in_(ids)).values(alerted_at=now))
    return list_flags(engine, flag_ids=ids)


def release_alerts(engine: Engine, flag_ids: Sequence[int]) -> None:
    """Delivery failed: these flags may be alerted again in the next batch."""
    if flag_ids:
        with engine.begin() as conn:
            conn.execute(update(Flag).where(Flag.id.in_(list(flag_ids))).values(alerted_at=None))


def alerts_sent_since(engine: Engine, since: datetime) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(Flag).where(Flag.alerted_at >= since)
            ).scalar_one()
        )
