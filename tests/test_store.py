"""Storage on a real SQLite file and a real PostgreSQL: migrations, sync, claims, one
transaction per poll."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, event, func, insert, select, text, update
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import IntegrityError

from ingest.db import (
    HEAD_REVISION,
    Database,
    check_schema,
    create_db_engine,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from ingest.dedupe import lookup_keys, plan_articles
from ingest.errors import SchemaError
from ingest.feedstore import (
    REMOVED_FROM_FILE,
    DeclaredFeed,
    active_feed_ids,
    claim_due_feeds,
    feed_statuses,
    sync_feeds,
)
from ingest.flagstore import FlagRow, MentionRow, insert_flags, iter_article_texts, upsert_mentions
from ingest.models import (
    Article,
    Feed,
    FetchLog,
    Flag,
    Mention,
    UTCDateTime,
    seen_or_published_since,
    sqlite_utc_text,
)
from ingest.pagestore import iter_page_candidates
from ingest.records import ParsedEntry, shallow_dict
from ingest.store import (
    SQLITE_INSERT_COLUMNS,
    FeedUpdate,
    FetchEvent,
    _article_values,
    iter_articles,
    keyset_start,
    load_article_keys,
    record_poll,
    save_poll,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def entry(n: int, title: str | None = None) -> ParsedEntry:
    return ParsedEntry(
        guid=f"guid-{n}",
        link=f"https://ex.com/{n}",
        title=title or f"Story {n}",
        summary_html="<p>s</p>",
        summary_text="s",
        content_html="",
        content_text="",
        author=None,
        published=NOW - timedelta(minutes=n),
        updated=None,
    )


def update_after(now: datetime) -> FeedUpdate:
    return FeedUpdate(
        last_polled_at=now,
        next_poll_at=now + timedelta(minutes=30),
        last_status=200,
        consecutive_errors=0,
        error_since=None,
        last_error=None,
    )


def test_migrations_go_up_and_down_and_the_schema_check_says_what_to_run(db_url: str) -> None:
    engine = create_db_engine(db_url)
    with pytest.raises(SchemaError, match="ingest db upgrade"):
        check_schema(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision() == HEAD_REVISION
    check_schema(engine)
    downgrade(engine, "20261124_0001")
    with pytest.raises(SchemaError, match="run `ingest db upgrade`"):
        check_schema(engine)
    downgrade(engine, "base")
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '29990101_0001'"))
    with pytest.raises(SchemaError, match="newer than this version"):
        check_schema(engine)
    engine.dispose()


def test_a_new_sqlite_database_has_16_kib_pages_and_an_old_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    """An article row (~2.3 KB) left most of a 4 KiB page empty; 16 KiB packs them tighter."""
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:  # a database made before: 4 KiB pages, WAL
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE kept (x)")
        conn.execute("INSERT INTO kept VALUES (1)")
    for path, size in ((tmp_path / "new.db", 16384), (old, 4096)):
        engine = create_db_engine(f"sqlite:///{path}")
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == size
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        engine.dispose()
    with sqlite3.connect(old) as conn:
        assert conn.execute("SELECT x FROM kept").fetchall() == [(1,)]


def test_sync_adds_retires_and_reactivates_keeping_articles(engine: Engine) -> None:
    a, b = "https://a.example/feed", "https://b.example/feed"
    report = sync_feeds(engine, [DeclaredFeed(a), DeclaredFeed(b, interval=900)], NOW)
    assert set(report.added) == {a, b}
    feed_id = claim_due_feeds(engine, NOW, 10, 60, everything=True, only=None)[0].id
    save_poll(
        engine,
        feed_id,
        update_after(NOW),
        FetchEvent(NOW, 5, 200, "stored"),
        plan_articles([entry(1)], [], NOW),
        NOW,
    )
    report = sync_feeds(engine, [DeclaredFeed(b, interval=900)], NOW)
    assert report.retired == (a,)
    with engine.connect() as conn:
        row = conn.execute(
            select(Feed.active, Feed.retired_reason).where(Feed.source_url == a)
        ).one()
        assert (row.active, row.retired_reason) == (False, REMOVED_FROM_FILE)
        assert conn.execute(select(func.count()).select_from(Article)).scalar_one() == 1
    report = sync_feeds(engine, [DeclaredFeed(a), DeclaredFeed(b, interval=900)], NOW)
    assert report.reactivated == (a,)


def test_claims_take_due_feeds_once_and_the_lease_brings_them_back(engine: Engine) -> None:
    sync_feeds(engine, [DeclaredFeed(f"https://f{i}.example/rss") for i in range(5)], NOW)
    first = claim_due_feeds(engine, NOW, 3, lease=600)
    second = claim_due_feeds(engine, NOW, 10, lease=600)
    assert len(first) == 3 and len(second) == 2
    assert not {f.id for f in first} & {f.id for f in second}
    assert claim_due_feeds(engine, NOW + timedelta(minutes=5), 10, lease=600) == []
    assert len(claim_due_feeds(engine, NOW + timedelta(minutes=11), 10, lease=600)) == 5
    assert len(active_feed_ids(engine, NOW, everything=True)) == 5


def test_a_poll_is_written_in_one_transaction(engine: Engine) -> None:
    sync_feeds(engine, [DeclaredFeed("https://a.example/feed")], NOW)
    feed = claim_due_feeds(engine, NOW, 1, 60)[0]
    plan = plan_articles([entry(1), entry(2)], [], NOW)

    def explode(conn: object, stored: object) -> None:
        raise RuntimeError("crash while writing flags")

    with pytest.raises(RuntimeError):
        save_poll(
            engine,
            feed.id,
            update_after(NOW),
            FetchEvent(NOW, 5, 200, "stored"),
            plan,
            NOW,
            explode,
        )
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Article)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(FetchLog)).scalar_one() == 0
        assert conn.execute(select(Feed.last_polled_at)).scalar_one() is None

    stored = save_poll(
        engine, feed.id, update_after(NOW), FetchEvent(NOW, 5, 200, "stored", 2), plan, NOW
    )
    assert [s.is_new for s in stored] == [True, True]
    assert len({s.id for s in stored}) == 2


def test_edit_updates_in_place_keeping_first_seen(engine: Engine) -> None:
    sync_feeds(engine, [DeclaredFeed("https://a.example/feed")], NOW)
    feed = claim_due_feeds(engine, NOW, 1, 60)[0]
    save_poll(
        engine,
        feed.id,
        update_after(NOW),
        FetchEvent(NOW, 5, 200, "stored"),
        plan_articles([entry(1)], [], NOW),
        NOW,
    )
    later = NOW + timedelta(hours=1)
    edited = [entry(1, title="Story 1 (updated)")]
    known = load_article_keys(engine, feed.id, *lookup_keys(edited))
    plan = plan_articles(edited, known, later)
    assert len(plan.updates) == 1
    stored = save_poll(
        engine, feed.id, update_after(later), FetchEvent(later, 5, 200, "stored"), plan, later
    )
    assert [s.is_new for s in stored] == [False]
    [article] = list(iter_articles(engine))
    assert article.title == "Story 1 (updated)"
    assert article.first_seen == NOW
    with engine.connect() as conn:
        assert conn.execute(select(Article.version)).scalar_one() == 2


def test_a_feed_with_more_keys_than_one_statement_takes_finds_them_all(engine: Engine) -> None:
    # 450 entries: past the 400 values one lookup statement carries, in each of three keys.
    sync_feeds(engine, [DeclaredFeed("https://a.example/feed")], NOW)
    feed = claim_due_feeds(engine, NOW, 1, 60)[0]
    entries = [entry(n) for n in range(450)]
    plan = plan_articles(entries, [], NOW)
    save_poll(engine, feed.id, update_after(NOW), FetchEvent(NOW, 5, 200, "stored"), plan, NOW)
    known = load_article_keys(engine, feed.id, *lookup_keys(entries))
    assert len(known) == 450
    guids, _links, _contents = lookup_keys(entries[:3])
    assert len(load_article_keys(engine, feed.id, guids, set(), set())) == 3
    again = plan_articles(entries, known, NOW + timedelta(hours=1))
    assert not again.inserts and not again.updates


def test_status_counts_articles_per_feed(engine: Engine) -> None:
    sync_feeds(
        engine,
        [DeclaredFeed("https://a.example/feed"), DeclaredFeed("https://b.example/feed")],
        NOW,
    )
    feed = claim_due_feeds(engine, NOW, 1, 60)[0]
    save_poll(
        engine,
        feed.id,
        update_after(NOW),
        FetchEvent(NOW, 5, 200, "stored"),
        plan_articles([entry(1), entry(2), entry(3)], [], NOW),
        NOW,
    )
    counts = {s.url: s.articles for s in feed_statuses(engine)}
    assert counts[feed.url] == 3
    assert sorted(counts.values()) == [0, 3]


def stored_poll(engine: Engine, entries: int) -> None:
    """One feed's first poll, storing `entries` articles (guid-0, guid-1, ...) at NOW."""
    sync_feeds(engine, [DeclaredFeed("https://a.example/feed")], NOW)
    feed = claim_due_feeds(engine, NOW, 1, 60)[0]
    save_poll(
        engine,
        feed.id,
        update_after(NOW),
        FetchEvent(NOW, 5, 200, "stored"),
        plan_articles([entry(i) for i in range(entries)], [], NOW),
        NOW,
    )


