"""Work done beside the parse, in the parser's worker processes: matching every entry.

The daemon's own process is the bottleneck of a cycle (HTTP, SQL and, until this, the
watchlist), while the worker processes have a core to spare. So the worker matches
each parsed entry against the watchlist it is handed, and the flag stage uses those
results for the entries that turn out new or changed. Matching an entry that turns
out unchanged is wasted, but only in a changed feed, and on the other core.

The watchlist travels with each request as the records the matcher compiles from
(`MatcherSource`: no pydantic model, so a worker never imports the validation, which was
half of its start-up), pickled and compressed once per version (10,000 aliases: 146 KB,
which the pipe carries in a fraction of the ~3 ms its matching saves the daemon per
feed); a worker unpacks it only to compile a version it has not got (no TOML to parse
again: 0.05 s instead of 0.55 s for that list), and keeps the last few compiled, so a
request for a version it has costs a dict lookup.
"""

from __future__ import annotations

import pickle
import zlib
from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ingest.match import Matcher, MatcherSource, article_fields, compile_matcher, matcher_source
from ingest.records import ParsedFeed

if TYPE_CHECKING:  # the daemon's side only: a worker never imports the validation
    from ingest.watchlist import Watchlist

_KEPT = 2


class ShippedWatchlist:
    """The daemon's current (last good) watchlist, as sent to the workers.

    Pickled as its version and its `MatcherSource` packed: plain records, so that a
    worker unpickling it imports no pydantic. Unpacked only when read.
    """

    __slots__ = ("_packed", "_source", "_watchlist", "version")

    def __init__(self, watchlist: Watchlist) -> None:
        self.version = watchlist.version
        self._watchlist: Watchlist | None = watchlist
        self._source: MatcherSource | None = None
        self._packed: bytes | None = None

    @property
    def source(self) -> MatcherSource:
        """What a matcher for this version compiles from."""
        if self._source is None:
            if self._watchlist is not None:
                self._source = matcher_source(self._watchlist)
            else:
                assert self._packed is not None
                self._source = pickle.loads(zlib.decompress(self._packed))
        return self._source

    @property
    def packed(self) -> bytes:
        if self._packed is None:
            # Level 1: a few ms once per version; level 9 makes it a sixth smaller in five
            # times the time.
            self._packed = zlib.compress(pickle.dumps(self.source, pickle.HIGHEST_PROTOCOL), 1)
        return self._packed

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpickled, (self.version, self.packed))

    def __repr__(self) -> str:
        return f"ShippedWatchlist(version={self.version!r})"


def _unpickled(version: str, packed: bytes) -> ShippedWatchlist:
    shipped = ShippedWatchlist.__new__(ShippedWatchlist)
    shipped.version, shipped._packed = version, packed
    shipped._watchlist = shipped._source = None
    return shipped


_matchers: OrderedDict[str, Matcher] = OrderedDict()


def matcher_for(watchlist: ShippedWatchlist) -> Matcher | None:
    """This process's compiled matcher for that version (None if it does not compile here)."""
    matcher = _matchers.get(watchlist.version)
    if matcher is None:
        try:
            matcher = compile_matcher(watchlist.source)
        except Exception:
            # A bug, as the daemon validated the watchlist: it must not cost the feed. The
            # daemon matches these entries itself, and its own compile reports the error.
            return None
        _matchers[watchlist.version] = matcher
        while len(_matchers) > _KEPT:
            _matchers.popitem(last=False)
    return matcher


def with_matches(feed: ParsedFeed, watchlist: ShippedWatchlist) -> ParsedFeed:
    """The feed with every entry's match result (None results: the daemon matches)."""
    matcher = matcher_for(watchlist)
    if matcher is None or matcher.version != watchlist.version:
        return feed
    matches = tuple(
        matcher.match(article_fields(e.title, e.summary_text, e.content_text)) for e in feed.entries
    )
    return replace(feed, matches=matches, matched_with=watchlist.version)
