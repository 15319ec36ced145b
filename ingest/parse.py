"""The parse stage: a fetched body becomes a `ParsedFeed`.

feedparser reads RSS 0.9x/1.0/2.0 and Atom 0.3/1.0; JSON Feed has its own reader
(`parse_json`). `parse_feed` is pure and synchronous; `ingest.parse_pool` runs it in
worker processes so a slow parse never stalls the event loop. Nothing here touches the network,
the file system or the database: feedparser only ever gets bytes in a stream, never a
string it could take for a URL or a file name.
"""

from __future__ import annotations

import functools
import io
import logging
import re
from codecs import BOM_UTF8
from datetime import UTC, datetime
from typing import Any
from xml.sax import SAXParseException

import feedparser
from feedparser.api import LooseFeedParser, StrictFeedParser
from feedparser.exceptions import CharacterEncodingOverride, NonXMLContentType

from ingest.errors import NotAFeedError, ParseError
from ingest.feedparser_dict import skip_detour_for_plain_keys
from ingest.feedparser_urls import memoize_url_functions
from ingest.htmltext import (
    capped,
    feed_links,
    html_title,
    html_to_text,
    http_url,
    one_line,
    plain_text,
    storable,
    text_to_html,
)
from ingest.parse_bytes import XML_ENCODING, refuse_dangerous_entities, repair_body, same_codec
from ingest.parse_fast import parse_fast
from ingest.parse_fast_fields import MAX_HINT, period_hint, positive_int
from ingest.parse_fast_html import html_fields
from ingest.parse_json import is_json, parse_json_feed
from ingest.records import ParsedEntry, ParsedFeed

__all__ = ["html_to_text", "parse_feed"]

