"""Records cross the process boundary (parser workers to the daemon) by pickle."""

from __future__ import annotations

import pickle
from pathlib import Path

from ingest.dedupe import with_keys
from ingest.parse import parse_feed
from ingest.prepare import WatchlistText, with_matches
from ingest.watchlist import parse_watchlist_text

ROOT = Path(__file__).resolve().parent.parent


def test_a_matched_feed_comes_back_from_pickle_equal_field_for_field() -> None:
    body = (ROOT / "tests/data/feeds/atom10.xml").read_bytes()
    text = (ROOT / "config/watchlist.toml").read_text(encoding="utf-8")
    watchlist = WatchlistText(parse_watchlist_text(text).version, text)
    feed = with_matches(with_keys(parse_feed(body, url="https://example.org/feed")), watchlist)
    assert feed.matches and any(match.flags for match in feed.matches)  # the records in use

    back = pickle.loads(pickle.dumps(feed))

    assert back == feed
    assert back.entries[0].published == feed.entries[0].published
    assert back.matches is not None and back.matches[0].mentions == feed.matches[0].mentions