def test_export_streams_in_batches_with_since(engine: Engine) -> None:
    stored_poll(engine, 25)
    assert len(list(iter_articles(engine, batch=7))) == 25
    assert list(iter_articles(engine, since=NOW + timedelta(days=1))) == []


def test_since_takes_articles_first_seen_or_published_since_then_through_one_index(
    engine: Engine,
) -> None:
    """A backlog item (published long ago, seen now) and a future-dated one (seen long
    ago, dated later) both count as recent; the filter is answered from an index."""
    stored_poll(engine, 4)
    old, recent = NOW - timedelta(days=30), NOW - timedelta(days=1)
    dated = {
        "guid-0": (old, old),  # neither
        "guid-1": (old, NOW),  # seen long ago, dated later
        "guid-2": (NOW, old),  # a backlog item seen now
        "guid-3": (NOW, NOW),
    }
    with engine.begin() as conn:
        for guid, (seen, published) in dated.items():
            conn.execute(
                update(Article)
                .where(Article.guid == guid)
                .values(first_seen_at=seen, published_at=published)
            )
    assert sorted(a.guid for a in iter_articles(engine, since=recent)) == [
        "guid-1",
        "guid-2",
        "guid-3",
    ]
    assert [a.guid for a in iter_articles(engine, since=NOW + timedelta(seconds=1))] == []
    statement = select(Article.id).where(seen_or_published_since(recent))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
            plan = " ".join(str(r) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
        else:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # 4 rows: else a scan wins
            compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
            plan = " ".join(str(r) for r in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
    assert "ix_articles_recent" in plan


def test_since_pages_start_at_the_first_recent_article_found_through_the_index(
    engine: Engine,
) -> None:
    """`--since` reads start at the first recent article, not at the oldest: on a large
    database of older articles the first page otherwise read all of them."""
    stored_poll(engine, 10)
    old = NOW - timedelta(days=30)
    with engine.begin() as conn:
        ids = list(conn.execute(select(Article.id).order_by(Article.id)).scalars())
        conn.execute(
            update(Article).where(Article.id < ids[6]).values(first_seen_at=old, published_at=old)
        )
    executed: list[tuple[str, object]] = []

    def remember(
        _conn: object, _cursor: object, statement: str, params: object, *_: object
    ) -> None:
        executed.append((statement, params))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        since = NOW - timedelta(days=1)
        assert [a.id for a in iter_articles(engine, since=since, batch=3)] == ids[6:]
        assert [a.id for a in iter_article_texts(engine, since=since, batch=3)] == ids[6:]
        assert [c.id for c in iter_page_candidates(engine, since=since, batch=3)] == ids[6:]
        assert keyset_start(engine, since) == ids[6] - 1
        assert keyset_start(engine, NOW + timedelta(seconds=1)) is None
        assert list(iter_articles(engine, since=NOW + timedelta(seconds=1))) == []
        assert keyset_start(engine, None) == 0
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    # The first id comes through the index (a plain min(id) walks the primary key).
    lookups = [(sql, params) for sql, params in executed if "min(" in sql]
    assert len(lookups) >= 4
    sql, params = lookups[0]
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            plan = " ".join(
                str(r) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            )
        else:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # 10 rows: else a scan wins
            plan = " ".join(str(r) for r in conn.exec_driver_sql(f"EXPLAIN {sql}", params))
    assert "ix_articles_recent" in plan


def test_bulk_insert_stores_what_sqlalchemy_would_and_returns_the_right_ids(
    engine: Engine,
) -> None:
    sync_feeds(engine, [DeclaredFeed("https://a.example/feed")], NOW)
    feed = claim_due_feeds(engine, NOW, 1, 60)[0]
    first = save_poll(
        engine,
        feed.id,
        update_after(NOW),
        FetchEvent(NOW, 5, 200, "stored"),
        plan_articles([entry(i) for i in range(30)], [], NOW),
        NOW,
    )
    # Another poll in the same database later gets the next ids, not reused ones.
    later = NOW + timedelta(hours=1)
    second = save_poll(
        engine,
        feed.id,
        update_after(later),
        FetchEvent(later, 5, 200, "stored"),
        plan_articles([entry(i) for i in range(30, 35)], [], later),
        later,
    )
    with engine.connect() as conn:
        rows = {
            r.id: r for r in conn.execute(select(Article.id, Article.guid, Article.published_at))
        }
        for stored in (*first, *second):
            assert rows[stored.id].guid == stored.draft.entry.guid
            assert rows[stored.id].published_at == stored.draft.published_at
        # The same values through SQLAlchemy's own INSERT: stored byte for byte alike.
        reference = {
            "feed_id": feed.id, "guid": "reference", "url": None, "url_key": None,
            "content_key": "k", "fingerprint": "f", "title": "t", "summary": "", "summary_html": "",
            "content_html": "", "content_text": "", "author": None,
            "published_at": first[0].draft.published_at, "updated_at": None,
            "first_seen_at": NOW, "changed_at": NOW,
        }  # fmt: skip
        conn.execute(Article.__table__.insert().values(**reference))
        raw = conn.execute(
            text("SELECT guid, published_at, first_seen_at FROM articles WHERE guid IN (:a, :b)"),
            {"a": "reference", "b": first[0].draft.entry.guid},
        ).all()
        assert len(raw) == 2 and raw[0][1:] == raw[1][1:]
        conn.rollback()


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 0, 5, 123456, tzinfo=UTC),
        datetime(2026, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=4, minutes=30))),
        datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        None,
    ],
)
def test_bulk_insert_writes_datetimes_as_sqlalchemy_does(moment: datetime | None) -> None:
    # The SQLite bulk insert formats datetimes itself; it must store SQLAlchemy's text.
    dialect = sqlite_dialect.dialect()
    through_sqlalchemy = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert through_sqlalchemy is not None
    assert sqlite_utc_text(moment) == through_sqlalchemy(moment)


