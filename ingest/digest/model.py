"""The built digest: what an analyst reads, ready for any renderer (frozen records, no I/O).

Times are aware datetimes already in the digest's time zone; feed-provided strings are
kept raw here and escaped by each renderer for its own format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

PRIORITIES = ("high", "medium", "low")


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of evidence text; `marked` pieces are the matched terms."""

    text: str
    marked: bool = False


@dataclass(frozen=True, slots=True)
class Copy:
    """Another outlet's copy of a story shown once ("also reported by")."""

    article_id: int
    outlet: str
    title: str
    url: str | None
    published: datetime


@dataclass(frozen=True, slots=True)
class Item:
    """One story: the article shown, why it was flagged, and its other copies."""

    flag_id: int
    article_id: int
    priority: str
    rule: str  # the leading flag's rule / entity / keyword-group id: the item's group
    kind: str  # rule | entity | keywords
    title: str
    url: str | None
    outlet: str
    feed_url: str
    published: datetime
    evidence: tuple[Segment, ...]
    matched: tuple[str, ...]  # every rule/entity name that flagged this article
    also_reported_by: tuple[Copy, ...] = ()
    # Where the evidence sentence was found: the feed's text, or the article page
    # fetched for full text (ingest.fulltext).
    evidence_from: str = "feed"

    @property
    def evidence_text(self) -> str:
        return "".join(segment.text for segment in self.evidence)

    @property
    def terms(self) -> tuple[str, ...]:
        """The highlighted terms, each once, in order of appearance."""
        return tuple(dict.fromkeys(s.text for s in self.evidence if s.marked))


@dataclass(frozen=True, slots=True)
class Group:
    """The stories of one rule or entity within one priority."""

    id: str
    kind: str  # rule | entity | keywords
    name: str
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class Section:
    priority: str
    groups: tuple[Group, ...]

    @property
    def stories(self) -> int:
        return sum(len(group.items) for group in self.groups)


@dataclass(frozen=True, slots=True)
class Trend:
    """Mentions of a tracked entity in the period against its previous-7-period average."""

    id: str
    name: str
    period: int
    average: float
    spike: bool

    @property
    def direction(self) -> str:
        if self.period > self.average:
            return "up"
        if self.period < self.average:
            return "down"
        return "flat"


@dataclass(frozen=True, slots=True)
class Attention:
    """A feed failing for more than a day."""

    url: str
    title: str | None
    failing_since: datetime
    consecutive_errors: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Header:
    title: str
    day: date  # the local date the period ends on: names the files
    timezone: str
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    articles_ingested: int
    feeds_polled: int
    feeds_failing: int
    flags_by_priority: Mapping[str, int]  # every priority, high first, zeros included
    stories: int  # items shown, after collapsing copies and merging an article's flags

    @property
    def flags(self) -> int:
        return sum(self.flags_by_priority.values())


@dataclass(frozen=True, slots=True)
class Digest:
    header: Header
    sections: tuple[Section, ...]  # high first; a priority without flags is left out
    trends: tuple[Trend, ...]
    attention: tuple[Attention, ...]

    @property
    def empty(self) -> bool:
        return not self.sections
