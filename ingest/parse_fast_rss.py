"""RSS 2.0 and RSS 1.0 (RDF) read by the fast parser (`ingest.parse_fast`).

Each item's children are indexed by tag in one pass (`children`), which also refuses any
child the fast path does not know; a tag given twice is refused only where its field is
read, and fields are read in the order they always were, so the same feeds are declined.
"""

from __future__ import annotations

import re
from typing import Any

from ingest.htmltext import one_line
from ingest.parse_fast_fields import (
    DC,
    SY,
    NotFast,
    children,
    creator_of,
    guid_of,
    iso_date,
    language_of,
    link_url,
    one,
    only,
    rfc822_date,
    text_of,
    title_of,
    ttl_hint,
)
from ingest.parse_fast_html import html_fields
from ingest.records import ParsedEntry, ParsedFeed

__all__ = ["RDF", "rss10", "rss20"]

ATOM = "{http://www.w3.org/2005/Atom}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_RSS1 = "{http://purl.org/rss/1.0/}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"

# Children we read or know to be harmless; anything else sends the feed to feedparser.
_RSS_ITEM = frozenset(
    {
        "title",
        "link",
        "guid",
        "pubDate",
        "description",
        f"{DC}creator",
        f"{DC}date",
        "category",
        "comments",
        "enclosure",
        f"{DC}subject",
        "author",
        _CONTENT,
    }
)
_RSS_CHANNEL = frozenset(
    {
        "title",
        "link",
        "description",
        "language",
        "ttl",
        "item",
        "lastBuildDate",
        "pubDate",
        "generator",
        "copyright",
        "category",
        "docs",
        "managingEditor",
        "webMaster",
        "image",
        f"{ATOM}link",
        f"{SY}updatePeriod",
        f"{SY}updateFrequency",
        f"{SY}updateBase",
        f"{DC}language",
    }
)
_RSS1_ITEM = frozenset(
    {
        f"{_RSS1}title",
        f"{_RSS1}link",
        f"{_RSS1}description",
        f"{DC}date",
        f"{DC}creator",
        f"{DC}subject",
    }
)
_RSS1_TOP = frozenset({f"{_RSS1}channel", f"{_RSS1}item", f"{_RSS1}image"})
_RSS1_CHANNEL = frozenset(
    {
        f"{_RSS1}title",
        f"{_RSS1}link",
        f"{_RSS1}description",
        f"{_RSS1}items",
        f"{_RSS1}image",
        f"{DC}language",
        f"{DC}date",
        f"{DC}creator",
        f"{DC}rights",
        f"{DC}publisher",
        f"{SY}updatePeriod",
        f"{SY}updateFrequency",
        f"{SY}updateBase",
    }
)


# --- RSS 2.0 -----------------------------------------------------------------------


def rss20(root: Any, url: str) -> ParsedFeed:
    channel_element = only(root, "channel")
    channel = children(channel_element, _RSS_CHANNEL)
    entries = tuple(_rss20_entry(item, url) for item in channel_element.iterfind("item"))
    return ParsedFeed(
        title=title_of(one(channel, "title")) or None,
        link=link_url(text_of(one(channel, "link")), url),
        format="rss20",
        entries=entries,
        ttl_hint=ttl_hint(text_of(one(channel, "ttl")), channel),
        language=language_of(text_of(one(channel, "language"))),
    )


def _rss20_entry(item: Any, url: str) -> ParsedEntry:
    found = children(item, _RSS_ITEM)
    guid_element = one(found, "guid")
    guid = text_of(guid_element)
    link = text_of(one(found, "link"))
    if not link and guid and guid_element.get("isPermaLink", "true").lower() != "false":
        link_found = link_url(guid.strip(), "")  # feedparser: the guid is the link
    else:
        link_found = link_url(link, url) if link else None
    published = rfc822_date(text_of(one(found, "pubDate")))
    updated = iso_date(text_of(one(found, f"{DC}date")))
    summary_html, summary_text = html_fields(text_of(one(found, "description")), url)
    content_html, content_text = html_fields(text_of(one(found, _CONTENT)), url)
    return ParsedEntry(
        guid=guid_of(guid),
        link=link_found,
        title=title_of(one(found, "title")),
        summary_html=summary_html,
        summary_text=summary_text,
        content_html=content_html,
        content_text=content_text,
        author=_rss_author(found),
        published=published or updated,
        updated=updated,
    )


_AUTHOR_FORMS = (  # as ingest.parse reads feedparser's "author"
    re.compile(r"^\S+@\S+\s*\((.+)\)$"),  # desk@example.com (Rana Haddad)
    re.compile(r"^(.+?)\s*<\S+@\S+>$"),  # Rana Haddad <desk@example.com>
    re.compile(r"^(.+?)\s*\(\S+@\S+\)$"),  # Rana Haddad (desk@example.com)
)


def _rss_author(found: dict[str, Any]) -> str | None:
    author = one(found, "author")
    if author is None:
        return creator_of(found)
    if one(found, f"{DC}creator") is not None:
        raise NotFast
    written = one_line(text_of(author))
    for pattern in _AUTHOR_FORMS:
        match = pattern.match(written)
        if match:
            return match.group(1).strip(" \"'") or written
    if "@" in written or "(" in written or "<" in written:
        raise NotFast
    return written or None


# --- RSS 1.0 -----------------------------------------------------------------------


def rss10(root: Any, url: str) -> ParsedFeed:
    channel_element = one(children(root, _RSS1_TOP), f"{_RSS1}channel")
    if channel_element is None:
        raise NotFast  # exactly one channel, or feedparser
    channel = children(channel_element, _RSS1_CHANNEL)
    entries = tuple(_rss10_entry(item, url) for item in root.iterfind(f"{_RSS1}item"))
    return ParsedFeed(
        title=title_of(one(channel, f"{_RSS1}title")) or None,
        link=link_url(text_of(one(channel, f"{_RSS1}link")), url),
        format="rss10",
        entries=entries,
        ttl_hint=ttl_hint("", channel),
        language=language_of(text_of(one(channel, f"{DC}language"))),
    )


def _rss10_entry(item: Any, url: str) -> ParsedEntry:
    found = children(item, _RSS1_ITEM)
    about = item.get(f"{RDF}about")
    link = text_of(one(found, f"{_RSS1}link"))
    updated = iso_date(text_of(one(found, f"{DC}date")))
    summary_html, summary_text = html_fields(text_of(one(found, f"{_RSS1}description")), url)
    return ParsedEntry(
        guid=guid_of(about),
        link=link_url(link, url) if link else None,
        title=title_of(one(found, f"{_RSS1}title")),
        summary_html=summary_html,
        summary_text=summary_text,
        content_html="",
        content_text="",
        author=creator_of(found),
        published=updated,
        updated=updated,
    )