def test_sqlite_bulk_insert_stores_what_sqlalchemy_stores(tmp_path: Path) -> None:
    # The SQLite fast path builds its rows itself: every column must hold the bytes the
    # ORM's own INSERT of the same article gives (dates with and without microseconds,
    # an entry with no dates, NULL author, non-ASCII text).
    engine = create_db_engine(f"sqlite:///{tmp_path / 'bulk.db'}")
    upgrade(engine)
    sync_feeds(engine, [DeclaredFeed("https://a.example/feed")], NOW)
    feed_id = claim_due_feeds(engine, NOW, 10, 60, everything=True, only=None)[0].id
    moment = NOW.replace(microsecond=123456)
    entries = [
        replace(entry(1), published=moment, updated=moment + timedelta(hours=1), author="R. H"),
        replace(entry(2, "عين الأسد"), published=None, updated=None),
    ]
    plan = plan_articles(entries, [], moment)
    save_poll(engine, feed_id, update_after(NOW), FetchEvent(NOW, 5, 200, "stored"), plan, moment)
    columns = ", ".join(SQLITE_INSERT_COLUMNS)
    with engine.begin() as conn:
        for draft in plan.inserts:
            values = _article_values(feed_id, draft, moment) | {"first_seen_at": moment}
            assert set(values) == set(SQLITE_INSERT_COLUMNS)
            conn.execute(insert(Article).values(**values | {"guid": f"ref-{draft.entry.guid}"}))
        rows = conn.execute(text(f"SELECT {columns} FROM articles ORDER BY id")).all()
    guid = SQLITE_INSERT_COLUMNS.index("guid")
    fast, reference = rows[: len(entries)], rows[len(entries) :]
    assert [r[:guid] + r[guid + 1 :] for r in fast] == [r[:guid] + r[guid + 1 :] for r in reference]
    engine.dispose()


