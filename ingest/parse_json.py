"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1), which feedparser does not read,
mapped to the same records as RSS and Atom."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from feedparser.sanitizer import _sanitize_html
from feedparser.urls import resolve_relative_uris

from ingest.errors import ParseError
from ingest.htmltext import (
    capped,
    html_to_text,
    http_url,
    one_line,
    plain_text,
    storable,
    text_to_html,
)
from ingest.records import ParsedEntry, ParsedFeed

JSON_TYPES = frozenset({"application/feed+json", "application/json", "text/json"})
_VERSION_PREFIXES = ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")


def is_json(body: bytes, content_type: str | None) -> bool:
    """A body for the JSON Feed reader: it opens an object, or the server says JSON and it
    opens an array (an XML body mislabelled as JSON still goes to feedparser)."""
    head = _decode(body[:256]).lstrip()
    if head.startswith("{"):
        return True
    return head.startswith("[") and _mime(content_type) in JSON_TYPES


def parse_json_feed(body: bytes, *, url: str) -> ParsedFeed:
    try:
        doc = json.loads(_decode(body), strict=False)
    except (ValueError, RecursionError) as exc:
        raise ParseError(url, f"not a feed: invalid JSON ({exc})") from None
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or not version.startswith(_VERSION_PREFIXES):
        raise ParseError(url, "not a feed: JSON without a jsonfeed.org version")
    feed_authors = _authors(doc)
    items = doc.get("items")
    entries = (
        tuple(_entry(item, url, feed_authors) for item in items if isinstance(item, dict))
        if isinstance(items, list)
        else ()
    )
    language = _string(doc, "language").strip()[:64]
    return ParsedFeed(
        title=one_line(_string(doc, "title")) or None,
        link=http_url(_string(doc, "home_page_url"), url),
        format=_format(version),
        entries=entries,
        language=storable(language) or None,
    )


def _entry(item: dict[str, Any], feed_url: str, feed_authors: str | None) -> ParsedEntry:
    content_html = _string(item, "content_html")
    if content_html:
        content_html = _sanitize(content_html, feed_url)
        content_text = html_to_text(content_html)
    else:
        content_text = plain_text(_string(item, "content_text"))
        content_html = text_to_html(content_text)
    summary_text = plain_text(_string(item, "summary"))
    published = _date(item.get("date_published"))
    updated = _date(item.get("date_modified"))
    return ParsedEntry(
        guid=_guid(item.get("id")),
        # external_url is the page a link-blog item points at: the best link when url is absent.
        link=http_url(_string(item, "url"), feed_url)
        or http_url(_string(item, "external_url"), feed_url),
        title=one_line(_string(item, "title")),
        summary_html=storable(text_to_html(summary_text)),
        summary_text=capped(summary_text),
        content_html=storable(content_html),
        content_text=capped(content_text),
        author=_authors(item) or feed_authors,
        published=published or updated,
        updated=updated,
    )


def _decode(body: bytes) -> str:
    # RFC 8259 JSON is UTF-8, but servers send BOMs and UTF-16; keep what decodes.
    try:
        encoding = json.detect_encoding(body)
    except (ValueError, LookupError):
        encoding = "utf-8"
    return body.decode(encoding, "replace").lstrip("\ufeff")


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _format(version: str) -> str:
    major, _, minor = version.rstrip("/").rsplit("/", 1)[-1].partition(".")
    if major.isdigit() and (minor.isdigit() or not minor):
        return f"json{major}{minor or '0'}"
    return "json"


def _string(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _guid(value: object) -> str | None:
    # Publishers send numeric ids although the spec says string; both name the item.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return storable(str(value).strip()[:2048]) or None


def _authors(obj: dict[str, Any]) -> str | None:
    """1.1 `authors` (a list) or 1.0 `author` (an object); names joined by ", "."""
    found = obj.get("authors")
    people = found if isinstance(found, list) else [obj.get("author")]
    names = (one_line(_string(p, "name")) for p in people if isinstance(p, dict))
    return ", ".join(dict.fromkeys(n for n in names if n)) or None


def _date(value: object) -> datetime | None:
    """RFC 3339 as the spec says, RFC 822 as some publishers write; naive means UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        return None


def _sanitize(html: str, base: str) -> str:
    # The same cleaning feedparser gives RSS and Atom HTML: relative URIs resolved
    # against the feed, scripts, styles, event handlers and unsafe URLs removed.
    resolved = resolve_relative_uris(html, base, "utf-8", "text/html")
    return str(_sanitize_html(resolved, "utf-8", "text/html"))
