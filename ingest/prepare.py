"""Work done beside the parse, in the parser's worker processes: matching every entry.

The daemon's own process is the bottleneck of a cycle (HTTP, SQL and, until this, the
watchlist), while the worker processes have a core to spare. So the worker matches
each parsed entry against the watchlist it is handed, and the flag stage uses those
results for the entries that turn out new or changed. Matching an entry that turns
out unchanged is wasted, but only in a changed feed, and on the other core.

The watchlist travels as its text with each request (a few KiB for a useful one);
each worker compiles it once per version and keeps the last few.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

from ingest.errors import ConfigError
from ingest.match import Matcher, article_fields, compile_matcher
from ingest.records import ParsedFeed
from ingest.watchlist import parse_watchlist_text

# A watchlist larger than this is matched in the daemon's process instead: sending it
# with every request would cost more than the matching saves.
MAX_SHIPPED_WATCHLIST = 256 * 1024
_KEPT = 2


@dataclass(frozen=True, slots=True)
class WatchlistText:
    """The daemon's current (last good) watchlist, as sent to the workers."""

    version: str
    text: str

    @property
    def shippable(self) -> bool:
        return len(self.text) <= MAX_SHIPPED_WATCHLIST


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