def test_sqlite_flags_and_mentions_store_what_sqlalchemy_stores(tmp_path: Path) -> None:
    # Flags and mentions also skip SQLAlchemy on SQLite: the raw rows must be the ORM's
    # (JSON of non-ASCII evidence, microseconds), a second write of the same flag must
    # add nothing and return no id, and a mention's count is updated in place.
    engine = create_db_engine(f"sqlite:///{tmp_path / 'flags.db'}")
    upgrade(engine)
    sync_feeds(engine, [DeclaredFeed("https://a.example/feed")], NOW)
    feed_id = claim_due_feeds(engine, NOW, 10, 60, everything=True, only=None)[0].id
    plan = plan_articles([entry(1), entry(2, "عين الأسد")], [], NOW)
    stored = save_poll(engine, feed_id, update_after(NOW), FetchEvent(NOW, 5, 200, "s"), plan, NOW)
    fast_id, reference_id = (article.id for article in stored)
    moment = NOW.replace(microsecond=654321)

    def flag(article_id: int, rule: str) -> FlagRow:
        mention = {"id": "ain-al-asad", "kind": "entity", "field": "title", "start": 0,
                   "end": 9, "text": "عين الأسد"}  # fmt: skip
        return FlagRow(article_id, rule, "rule", "Base «A»", "high", "عين الأسد convoy",
                       "title", "feed", [mention], "v1", moment)  # fmt: skip

    with engine.begin() as conn:
        first = insert_flags(conn, [flag(fast_id, "r1"), flag(fast_id, "r2")])
        again = insert_flags(conn, [flag(fast_id, "r1"), flag(fast_id, "r3")])
        upsert_mentions(conn, [MentionRow(fast_id, "ain-al-asad", "entity", 1, moment)])
        upsert_mentions(conn, [MentionRow(fast_id, "ain-al-asad", "entity", 3, moment)])
        conn.execute(insert(Flag), [shallow_dict(flag(reference_id, r)) for r in ("r1", "r2")])
        conn.execute(insert(Mention), [shallow_dict(MentionRow(reference_id, "ain-al-asad",
                                                                "entity", 3, moment))])  # fmt: skip
        flags = conn.exec_driver_sql("SELECT * FROM flags ORDER BY article_id, rule").all()
        mentions = conn.exec_driver_sql("SELECT * FROM mentions ORDER BY article_id").all()
    assert len(first) == 2 and len(again) == 1 and again[0] > max(first)
    ours = [row[2:] for row in flags if row[1] == fast_id and row[2] != "r3"]
    theirs = [row[2:] for row in flags if row[1] == reference_id]
    assert ours == theirs and len(ours) == 2
    assert [row[1:] for row in mentions] == [
        ("ain-al-asad", "entity", 3, sqlite_utc_text(moment))
    ] * 2
    engine.dispose()


