"""Matching beside the parse (in the parser's worker processes) gives the flags the
daemon's own matching would, and a watchlist change in between is never missed."""

from __future__ import annotations

import asyncio
import pickle
from datetime import UTC, datetime
from pathlib import Path

from ingest.dedupe import plan_articles
from ingest.flagging import WatchlistFlagger, WatchlistFlaggers
from ingest.match import article_fields, compile_matcher, matcher_source
from ingest.parse import parse_feed
from ingest.parse_pool import ParserPool
from ingest.prepare import ShippedWatchlist, with_matches
from ingest.records import ParsedFeed
from ingest.settings import Settings
from ingest.store import StoredArticle
from ingest.watchlist import parse_watchlist_text
from tests.helpers import rss

REPO = Path(__file__).resolve().parent.parent
TEXT = (REPO / "config" / "watchlist.toml").read_text(encoding="utf-8")
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
BODY = rss(
    [
        {"guid": "a", "title": "Convoy", "description": "US trucks left Ein al-Assad base."},
        {"guid": "b", "title": "Talks", "description": "Bashar al-Assad met envoys."},
        {"guid": "c", "title": "Drone", "description": "A drone struck near Erbil airport."},
    ]
).encode()


def _watchlist(text: str = TEXT) -> ShippedWatchlist:
    return ShippedWatchlist(parse_watchlist_text(text))


def test_worker_matches_equal_the_daemons_own() -> None:
    watchlist = _watchlist()
    feed = with_matches(parse_feed(BODY, url="https://news.example/feed"), watchlist)
    assert feed.matched_with == watchlist.version and feed.matches is not None
    matcher = compile_matcher(parse_watchlist_text(TEXT))
    for entry, shipped in zip(feed.entries, feed.matches, strict=True):
        direct = matcher.match(article_fields(entry.title, entry.summary_text, entry.content_text))
        assert shipped == direct
    rules = [{hit.rule for hit in result.flags} for result in feed.matches]
    assert "base-logistics" in rules[0] and rules[1] == set() and "base-attack" in rules[2]


def _parsed_in_a_worker(body: bytes, watchlist: ShippedWatchlist) -> ParsedFeed:
    pool = ParserPool(1)
    try:
        feed = asyncio.run(
            pool.parse(
                body, url="https://news.example/feed", content_type=None, watchlist=watchlist
            )
        )
    finally:
        pool.close()
    assert not isinstance(feed, Exception)
    return feed


def test_the_process_pool_ships_matches_back() -> None:
    watchlist = _watchlist()
    feed = _parsed_in_a_worker(BODY, watchlist)
    assert feed.matched_with == watchlist.version
    assert feed.matches is not None and feed.matches[0].flags


def test_a_watchlist_changed_since_the_parse_is_matched_again() -> None:
    old = _watchlist()
    feed = with_matches(parse_feed(BODY, url="https://news.example/feed"), old)
    newer = (
        TEXT + '\n[[keywords]]\nid = "talks"\nname = "Talks"\nterms = ["envoy"]\npriority = "low"\n'
    )
    flagger = WatchlistFlagger(parse_watchlist_text(newer))
    plan = plan_articles(feed.entries, [], NOW, feed.matches, feed.matched_with)
    talks = StoredArticle(2, 1, True, plan.inserts[1])
    # The shipped result (old watchlist) has no "talks" flag; the flagger's own does.
    assert plan.inserts[1].match is not None and not plan.inserts[1].match.flags
    assert [hit.rule for hit in flagger.match_of(talks).flags] == ["talks"]


def _large_watchlist() -> str:
    """2,500 entities, 5,000 aliases: over 300 KB of TOML."""
    return "".join(
        f'[[entities]]\nid = "base-{i}"\nname = "Forward Operating Base {i:05d}"\n'
        f'aliases = ["FOB {i:05d} Alpha", "Camp {i:05d} Bravo"]\npriority = "low"\n\n'
        for i in range(2500)
    )


def test_a_large_watchlist_is_matched_in_the_worker_too() -> None:
    """However large the watchlist, the workers match: the daemon's write path does not."""
    text = _large_watchlist()
    assert len(text) > 300_000
    watchlist = _watchlist(text)
    body = rss([{"guid": "x", "title": "Rockets hit Camp 01234 Bravo overnight"}]).encode()
    feed = _parsed_in_a_worker(body, watchlist)
    assert feed.matched_with == watchlist.version and feed.matches is not None
    assert [flag.rule for flag in feed.matches[0].flags] == ["base-1234"]


def test_a_shipped_watchlist_arrives_whole_and_packed() -> None:
    text = (
        _large_watchlist()
        + '[[entities]]\nid = "asad"\nname = "عين الأسد"\naliases = ["عين الأسد"]\n'
    )
    parsed = parse_watchlist_text(text)
    shipped = pickle.dumps(ShippedWatchlist(parsed))
    arrived = pickle.loads(shipped)
    assert arrived.version == parsed.version
    assert arrived.source == matcher_source(parsed)
    assert arrived.source.targets[-1].name == "عين الأسد"
    assert len(shipped) < len(text.encode()) / 4  # sent with every parse request
    # What a worker compiles from it finds what the daemon's own matcher finds.
    fields = article_fields("Rockets hit عين الأسد and Camp 01234 Bravo", "", "")
    assert compile_matcher(arrived.source).match(fields) == compile_matcher(parsed).match(fields)


def test_a_parser_worker_matches_without_importing_the_watchlist_validation() -> None:
    # pydantic and the watchlist models were half of a worker's start-up (~0.2 s of CPU
    # each, at the start of every cycle that needs a second worker).
    watchlist = _watchlist()
    pool = ParserPool(1)
    try:
        feed = asyncio.run(
            pool.parse(
                BODY, url="https://news.example/feed", content_type=None, watchlist=watchlist
            )
        )
        assert not isinstance(feed, Exception) and feed.matches is not None
        assert feed.matches[0].flags  # matched in the worker
        lane = pool._first
        assert lane is not None
        loaded = lane.executor.submit(eval, "sorted(__import__('sys').modules)").result()
    finally:
        pool.close()
    assert "ingest.match" in loaded and "ingest.parse" in loaded
    assert "pydantic" not in loaded and "ingest.watchlist" not in loaded


def test_loading_a_large_watchlist_leaves_compiling_to_first_use(tmp_path: Path) -> None:
    """The workers compile their own; the daemon needs its matcher only for pages and for
    entries matched with an older version, so loading (or reloading) does not wait on it."""
    path = tmp_path / "watchlist.toml"
    path.write_text(_large_watchlist(), encoding="utf-8")

    flaggers = WatchlistFlaggers.load(Settings(watchlist_file=path))

    flagger = flaggers.current()
    assert flagger is not None and "matcher" not in vars(flagger)
    result = flagger.matcher.match({"title": "Rockets hit Camp 01234 Bravo overnight"})
    assert [flag.rule for flag in result.flags] == ["base-1234"]