log = logging.getLogger("ingest.parse")

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_EXTERNAL_DTD = re.compile(rb"<!DOCTYPE[^>\[]*\b(?:PUBLIC|SYSTEM)\b")
_AUTHOR_FORMS = (
    re.compile(r"^\S+@\S+\s*\((.+)\)$"),  # desk@example.com (Rana Haddad)
    re.compile(r"^(.+?)\s*<\S+@\S+>$"),  # Rana Haddad <desk@example.com>
    re.compile(r"^(.+?)\s*\(\S+@\S+\)$"),  # Rana Haddad (desk@example.com)
)
_HTML_START = re.compile(r"<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.IGNORECASE)


memoize_url_functions()
skip_detour_for_plain_keys()


def parse_feed(
    body: bytes, *, url: str, content_type: str | None = None, parser: str = "auto"
) -> ParsedFeed:
    """Read one feed body. Raises `ParseError` (or `NotAFeedError` for an HTML page).

    parser "auto": a well-formed RSS 2.0/Atom 1.0/RSS 1.0 feed is read by the fast path
    (`parse_fast`), which gives the records feedparser would; everything else, and every
    feed with parser "feedparser", by feedparser.
    """
    if not body or body.isspace():
        raise ParseError(url, "empty response body")
    if is_json(body, content_type):
        return parse_json_feed(body, url=url)
    if parser == "auto":
        fast = _fast_outcome(body, url, content_type)
        if fast is not None:
            return fast
    _keep_guids_verbatim()
    repaired, effective_type, notes = repair_body(body, content_type)
    headers = {"content-location": url}
    if effective_type:
        headers["content-type"] = effective_type
    refuse_dangerous_entities(repaired, headers, url)
    result, crash = _feedparser(repaired, headers, url)
    if crash:
        notes.insert(0, crash)
    entries = result.get("entries") or []
    if not result.get("version") and not entries:
        raise _not_a_feed(body, content_type, url, result.get("bozo_exception"))
    feed = result.get("feed") or {}
    version = result.get("version") or "unknown"
    # Atom says an entry without authors has the feed's; RSS's channel people are editors.
    feed_author = _author(feed) if version.startswith("atom") else None
    warning = _warning(result, repaired)
    return ParsedFeed(
        title=_title(feed) or None,
        link=http_url(_str(feed, "link"), url),
        format=version,
        entries=tuple(_entry(e, url, feed_author) for e in entries),
        ttl_hint=_ttl_hint(feed),
        warning="; ".join(w for w in (warning, *notes) if w) or None,
        language=_language(feed),
    )


@functools.cache
def _keep_guids_verbatim() -> None:
    """Stop feedparser resolving RSS guids against the feed URL.

    A <guid> not marked isPermaLink="false" is taken for a URL: "12345" became
    "https://host/feeds/12345", so the guid would change with the feed's URL (a
    redirect) and every article would be stored again. A guid names an item; keep it as
    written. (feedparser has no option for this; its parser classes are only used here.)
    """
    for parser in (StrictFeedParser, LooseFeedParser):
        parser.can_be_relative_uri = frozenset(parser.can_be_relative_uri) - {"id"}


# feedparser spent a third of its time resolving links in, and sanitizing, every
# description; `html_fields` does both by the same rules, and keeps a description that
# is already safe as written (most are) without rewriting it.
_RAW_HTML = {"sanitize_html": False, "resolve_relative_uris": False}


def _feedparser(body: bytes, headers: dict[str, str], url: str) -> tuple[Any, str | None]:
    """feedparser's result, and a note if its XML parser crashed and the lenient one read it.

    feedparser falls back to its lenient parser on XML errors but not on its own bugs:
    a namespace URI with a space in it makes it raise ValueError.
    """
    try:
        return feedparser.parse(io.BytesIO(body), response_headers=headers, **_RAW_HTML), None
    except Exception as exc:  # any crash of the strict parser gets the lenient retry
        crash = f"the XML parser failed ({type(exc).__name__}: {exc}); read leniently"
    strict = feedparser.api._XML_AVAILABLE
    feedparser.api._XML_AVAILABLE = False  # the only switch to the lenient parser
    try:
        return feedparser.parse(io.BytesIO(body), response_headers=headers, **_RAW_HTML), crash[
            :300
        ]
    except Exception as exc:
        raise ParseError(url, f"not a feed: the parser failed ({type(exc).__name__})") from None
    finally:
        feedparser.api._XML_AVAILABLE = strict


# --- feedparser's result to records ------------------------------------------------


def _entry(e: Any, base: str, feed_author: str | None) -> ParsedEntry:
    contents = [c for c in _dicts(e, "content") if isinstance(c.get("value"), str)]
    content = max(contents, key=lambda c: len(c["value"]), default={})
    content_html, content_text = _html_and_text(content, base)
    summary_html, summary_text = _html_and_text(_dict(e, "summary_detail"), base)
    updated = _date(e, "updated_parsed")
    return ParsedEntry(
        guid=storable(_str(e, "id").strip()[:2048]) or None,
        link=_link(e, base),
        title=_title(e),
        summary_html=summary_html,
        summary_text=summary_text,
        content_html=content_html,
        content_text=content_text,
        author=_author(e) or feed_author,
        published=_date(e, "published_parsed", "created_parsed") or updated,
        updated=updated,
    )


# feedparser's dicts hold whatever the feed wrote: an element named <links> or <content>
# in the wrong place turns a list into a string. Read every value by the type it must have.


def _str(d: Any, key: str) -> str:
    value = d.get(key)
    return value if isinstance(value, str) else ""


def _dict(d: Any, key: str) -> dict[str, Any]:
    value = d.get(key)
    return value if isinstance(value, dict) else {}


def _dicts(d: Any, key: str) -> list[dict[str, Any]]:
    value = d.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _html_and_text(detail: dict[str, Any], base: str) -> tuple[str, str]:
    value = _str(detail, "value")
    if not value:
        return "", ""
    if (_str(detail, "type") or "text/html") in _HTML_TYPES:
        return html_fields(value, _str(detail, "base") or base)
    text = plain_text(value)
    return storable(text_to_html(text)), capped(text)


def _title(obj: Any) -> str:
    title = _str(obj, "title")
    kind = _str(_dict(obj, "title_detail"), "type")
    return html_title(title) if kind in _HTML_TYPES else one_line(title)


def _link(e: Any, base: str) -> str | None:
    link = _str(e, "link")
    # With no <link>, feedparser takes the guid (or Atom id) for the link: only an
    # absolute URL is one; "12345" is not a page next to the feed.
    from_guid = e.get("guidislink") is True and link == _str(e, "id")
    absolute = http_url(link, "" if from_guid else base)
    if absolute:
        return absolute
    # A first link with an unusable scheme should not hide a usable alternate.
    for candidate in _dicts(e, "links"):
        if candidate.get("rel", "alternate") == "alternate":
            absolute = http_url(_str(candidate, "href"), base)
            if absolute:
                return absolute
    return None


def _author(e: Any) -> str | None:
    """The author's name: from "email (Name)" and "Name <email>" as written, because
    feedparser's own split garbles addresses with long TLDs ("ple (Rana Haddad")."""
    names = [one_line(_str(a, "name")) for a in _dicts(e, "authors")]
    names = list(dict.fromkeys(n for n in names if n))
    written = one_line(_str(e, "author"))
    if len(names) > 1 or not written:
        return ", ".join(names) or None
    for pattern in _AUTHOR_FORMS:
        match = pattern.match(written)
        if match:
            return match.group(1).strip(" \"'") or written
    return written


def _date(e: Any, *keys: str) -> datetime | None:
    for key in keys:
        # dict.get: feedparser's own lookup falls back from updated to published (with a
        # deprecation warning), which would hide which of the two the feed gave.
        parsed = dict.get(e, key)
        if parsed:
            try:
                year, month, day, hour, minute, second = parsed[:6]
                # A leap second (60) is a valid struct_time but not a valid datetime.
                return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
            except (TypeError, ValueError, OverflowError):
                continue
    return None


def _language(feed: Any) -> str | None:
    # Atom gives its language as xml:lang, which feedparser keeps on the title.
    language = _str(feed, "language") or _str(_dict(feed, "title_detail"), "language")
    return storable(language.strip()[:64]) or None


def _ttl_hint(feed: Any) -> int | None:
    """Seconds: RSS <ttl> minutes, else the syndication module's period and frequency."""
    ttl = positive_int(feed.get("ttl"))
    if ttl:
        return min(ttl * 60, MAX_HINT)
    return period_hint(_str(feed, "sy_updateperiod"), feed.get("sy_updatefrequency"))


def _warning(result: Any, body: bytes) -> str | None:
    """feedparser's complaint, unless it is noise: a missing or non-XML content type, or
    a charset label overridden by the document's own correct declaration."""
    exc = result.get("bozo_exception") if result.get("bozo") else None
    if exc is None or isinstance(exc, NonXMLContentType):
        return None
    undefined = isinstance(exc, SAXParseException) and exc.getMessage() == "undefined entity"
    if undefined and _EXTERNAL_DTD.search(body[:4096]):
        # Entities from an external DTD (RSS 0.91's Netscape DTD declares &eacute; and
        # the like) are never read, by design; the lenient parser decodes them.
        return None
    if isinstance(exc, CharacterEncodingOverride):
        declared = XML_ENCODING.match(body[:512].removeprefix(BOM_UTF8))
        used = result.get("encoding") or ""
        if declared and same_codec(declared.group(1).decode("ascii"), used):
            return None
    return _describe(exc)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SAXParseException):
        return f"line {exc.getLineNumber()}, column {exc.getColumnNumber()}: {exc.getMessage()}"
    return str(exc) or type(exc).__name__