def test_sqlite_poll_record_stores_what_sqlalchemy_stores(tmp_path: Path) -> None:
    # A poll's feed update and log line go through the driver on SQLite: the rows must be
    # the ORM statements' (moments with microseconds, NULLs, booleans, floats).
    engine = create_db_engine(f"sqlite:///{tmp_path / 'poll.db'}")
    upgrade(engine)
    sync_feeds(engine, [DeclaredFeed(f"https://{host}.example/feed") for host in "ab"], NOW)
    claimed = claim_due_feeds(engine, NOW, 10, 60, everything=True, only=None)
    fast, reference = sorted(feed.id for feed in claimed)
    moment = NOW.replace(microsecond=250001)
    values = {
        "last_polled_at": moment, "next_poll_at": moment + timedelta(hours=1), "last_status": 410,
        "consecutive_errors": 0, "error_since": None, "last_error": "HTTP 410 Gone «x»",
        "active": False, "retired_at": moment, "retired_reason": "gone", "interval": 1800.5,
        "etag": None, "body_hash": "b" * 64,
    }  # fmt: skip
    event = FetchEvent(moment, 12, 410, "gone", 0, 0, "HTTP 410 Gone")
    with engine.begin() as conn:
        record_poll(conn, fast, values, event)
        conn.execute(update(Feed).where(Feed.id == reference).values(**values))
        conn.execute(insert(FetchLog).values(feed_id=reference, **shallow_dict(event)))
        columns = [row[1] for row in conn.exec_driver_sql("PRAGMA table_info(feeds)")]
        kept = [name for name in columns if name not in ("id", "source_url", "url")]
        feeds = {
            row[0]: row[1:]
            for row in conn.exec_driver_sql(f"SELECT id, {', '.join(kept)} FROM feeds")
        }
        logs = {row[1]: row[2:] for row in conn.exec_driver_sql("SELECT * FROM fetch_log")}
    assert feeds[fast] == feeds[reference]
    assert feeds[fast][kept.index("active")] == 0 and "active" in values
    assert logs[fast] == logs[reference]
    with engine.begin() as conn, pytest.raises(ValueError, match="not columns"):
        record_poll(conn, fast, {"no_such_column": 1}, event)
    engine.dispose()


