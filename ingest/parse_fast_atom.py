"""Atom 1.0 read by the fast parser (`ingest.parse_fast`).

As for RSS (`ingest.parse_fast_rss`), each entry's children are indexed by tag in one
pass; the tags that may repeat (link, author, content) are looked up again only where
they do.
"""

from __future__ import annotations

from typing import Any

from ingest.htmltext import capped, one_line, plain_text, storable, text_to_html
from ingest.parse_fast_fields import (
    REPEATED,
    XML_LANG,
    NotFast,
    children,
    guid_of,
    iso_date,
    language_of,
    link_url,
    one,
    text_of,
    title_of,
)
from ingest.parse_fast_html import html_fields
from ingest.records import ParsedEntry, ParsedFeed

__all__ = ["ATOM", "atom10"]

ATOM = "{http://www.w3.org/2005/Atom}"
_ENTRY = f"{ATOM}entry"
_TITLE = f"{ATOM}title"
_LINK = f"{ATOM}link"
_ID = f"{ATOM}id"
_PUBLISHED = f"{ATOM}published"
_UPDATED = f"{ATOM}updated"
_SUMMARY = f"{ATOM}summary"
_CONTENT = f"{ATOM}content"
_AUTHOR = f"{ATOM}author"
_NAME = f"{ATOM}name"
_EMAIL = f"{ATOM}email"
_AUTHOR_PARTS = frozenset({_NAME, _EMAIL, f"{ATOM}uri"})

# Children we read or know to be harmless; anything else sends the feed to feedparser.
_ATOM_ENTRY = frozenset(
    {
        f"{ATOM}{n}"
        for n in (
            "title",
            "link",
            "id",
            "published",
            "updated",
            "summary",
            "content",
            "author",
            "category",
        )
    }
)
_ATOM_FEED = frozenset(
    {
        f"{ATOM}{n}"
        for n in (
            "title",
            "link",
            "id",
            "updated",
            "author",
            "entry",
            "subtitle",
            "generator",
            "rights",
            "icon",
            "logo",
            "category",
        )
    }
)


def atom10(root: Any, url: str) -> ParsedFeed:
    feed = children(root, _ATOM_FEED)
    feed_author = _author(root, feed)
    entries = tuple(_entry(entry, url, feed_author) for entry in root.iterfind(_ENTRY))
    return ParsedFeed(
        title=_title(one(feed, _TITLE)) or None,
        link=_link(root, feed, url),
        format="atom10",
        entries=entries,
        ttl_hint=None,
        language=language_of(root.get(XML_LANG) or ""),
    )


def _entry(entry: Any, url: str, feed_author: str | None) -> ParsedEntry:
    found = children(entry, _ATOM_ENTRY)
    if entry.get(XML_LANG) is not None:
        raise NotFast
    summary_html, summary_text = _content(one(found, _SUMMARY), url)
    contents = _all(entry, found, _CONTENT)
    if len(contents) > 1 or any(c.get("src") is not None for c in contents):
        raise NotFast
    content_html, content_text = _content(contents[0] if contents else None, url)
    updated = iso_date(text_of(one(found, _UPDATED)))
    published = iso_date(text_of(one(found, _PUBLISHED)))
    return ParsedEntry(
        guid=guid_of(text_of(one(found, _ID))),
        link=_link(entry, found, url),
        title=_title(one(found, _TITLE)),
        summary_html=summary_html,
        summary_text=summary_text,
        content_html=content_html,
        content_text=content_text,
        author=_author(entry, found) or feed_author,
        published=published or updated,
        updated=updated,
    )


def _all(element: Any, found: dict[str, Any], tag: str) -> list[Any]:
    """Every child `tag` of `element`, in document order (`found` is its index)."""
    child = found.get(tag)
    if child is None:
        return []
    return element.findall(tag) if child is REPEATED else [child]


def _title(element: Any) -> str:
    if element is not None and element.get("type", "text") != "text":
        raise NotFast
    return title_of(element)


def _author(element: Any, found: dict[str, Any]) -> str | None:
    names: list[str] = []
    for author in _all(element, found, _AUTHOR):
        parts = children(author, _AUTHOR_PARTS)
        if one(parts, _EMAIL) is not None:
            raise NotFast
        name = one_line(text_of(one(parts, _NAME)))
        if "@" in name or "(" in name or "<" in name:
            raise NotFast
        if name:
            names.append(name)
    return ", ".join(dict.fromkeys(names)) or None


def _link(element: Any, found: dict[str, Any], base: str) -> str | None:
    """The one rel="alternate" link; any link without an href, a second alternate, or
    links of other rels only, send the feed to feedparser."""
    alternate = None
    links = _all(element, found, _LINK)
    for link in links:
        href = link.get("href")
        if href is None:
            raise NotFast
        if link.get("rel", "alternate") == "alternate":
            if alternate is not None:
                raise NotFast
            alternate = href
    if alternate is None:
        if links:
            raise NotFast  # feedparser may take another rel for the link
        return None
    return link_url(alternate, base)


def _content(element: Any, base: str) -> tuple[str, str]:
    if element is None:
        return "", ""
    kind = element.get("type", "text")
    if kind == "html":
        return html_fields(text_of(element), base)
    if kind == "text":
        text = plain_text(text_of(element).strip())
        return (storable(text_to_html(text)), capped(text)) if text else ("", "")
    raise NotFast
