"""Matching beside the parse (in the parser's worker processes) gives the flags the
daemon's own matching would, and a watchlist change in between is never missed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from ingest.dedupe import plan_articles
from ingest.flagging import WatchlistFlagger, WatchlistFlaggers
from ingest.match import article_fields, compile_matcher
from ingest.parse import parse_feed
from ingest.parse_pool import ParserPool
from ingest.prepare import MAX_SHIPPED_WATCHLIST, WatchlistText, with_matches
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


def _watchlist(text: str = TEXT) -> WatchlistText:
    return WatchlistText(parse_watchlist_text(text).version, text)


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


def test_the_process_pool_ships_matches_back() -> None:
    pool = ParserPool(1)
    try:
        watchlist = _watchlist()
        feed = asyncio.run(
            pool.parse(
                BODY, url="https://news.example/feed", content_type=None, watchlist=watchlist
            )
        )
    finally:
        pool.close()
    assert not isinstance(feed, Exception)
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


def test_a_watchlist_too_large_to_ship_is_compiled_when_loaded(tmp_path: Path) -> None:
    """Over MAX_SHIPPED_WATCHLIST the daemon matches every entry itself: it compiles at
    load (or reload), not inside the first poll's write transaction."""
    entities = "".join(
        f'[[entities]]\nid = "base-{i}"\nname = "Forward Operating Base {i:05d}"\n'
        f'aliases = ["FOB {i:05d} Alpha", "Camp {i:05d} Bravo"]\npriority = "low"\n\n'
        for i in range(2500)
    )
    assert len(entities) > MAX_SHIPPED_WATCHLIST
    path = tmp_path / "watchlist.toml"
    path.write_text(entities, encoding="utf-8")
    settings = Settings(watchlist_file=path)

    flaggers = WatchlistFlaggers.load(settings)

    flagger = flaggers.current()
    assert flagger is not None and "matcher" in vars(flagger)  # compiled already
    result = flagger.matcher.match({"title": "Rockets hit Camp 01234 Bravo overnight"})
    assert [flag.rule for flag in result.flags] == ["base-1234"]