def test_group_commit_a_failed_write_costs_only_itself_and_a_clean_batch_no_savepoint(
    tmp_path: Path,
) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'writes.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER UNIQUE)"))
    database = Database(engine)

    def put(conn: Connection, x: int) -> int:
        conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": x})
        return x

    async def run() -> list[object]:
        # Hold the database thread so that every write below lands in one batch.
        busy = asyncio.ensure_future(database.run(lambda _engine: time.sleep(0.3)))
        await asyncio.sleep(0.05)
        light = [database.write(put, x, light=True) for x in (1, 2, 2, 3)]
        heavy = [database.write(put, 4), database.write(put, 1)]
        results = await asyncio.gather(*light, *heavy, return_exceptions=True)
        await busy
        return results

    results = asyncio.run(run())
    assert results[:2] == [1, 2] and results[3:5] == [3, 4]
    assert isinstance(results[2], IntegrityError) and isinstance(results[5], IntegrityError)
    with engine.connect() as conn:
        assert sorted(conn.execute(text("SELECT x FROM t")).scalars()) == [1, 2, 3, 4]

    # SQLite's own trace: the savepoints go through the driver, past SQLAlchemy's events.
    savepoints: list[str] = []
    event.listen(
        engine,
        "checkout",
        lambda dbapi_conn, *_: dbapi_conn.set_trace_callback(
            lambda sql: savepoints.append(sql) if sql.startswith("SAVEPOINT") else None
        ),
    )

    async def run_batch(light: list[int], heavy: list[int]) -> list[object]:
        busy = asyncio.ensure_future(database.run(lambda _engine: time.sleep(0.3)))
        await asyncio.sleep(0.05)
        writes = [database.write(put, x, light=True) for x in light]
        writes += [database.write(put, x) for x in heavy]
        done = await asyncio.gather(*writes, return_exceptions=True)
        await busy
        return done

    # Nothing fails: the batch is one transaction and no write pays for a SAVEPOINT.
    assert asyncio.run(run_batch([5, 6], [7, 8])) == [5, 6, 7, 8]
    assert savepoints == []
    # A heavy write fails: the batch is written again, the light writes sharing one
    # SAVEPOINT and each heavy one in its own; the others are stored once.
    again = asyncio.run(run_batch([9, 10], [11, 8, 12]))
    assert again[:3] == [9, 10, 11] and again[4] == 12 and isinstance(again[3], IntegrityError)
    assert len(savepoints) == 1 + 3
    with engine.connect() as conn:
        assert sorted(conn.execute(text("SELECT x FROM t")).scalars()) == list(range(1, 13))
    database.close()
