"""Work done beside the parse, in the parser's worker processes: matching every entry.

The daemon's own process is the bottleneck of a cycle (HTTP, SQL and, until this, the
watchlist), while the worker processes have a core to spare. So the worker matches
each parsed entry against the watchlist it is handed, and the flag stage uses those
results for the entries that turn out new or changed. Matching an entry that turns
out unchanged is wasted, but only in a changed feed, and on the other core.

The watchlist travels with each request, compressed once per version (a 10,000-alias
list of 694 KB packs to 158 KB, which the pipe carries in a fraction of the ~3 ms
its matching saves the daemon per feed); a worker unpacks and compiles it once per
version and keeps the last few, so a request for a version it has costs a dict lookup.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from ingest.errors import ConfigError
from ingest.match import Matcher, article_fields, compile_matcher
from ingest.records import ParsedFeed
from ingest.watchlist import parse_watchlist_text

_KEPT = 2


class WatchlistText:
    """The daemon's current (last good) watchlist, as sent to the workers.

    Pickled as its version and its compressed text; the text is unpacked only when read
    (by a worker that has not compiled this version yet).
    """

    __slots__ = ("_packed", "_text", "version")

    def __init__(self, version: str, text: str | None = None, *, packed: bytes | None = None):
        if (text is None) == (packed is None):
            raise ValueError("give exactly one of the watchlist's text and its packed form")
        self.version = version
        self._text = text
        self._packed = packed

    @property
    def text(self) -> str:
        if self._text is None:
            assert self._packed is not None
            self._text = zlib.decompress(self._packed).decode("utf-8")
        return self._text

    @property
    def packed(self) -> bytes:
        if self._packed is None:
            # Level 1: a few ms once per version; level 9 packs 694 KB of TOML to 129 KB
            # instead of 158 KB, in several times the time.
            self._packed = zlib.compress(self.text.encode("utf-8"), 1)
        return self._packed

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpickled, (self.version, self.packed))

    def __repr__(self) -> str:
        return f"WatchlistText(version={self.version!r})"


def _unpickled(version: str, packed: bytes) -> WatchlistText:
    return WatchlistText(version, packed=packed)


_matchers: OrderedDict[str, Matcher] = OrderedDict()


def matcher_for(watchlist: WatchlistText) -> Matcher | None:
    """This process's compiled matcher for that version (None if it does not compile here)."""
    matcher = _matchers.get(watchlist.version)
    if matcher is None:
        try:
            matcher = compile_matcher(parse_watchlist_text(watchlist.text))
        except ConfigError:
            return None  # the daemon validated it; a mismatch means: match in the daemon
        _matchers[watchlist.version] = matcher
        while len(_matchers) > _KEPT:
            _matchers.popitem(last=False)
    return matcher


def with_matches(feed: ParsedFeed, watchlist: WatchlistText) -> ParsedFeed:
    """The feed with every entry's match result (None results: the daemon matches)."""
    matcher = matcher_for(watchlist)
    if matcher is None or matcher.version != watchlist.version:
        return feed
    matches = tuple(
        matcher.match(article_fields(e.title, e.summary_text, e.content_text)) for e in feed.entries
    )
    return replace(feed, matches=matches, matched_with=watchlist.version)