def _not_a_feed(
    body: bytes, content_type: str | None, url: str, exc: BaseException | None
) -> ParseError:
    head = body[:524288].decode("utf-8", "replace")
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime in _HTML_TYPES or _HTML_START.search(head[:4096]):
        links = feed_links(head, url)
        if links:
            message = f"not a feed: an HTML page; the page links its feed at {links[0]}"
            return NotAFeedError(url, message, links[0])
        return NotAFeedError(url, "not a feed: an HTML page")
    start = head.lstrip("\ufeff \t\r\n")
    if not start.startswith("<"):
        # An error page in plain text ("Access denied") is recognisable from its start.
        sample = one_line(start[:60], 40)
        if sum(not c.isprintable() or c == "\ufffd" for c in sample) > len(sample) // 4:
            return ParseError(url, "not a feed: binary data, not XML, HTML or JSON")
        return ParseError(
            url, f"not a feed: the body is not XML, HTML or JSON; it starts {sample!r}"
        )
    # No line and column: they count the XML declaration feedparser adds, and a body
    # that is not a feed at all is not fixed at one place.
    if isinstance(exc, SAXParseException):
        reason = exc.getMessage()
    else:
        reason = str(exc) if exc is not None else "no RSS, Atom or JSON Feed elements"
    return ParseError(url, f"not a feed: {reason}")


def _fast_outcome(body: bytes, url: str, content_type: str | None) -> ParsedFeed | None:
    """The fast path's records, or None: feedparser reads the feed (also after a fast-path bug)."""
    try:
        return parse_fast(body, url=url, content_type=content_type)
    except Exception as exc:  # a bug of the fast path: feedparser reads the feed instead
        log.error("fast_parser_failed feed=%s error=%r", url, exc)
        return None
