"""What the digest is built from: plain records read from storage by `ingest.digeststore`.

The digest stage is pure over these (no database, no network); storage fills them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class DigestFlag:
    flag_id: int
    article_id: int
    rule: str  # rule id, or entity / keyword-group id
    kind: str  # rule | entity | keywords
    name: str  # human name of the rule / entity / group
    priority: str  # high | medium | low
    evidence: str  # the sentence (or window) that raised it
    source: str  # feed | page (full text)
    # Each: {"id", "kind", "field", "start", "end", "text"}; `text` is the matched
    # text exactly as written in the article (offsets index the article field, not
    # the evidence): highlight by finding `text` inside `evidence`.
    mentions: tuple[dict[str, Any], ...]
    raised_at: datetime  # aware UTC


@dataclass(frozen=True, slots=True)
class DigestArticle:
    id: int
    title: str
    url: str | None
    feed_title: str | None
    feed_url: str
    published_at: datetime  # aware UTC
    text: str  # title + summary/content as plain text, for near-duplicate detection


@dataclass(frozen=True, slots=True)
class FailingFeed:
    url: str
    title: str | None
    error_since: datetime  # aware UTC
    consecutive_errors: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class EntityTrend:
    id: str
    name: str
    period: int  # mentions (articles mentioning it) in the period
    previous_days: tuple[int, ...]  # the 7 previous periods, most recent first


@dataclass(frozen=True, slots=True)
class DigestInputs:
    title: str  # e.g. "ingest daily digest"
    period_start: datetime  # aware UTC
    period_end: datetime  # aware UTC
    timezone: ZoneInfo  # the digest's time zone: every time shown is in it
    articles_ingested: int
    feeds_polled: int
    feeds_failing: int
    flags: tuple[DigestFlag, ...]
    articles: dict[int, DigestArticle]  # every article a flag points to
    trends: tuple[EntityTrend, ...]
    attention: tuple[FailingFeed, ...]  # failing for more than a day
    generated_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)
