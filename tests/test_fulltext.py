"""Full text (issue 6): article pages fetched for truncated entries, extracted, matched again.

Real parts: the loopback FeedServer serves the feed, the pages (tests/data/pages/) and
robots.txt; the daemon runs through the CLI on SQLite; the storage side (pending pages
surviving a restart, claims, versions) also runs on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update

from ingest.db import Database, create_db_engine
from ingest.feedstore import DeclaredFeed, claim_due_feeds, sync_feeds
from ingest.fetch import Fetcher, FetchLimits
from ingest.flagging import WatchlistFlagger
from ingest.fulltext import PageWorker
from ingest.models import Article
from ingest.pagepolicy import RETRY_DELAYS, retry_delay
from ingest.pagestore import (
    PageJob,
    claim_page,
    mark_pending_ids,
    pending_page_ids,
    save_page_failure,
    stored_pages,
)
from ingest.parse_pool import ParserPool
from ingest.poll import PollContext, poll_feed
from ingest.settings import FullTextSettings, PollingSettings
from ingest.watchlist import load_watchlist
from tests.conftest import DATA, REPO, Instance, write_config
from tests.feedserver import FeedServer
from tests.helpers import jsonl, query, rss

PAGES = DATA / "pages"
FAST = '[fulltext]\nper_host_delay = "0s"\n'
EN_TEASER = (
    "Officials in al-Anbar described unusual traffic on the highway west of Ramadi on Monday… "
    "Read more"
)
AR_TEASER = "أفاد مصدر محلي في محافظة الأنبار بأن الطريق الدولي شهد حركة غير اعتيادية… اقرأ المزيد"
HARVEST_TEASER = "Farmers along the Euphrates near Hit say this year's date harvest is the best […]"
EN_SENTENCE = "a number of US trucks carrying construction materials left Ain al-Asad air base"
AR_SENTENCE = "عدداً من الشاحنات الأمريكية المحملة بمواد بناء خرجت من قاعدة عين الأسد"


def serve_page(server: FeedServer, name: str, path: str | None = None) -> str:
    path = path or f"/news/{name}"
    server.add(path, (PAGES / name).read_bytes(), "text/html; charset=utf-8")
    return path


def entry(n: int, server: FeedServer, path: str, teaser: str, title: str) -> dict[str, Any]:
    return {"guid": f"page-{n}", "title": title, "link": server.url(path), "description": teaser}


def configure(instance: Instance, extra: str = "") -> None:
    write_config(instance.config_dir, extra=FAST + extra)


def db(instance: Instance) -> str:
    return instance.settings.database


def flags_of(instance: Instance) -> list[Any]:
    return query(
        db(instance),
        "SELECT a.guid, f.rule, f.source, f.field, f.evidence FROM flags f "
        "JOIN articles a ON a.id = f.article_id ORDER BY a.guid, f.rule",
    )


def pages_of(instance: Instance) -> dict[str, Any]:
    rows = query(
        db(instance),
        "SELECT guid, page_status, page_url, page_language, page_cut, page_failure, page_error, "
        "page_text, summary FROM articles",
    )
    return {row.guid: row for row in rows}


# --- end to end through the daemon (`ingest run --once`) ---------------------------------


def test_the_flag_comes_only_from_the_page_body_once(instance: Instance) -> None:
    configure(instance)
    server = instance.server
    en = serve_page(server, "anbar-trucks-en.html")
    ar = serve_page(server, "anbar-trucks-ar.html")
    feed = [
        entry(1, server, en, EN_TEASER, "Convoy movements reported in western Anbar"),
        entry(2, server, ar, AR_TEASER, "تحركات في الأنبار"),
    ]
    server.add("/truncated.xml", rss(feed))
    instance.write_feeds("/truncated.xml")
    instance.run_once()

    flags = flags_of(instance)
    assert {(f.guid, f.rule) for f in flags} == {
        ("page-1", "base-logistics"), ("page-1", "ain-al-asad"),
        ("page-2", "base-logistics"), ("page-2", "ain-al-asad"),
    }  # fmt: skip
    assert {f.source for f in flags} == {"page"} and {f.field for f in flags} == {"page"}
    evidence = {f.guid: f.evidence for f in flags if f.rule == "base-logistics"}
    assert EN_SENTENCE in evidence["page-1"]
    assert AR_SENTENCE in evidence["page-2"]
    pages = pages_of(instance)
    assert pages["page-1"].page_status == "fetched"
    assert (
        pages["page-1"].page_url == "https://desertwire.example/2026/11/20/anbar-convoy-movements"
    )
    assert (pages["page-1"].page_language, pages["page-2"].page_language) == ("en", "ar")
    assert "Reader42" not in pages["page-1"].page_text  # comments are not the article
    assert server.hits("/robots.txt") == 1  # one robots.txt per host, cached (404: allowed)

    # The next poll stores a new entry; the unchanged ones are neither refetched nor reflagged.
    third = serve_page(server, "date-harvest-en.html")
    server.add("/truncated.xml", rss([*feed, entry(3, server, third, HARVEST_TEASER, "Dates")]))
    instance.run_once("--all")
    assert (server.hits(en), server.hits(ar), server.hits(third)) == (1, 1, 1)
    assert len(flags_of(instance)) == 4


def test_related_stories_and_comments_raise_no_flag(instance: Instance) -> None:
    configure(instance)
    path = serve_page(instance.server, "date-harvest-en.html")
    instance.server.add(
        "/harvest.xml", rss([entry(1, instance.server, path, HARVEST_TEASER, "Date harvest")])
    )
    instance.write_feeds("/harvest.xml")
    instance.run_once()
    page = pages_of(instance)["page-1"]
    assert page.page_status == "fetched" and "cold stores" in page.page_text
    assert "Ain al-Asad" not in page.page_text
    assert flags_of(instance) == []


def test_a_page_disallowed_by_robots_txt_is_not_fetched(instance: Instance) -> None:
    configure(instance)
    server = instance.server
    server.add(
        "/robots.txt",
        "User-agent: *\nDisallow: /private/\n\nUser-agent: ingest\nDisallow: /members/\n",
        "text/plain",
    )
    private = serve_page(server, "anbar-trucks-en.html", "/private/story.html")
    members = serve_page(server, "anbar-trucks-ar.html", "/members/story.html")
    public = serve_page(server, "date-harvest-en.html", "/public/story.html")
    server.add(
        "/robots.xml",
        rss([
            entry(1, server, private, EN_TEASER, "Private"),
            entry(2, server, members, AR_TEASER, "Members"),
            entry(3, server, public, HARVEST_TEASER, "Public"),
        ]),
    )  # fmt: skip
    instance.write_feeds("/robots.xml")
    instance.run_once()
    # The "ingest" group replaces "*" for us (RFC 9309): /members/ is ours to skip, /private/ not.
    assert server.hits(members) == 0
    assert server.hits(private) == 1 and server.hits(public) == 1
    pages = pages_of(instance)
    assert pages["page-2"].page_status == "failed" and pages["page-2"].page_failure == "robots"
    assert "robots.txt" in pages["page-2"].page_error
    assert server.requests("/robots.txt")[0]["user-agent"].startswith("ingest/")


def test_an_oversized_page_is_cut_at_the_cap(instance: Instance) -> None:
    configure(instance, 'max_page_size = "64KiB"\n')
    html = (PAGES / "anbar-trucks-en.html").read_bytes()
    head, tail = html.split(b"</body>")
    padding = b"<!-- " + b"x" * (3 * 2**20) + b" -->"
    instance.server.add("/huge.html", head + padding + b"</body>" + tail, "text/html")
    instance.server.add(
        "/huge.xml", rss([entry(1, instance.server, "/huge.html", EN_TEASER, "Huge")])
    )
    instance.write_feeds("/huge.xml")
    instance.run_once()
    page = pages_of(instance)["page-1"]
    assert page.page_status == "fetched" and page.page_cut
    assert EN_SENTENCE in page.page_text
    assert {f.rule for f in flags_of(instance)} == {"base-logistics", "ain-al-asad"}


def test_a_403_is_recorded_and_the_article_keeps_its_feed_text(instance: Instance) -> None:
    configure(instance)
    server = instance.server
    server.fail("/paywalled.html", 403, body="subscribers only")
    server.add("/jpeg.html", b"\xff\xd8\xff\xe0 not a page", "image/jpeg")
    server.add(
        "/walls.xml",
        rss([
            entry(1, server, "/paywalled.html", EN_TEASER, "Paywalled"),
            entry(2, server, "/jpeg.html", EN_TEASER, "A picture"),
        ]),
    )  # fmt: skip
    instance.write_feeds("/walls.xml")
    instance.run_once()
    pages = pages_of(instance)
    assert (pages["page-1"].page_status, pages["page-1"].page_failure) == ("failed", "http_403")
    assert pages["page-1"].page_text is None and pages["page-1"].summary == EN_TEASER
    assert pages["page-2"].page_failure == "not_html"

    status = jsonl(instance.cli("status", "--json").output)[0]
    assert status["pages"] == {
        "pending": 0, "fetched": 0, "failed": 2, "failures": {"http_403": 1, "not_html": 1},
    }  # fmt: skip
    table = instance.cli("status").output
    assert "2 page failures" in table
    instance.run_once("--all")
    assert server.hits("/paywalled.html") == 1  # a failure is final for this article version


def test_a_site_down_for_a_moment_gets_its_page_fetched_on_a_later_cycle(
    instance: Instance,
) -> None:
    configure(instance)
    server = instance.server
    server.fail("/news/down.html", 503, body="back soon")
    server.add(
        "/flaky.xml",
        rss([entry(1, server, "/news/down.html", EN_TEASER, "Convoy in western Anbar")]),
    )
    instance.write_feeds("/flaky.xml")
    instance.run_once()
    page = pages_of(instance)["page-1"]
    assert (page.page_status, page.page_failure) == ("pending", "http_503")
    status = jsonl(instance.cli("status", "--json").output)[0]
    assert status["pages"]["pending"] == 1 and status["pages"]["failed"] == 0
    instance.run_once("--all")
    assert instance.cli("fulltext").exit_code == 0
    assert server.hits("/news/down.html") == 1  # not before its retry time (10 minutes)

    serve_page(server, "anbar-trucks-en.html", "/news/down.html")  # the site is back
    engine = create_db_engine(db(instance))
    with engine.begin() as conn:  # ten minutes on
        conn.execute(update(Article).values(page_retry_at=datetime.now(UTC) - timedelta(minutes=1)))
    engine.dispose()
    instance.run_once()
    assert server.hits("/news/down.html") == 2
    page = pages_of(instance)["page-1"]
    assert (page.page_status, page.page_failure) == ("fetched", None)
    assert {(f.guid, f.rule, f.source) for f in flags_of(instance)} >= {
        ("page-1", "base-logistics", "page")
    }


def test_retry_failed_fetches_the_pages_waiting_for_a_retry_now(instance: Instance) -> None:
    configure(instance)
    server = instance.server
    server.fail("/news/down.html", 504)
    server.add("/flaky.xml", rss([entry(1, server, "/news/down.html", EN_TEASER, "Convoy")]))
    instance.write_feeds("/flaky.xml")
    instance.run_once()
    assert pages_of(instance)["page-1"].page_status == "pending"
    serve_page(server, "anbar-trucks-en.html", "/news/down.html")
    result = instance.cli("fulltext", "--retry-failed")
    assert result.exit_code == 0 and "1 fetched" in result.output
    assert server.hits("/news/down.html") == 2
    assert pages_of(instance)["page-1"].page_status == "fetched"


def test_full_text_never_and_always_per_feed(instance: Instance) -> None:
    configure(instance)
    server = instance.server
    path = serve_page(server, "anbar-trucks-en.html")
    long_text = "A complete article that the feed carries in full. " * 20
    server.add("/never.xml", rss([entry(1, server, path, EN_TEASER, "Never")]))
    server.add("/always.xml", rss([entry(2, server, path, long_text, "Always")]))
    server.add("/auto.xml", rss([entry(3, server, path, long_text, "Auto")]))
    outlines = "".join(
        f'    <outline type="rss" text="{name}" xmlUrl="{server.url(f"/{name}.xml")}" '
        f'fullText="{name}"/>\n'
        for name in ("never", "always", "auto")
    )
    instance.write_feeds(extra=outlines)
    instance.run_once()
    pages = pages_of(instance)
    assert pages["page-1"].page_status is None
    assert pages["page-2"].page_status == "fetched"
    assert pages["page-3"].page_status is None  # auto: the feed's text is whole
    assert server.hits(path) == 1


def test_ingest_fulltext_backfills_stored_articles(instance: Instance) -> None:
    configure(instance, "enabled = false\n")
    server = instance.server
    en = serve_page(server, "anbar-trucks-en.html")
    server.add("/late.xml", rss([entry(1, server, en, EN_TEASER, "Convoy")]))
    instance.write_feeds("/late.xml")
    instance.run_once()
    assert server.hits(en) == 0 and flags_of(instance) == []

    configure(instance)
    result = instance.cli("fulltext", "--feed", server.url("/late.xml"), "--since", "2020-01-01")
    assert "1 pages pending: 1 fetched, 2 new flags" in result.output
    assert {f.source for f in flags_of(instance)} == {"page"}
    # A backfill of old articles must not come back as a burst of alerts (as rematch).
    alerted = query(db(instance), "SELECT alerted_at FROM flags")
    assert len(alerted) == 2 and all(row.alerted_at is not None for row in alerted)
    result = instance.cli("fulltext")
    assert "0 pages pending" in result.output and server.hits(en) == 1


# --- storage and the worker, on SQLite and PostgreSQL -----------------------------------


def _matcher() -> WatchlistFlagger:
    return WatchlistFlagger(load_watchlist(REPO / "config" / "watchlist.toml"))


async def _poll_without_pages_worker(engine: Engine, feed_url: str, queue_size: int) -> PageWorker:
    """One poll whose page worker never runs (a daemon killed right after the poll)."""
    now = datetime.now(UTC)
    sync_feeds(engine, [DeclaredFeed(feed_url, allow_private=True)], now)
    database = Database(engine)
    settings = FullTextSettings(queue_size=queue_size, per_host_delay=0)
    async with Fetcher(FetchLimits(allow_private_networks=True)) as fetcher:
        worker = PageWorker(fetcher, database, settings, "ingest/test", flagger=_matcher)
        ctx = PollContext(fetcher, ParserPool(0), database, PollingSettings(), pages=worker)
        ctx.flagger = _matcher
        (feed,) = claim_due_feeds(engine, now, 10, 60)
        report = await poll_feed(feed, ctx)
        assert report.new == 3
    database._executor.shutdown(wait=True)
    return worker


def test_a_poll_written_again_after_another_write_failed_counts_its_flags_once(
    engine: Engine, feed_server: FeedServer
) -> None:
    """The group commit writes a batch again, write by write, when one write of it fails:
    a poll in that batch runs twice and must report (and offer) its results once."""
    paths = [serve_page(feed_server, name) for name in sorted(p.name for p in PAGES.iterdir())]
    feed_server.add(
        "/again.xml",
        rss([entry(i, feed_server, p, EN_TEASER, EN_SENTENCE) for i, p in enumerate(paths)]),
    )
    now = datetime.now(UTC)
    sync_feeds(engine, [DeclaredFeed(feed_server.url("/again.xml"), allow_private=True)], now)

    def fail(_conn: Any) -> None:
        raise ValueError("a write that fails")

    async def run() -> tuple[Any, BaseException | None, PageWorker]:
        database = Database(engine)
        settings = FullTextSettings(queue_size=10, per_host_delay=0)
        held = threading.Event()
        async with Fetcher(FetchLimits(allow_private_networks=True)) as fetcher:
            worker = PageWorker(fetcher, database, settings, "ingest/test", flagger=_matcher)
            ctx = PollContext(fetcher, ParserPool(0), database, PollingSettings(), pages=worker)
            ctx.flagger = _matcher
            (feed,) = claim_due_feeds(engine, now, 10, 60)
            busy = asyncio.ensure_future(database.run(lambda _engine: held.wait(10)))
            poll = asyncio.ensure_future(poll_feed(feed, ctx))
            while not database._writes:  # the poll's write waits behind the held thread
                await asyncio.sleep(0.01)
            failing = asyncio.ensure_future(database.write(fail))
            await asyncio.sleep(0)
            held.set()
            report = await poll
            error = (await asyncio.gather(failing, return_exceptions=True))[0]
            await busy
        database._executor.shutdown(wait=True)
        return report, error, worker

    report, error, worker = asyncio.run(run())
    assert isinstance(error, ValueError)
    stored = query(engine.url.render_as_string(hide_password=False), "SELECT id FROM flags")
    assert report.new == 3 and report.flags == len(stored) > 0
    assert worker.queue.qsize() == 3 and worker.dropped == 0


def test_pending_pages_survive_a_restart_and_overflow_waits_in_the_database(
    engine: Engine, feed_server: FeedServer
) -> None:
    paths = [serve_page(feed_server, name) for name in sorted(p.name for p in PAGES.iterdir())]
    feed_server.add(
        "/f.xml", rss([entry(i, feed_server, p, EN_TEASER, f"T{i}") for i, p in enumerate(paths)])
    )
    first = asyncio.run(_poll_without_pages_worker(engine, feed_server.url("/f.xml"), 1))
    assert first.queue.qsize() == 1 and first.dropped == 2  # bounded: the rest in the database
    assert len(pending_page_ids(engine, datetime.now(UTC), 600, 10)) == 3
    assert all(feed_server.hits(p) == 0 for p in paths)

    async def restart() -> None:  # a new process: a new worker that knows nothing in memory
        database = Database(engine)
        settings = FullTextSettings(queue_size=1, per_host_delay=0, concurrency=2)
        async with Fetcher(FetchLimits(allow_private_networks=True)) as fetcher:
            worker = PageWorker(fetcher, database, settings, "ingest/test", flagger=_matcher)
            worker.start()
            await asyncio.wait_for(worker.drain(), 60)
            await worker.stop(0)
        database._executor.shutdown(wait=True)

    asyncio.run(restart())
    assert [feed_server.hits(p) for p in paths] == [1, 1, 1]
    assert {page.status for page in stored_pages(engine)} == {"fetched"}
    assert pending_page_ids(engine, datetime.now(UTC), 600, 10) == []


def _three_pages_pending(engine: Engine, feed_server: FeedServer) -> datetime:
    """Three stored articles whose pages are pending (no page worker ran); now."""
    path = serve_page(feed_server, "anbar-trucks-en.html")
    feed_server.add(
        "/f.xml", rss([entry(i, feed_server, path, EN_TEASER, f"T{i}") for i in range(3)])
    )
    asyncio.run(_poll_without_pages_worker(engine, feed_server.url("/f.xml"), 10))
    return datetime.now(UTC)


def test_claims_are_leases_and_answers_are_for_the_claimed_version(
    engine: Engine, feed_server: FeedServer
) -> None:
    now = _three_pages_pending(engine, feed_server)
    first_id = pending_page_ids(engine, now, 600, 10)[0]
    job = claim_page(engine, first_id, now, lease=600)
    assert isinstance(job, PageJob) and job.version == 1
    assert claim_page(engine, first_id, now, lease=600) is None  # another daemon's
    assert first_id not in pending_page_ids(engine, now, 600, 10)
    later = now + timedelta(seconds=601)
    assert first_id in pending_page_ids(engine, later, 600, 10)  # its holder died
    # The article changed meanwhile (version 2 pending): the version-1 answer is dropped.
    with engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE articles SET version = 2 WHERE id = :id"), {"id": first_id})
    mark_pending_ids(engine, [first_id])
    assert save_page_failure(engine, job, "timeout", "late", later) == "outdated"
    (page,) = stored_pages(engine, [first_id])
    assert (page.status, page.version) == ("pending", 2)


def test_transient_failures_are_tried_again_later_then_final(
    engine: Engine, feed_server: FeedServer
) -> None:
    now = _three_pages_pending(engine, feed_server)
    flaky, walled, _ = pending_page_ids(engine, now, 600, 10)
    outcomes = []
    for delay in (*RETRY_DELAYS, None):
        job = claim_page(engine, flaky, now, lease=600)
        assert job is not None
        outcomes.append(save_page_failure(engine, job, "http_503", "HTTP 503", now))
        if delay is not None:
            assert flaky not in pending_page_ids(
                engine, now + delay - timedelta(seconds=1), 600, 10
            )
            assert claim_page(engine, flaky, now, lease=600) is None  # not before its time
            now += delay
            assert flaky in pending_page_ids(engine, now, 600, 10)
    assert outcomes == ["retrying", "retrying", "retrying", "failed"]
    (page,) = stored_pages(engine, [flaky])
    assert (page.status, page.failure) == ("failed", "http_503")
    assert flaky not in pending_page_ids(engine, now + timedelta(days=30), 600, 10)

    job = claim_page(engine, walled, now, lease=600)
    assert job is not None
    assert save_page_failure(engine, job, "http_403", "HTTP 403", now) == "failed"  # a wall

    # A new version of the article starts again with a clean slate.
    mark_pending_ids(engine, [flaky])
    job = claim_page(engine, flaky, now, lease=600)
    assert job is not None and job.attempts == 0
    assert save_page_failure(engine, job, "timeout", "slow", now) == "retrying"


def test_retry_delays_are_for_transient_failures_only() -> None:
    assert retry_delay("timeout", 0) == RETRY_DELAYS[0]
    assert retry_delay("http_429", 2) == RETRY_DELAYS[2]
    assert retry_delay("http_503", len(RETRY_DELAYS)) is None
    for final in ("http_403", "http_404", "robots", "not_html", "no_text", "blocked", "tls"):
        assert retry_delay(final, 0) is None


def test_offers_beyond_the_queue_are_dropped_not_held() -> None:
    async def offer() -> PageWorker:
        worker = PageWorker(None, None, FullTextSettings(queue_size=5), "ingest/test")  # type: ignore[arg-type]
        worker.offer(list(range(1000)))
        worker.offer(list(range(3)))  # known ids are not queued twice
        return worker

    worker = asyncio.run(offer())
    assert worker.queue.qsize() == 5 and worker.dropped == 995 and len(worker.known) == 5


def test_settings_and_feeds_file_carry_the_modes(tmp_path: Path) -> None:
    from ingest.errors import ConfigError
    from ingest.feedsfile import read_feeds_file, write_opml
    from ingest.settings import load_settings

    config = write_config(tmp_path / "config", extra='[fulltext]\nmode = "never"\nmin_chars = 80\n')
    settings = load_settings(config, env={"INGEST_FULLTEXT_PER_HOST_DELAY": "2s"})
    assert (settings.fulltext.mode, settings.fulltext.min_chars) == ("never", 80)
    assert settings.fulltext.per_host_delay == 2.0
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        '<opml version="2.0"><body>'
        '<outline xmlUrl="https://a.example/f.xml" fullText="Always"/>'
        '<outline xmlUrl="https://b.example/f.xml"/></body></opml>',
        encoding="utf-8",
    )
    feeds = read_feeds_file(opml)
    assert [f.full_text for f in feeds] == ["always", None]
    assert 'fullText="always"' in write_opml(feeds)
    opml.write_text(
        '<opml version="2.0"><body>\n'
        '<outline xmlUrl="https://a.example/f.xml" fullText="sometimes"/></body></opml>',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        read_feeds_file(opml)
    assert caught.value.line == 2 and caught.value.field == "outline.fullText"
