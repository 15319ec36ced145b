"""Plain records handed between pipeline stages (never ORM objects or HTTP responses).

Names say where a record stands: `Fetched*` came from HTTP, `Parsed*` from the parser,
`Stored*` was read back from the database.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from ingest.dedupe import EntryKeys
    from ingest.match import MatchResult


_Record = TypeVar("_Record")


def pickled_by_fields(cls: type[_Record]) -> type[_Record]:
    """Pickle a slots dataclass as the arguments of its constructor.

    A parsed feed crosses from a parser worker to the daemon as about 150 records. The
    dataclasses default for slots (__getstate__/__setstate__ looping over `fields()` in
    Python) cost twice as much on each side: 0.2 ms per feed of the daemon's own time.
    """
    declared = fields(cast(Any, cls))
    if any(not f.init for f in declared):
        raise TypeError(f"{cls.__name__}: every field must be an __init__ argument")
    names = [f.name for f in declared]
    values = attrgetter(*names)
    single = len(names) == 1

    def reduce(self: Any) -> tuple[Any, ...]:
        return (cls, (values(self),) if single else values(self))

    cls.__reduce__ = reduce  # type: ignore[method-assign,assignment]
    return cls


def slot_init(cls: type[_Record]) -> type[_Record]:
    """Give a frozen slots dataclass an __init__ that stores each field through its slot.

    The dataclass one sets every field with `object.__setattr__` (frozen forbids plain
    assignment): 3.4 µs for 10 fields here, against 0.9 µs through the slots' own
    setters. A feed of 40 entries makes about 250 such records, in its parser worker
    and again in the daemon (unpickled). The instances stay frozen; fields with a
    default factory, keyword-only fields and __post_init__ are refused.
    """
    declared = fields(cast(Any, cls))
    if "__slots__" not in cls.__dict__ or not cast(Any, cls).__dataclass_params__.frozen:
        raise TypeError(f"{cls.__name__}: not a frozen slots dataclass")
    if hasattr(cls, "__post_init__") or any(
        not f.init or f.kw_only or f.default_factory is not MISSING for f in declared
    ):
        raise TypeError(f"{cls.__name__}: a field this __init__ cannot make")
    namespace: dict[str, Any] = {}
    params = []
    for f in declared:
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
    body = "".join(f"    _set_{f.name}(self, {f.name})\n" for f in declared)
    exec(f"def __init__(self, {', '.join(params)}):\n{body}", namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init  # type: ignore[misc,method-assign]
    return cls


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


@pickled_by_fields
@slot_init
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


@pickled_by_fields
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
