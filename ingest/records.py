"""Plain records handed between pipeline stages (never ORM objects or HTTP responses).

Names say where a record stands: `Fetched*` came from HTTP, `Parsed*` from the parser,
`Stored*` was read back from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.dedupe import EntryKeys
    from ingest.match import MatchResult


@dataclass(frozen=True, slots=True)
class FeedRequest:
    """What the fetch stage needs to poll one feed."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    # The operator configured this feed on a private/loopback address, so the
    # private-network guard lets it (and its redirects) through.
    allow_private: bool = False


@dataclass(frozen=True, slots=True)
class FetchedFeed:
    """The outcome of one HTTP poll that got a response (any status).

    Transport failures (timeout, size cap, redirect loop, blocked address) raise
    `FetchError` instead.
    """

    url: str  # the URL requested
    final_url: str  # after redirects
    status: int
    # Set when every hop of the redirect chain was permanent (301/308): the feed moved.
    permanent_url: str | None
    etag: str | None
    last_modified: str | None
    content_type: str | None
    body: bytes  # decoded (gunzipped) bytes; empty for 304 and for errors
    retry_after: datetime | None  # aware UTC, from Retry-After (seconds or HTTP-date)
    max_age: int | None  # seconds, from Cache-Control max-age
    elapsed: float  # seconds, the whole request
    cut: bool = False  # the body was cut at the caller's `cut_at` (article pages), not refused


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    guid: str | None
    link: str | None  # absolute
    title: str  # plain text
    summary_html: str  # sanitized HTML for display
    summary_text: str  # clean text for matching
    content_html: str
    content_text: str
    author: str | None
    published: datetime | None  # aware UTC
    updated: datetime | None  # aware UTC


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str | None
    link: str | None  # the site's home page
    format: str  # e.g. rss20, rss10, atom10, json11
    entries: tuple[ParsedEntry, ...]
    # Publisher's polling hint in seconds (RSS <ttl>, sy:updatePeriod/updateFrequency).
    ttl_hint: int | None = None
    # feedparser's "bozo" text when the XML was broken but partly readable.
    warning: str | None = None
    language: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # Filled beside the parse in the worker (ingest.prepare): one match result per
    # entry, made with the watchlist version `matched_with`.
    matches: tuple[MatchResult, ...] | None = None
    matched_with: str | None = None
    # Each entry's identity and change keys, also computed in the worker (ingest.prepare).
    keys: tuple[EntryKeys, ...] | None = None


def shallow_dict(record: Any) -> dict[str, Any]:
    """A dataclass record's fields as a dict of its values as they are, for SQL parameters.

    `dataclasses.asdict` deep-copies every list and dict inside (a flag's mentions), which
    cost more than the INSERT itself on the write path.
    """
    return {f.name: getattr(record, f.name) for f in fields(record)}
