"""Main-text extraction of article pages with trafilatura (the only module that imports it).

Navigation, comments, "related stories" boxes and footers are left out, so a tracked
name in a sidebar does not flag an article that is about something else. The page's
canonical URL and language are kept when the page states them.

`extract_outcome` runs in a worker thread or process: results and errors come back as
values, so one bad page never stops the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

MAX_TEXT_CHARS = 200_000  # a "page" longer than this is not an article
_HEAD_BYTES = 64 * 1024

_HTML_LANG = re.compile(
    rb"<html\b[^>]*?\blang\s*=\s*[\"']?\s*([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)", re.I
)
_META_LANG = re.compile(
    rb"<meta\b[^>]*?http-equiv\s*=\s*[\"']?content-language[\"']?[^>]*?content\s*=\s*[\"']?\s*"
    rb"([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)",
    re.I,
)
_OG_LOCALE = re.compile(
    rb"<meta\b[^>]*?property\s*=\s*[\"']og:locale[\"'][^>]*?content\s*=\s*[\"']?\s*"
    rb"([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)",
    re.I,
)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.I)


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    text: str  # main text, paragraphs separated by newlines
    title: str | None
    canonical_url: str | None  # absolute http(s), when the page states one
    language: str | None  # BCP 47 ("ar", "en-GB"), when the page states one


@dataclass(frozen=True, slots=True)
class ExtractionFailed:
    message: str


def extract_outcome(
    html: bytes, url: str, content_type: str | None = None
) -> ExtractedPage | ExtractionFailed:
    """The main text of one article page, or why there is none (never raises)."""
    try:
        return extract_page(html, url, content_type)
    except Exception as exc:  # lxml and trafilatura raise many kinds on hostile markup
        return ExtractionFailed(f"{type(exc).__name__}: {exc}"[:500])


def extract_page(
    html: bytes, url: str, content_type: str | None = None
) -> ExtractedPage | ExtractionFailed:
    import trafilatura  # here, not at import: ~0.15 s that polling never needs

    document = trafilatura.bare_extraction(
        _decoded(html, content_type),
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        include_images=False,
        favor_precision=True,
        # deduplicate=True would keep a process-wide cache of seen paragraphs: the same
        # wire story on a second site would come out empty.
    )
    if document is None:
        return ExtractionFailed("no main text found")
    text = (getattr(document, "text", None) or "").strip()
    if not text:
        return ExtractionFailed("no main text found")
    return ExtractedPage(
        text=text[:MAX_TEXT_CHARS],
        title=getattr(document, "title", None) or None,
        canonical_url=_canonical(getattr(document, "url", None), url),
        language=_language(getattr(document, "language", None), html[:_HEAD_BYTES]),
    )


def _decoded(html: bytes, content_type: str | None) -> str | bytes:
    """Text when the server names a charset we know; else bytes, for trafilatura to sniff."""
    match = _CHARSET.search(content_type or "")
    if match:
        try:
            return html.decode(match.group(1), errors="replace")
        except LookupError:
            pass
    return html


def _canonical(found: str | None, page_url: str) -> str | None:
    if not found:
        return None
    absolute = urljoin(page_url, found.strip())
    parts = urlsplit(absolute)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return absolute[:4096]


def _language(found: str | None, head: bytes) -> str | None:
    if found:
        return _tag(found)
    for pattern in (_HTML_LANG, _META_LANG, _OG_LOCALE):
        match = pattern.search(head)
        if match:
            return _tag(match.group(1).decode("ascii"))
    return None


def _tag(value: str) -> str | None:
    parts = value.strip().replace("_", "-").split("-")
    if not parts or not parts[0].isalpha() or not 2 <= len(parts[0]) <= 3:
        return None
    primary, rest = parts[0].lower(), [p.upper() if len(p) == 2 else p for p in parts[1:]]
    return "-".join([primary, *rest])[:35]
