"""HTML of the fast parser (`ingest.parse_fast`): display HTML kept only where feedparser's
sanitizer would keep it as written, and the text for matching.

A description whose every tag and attribute is on feedparser's allow-list (no style, no
script, only http(s) or relative links) is kept, with relative links made absolute; any
other description goes through feedparser's own sanitizer.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urljoin

from feedparser.sanitizer import _HTMLSanitizer, _sanitize_html
from feedparser.urls import RelativeURIResolver

from ingest.htmltext import capped, html_to_text, storable

__all__ = ["fast_html_to_text", "html_fields"]


class _NotSimple(Exception):
    """Markup the quick text pass does not handle: the general html_to_text does."""


_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)((?:\s+[^<>]*?)?)\s*(/?)>")
_TAG_NAME = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)")
_TAG_WITH_ATTRIBUTES = re.compile(r"<[A-Za-z][A-Za-z0-9]*(\s+[^<>]*?)\s*/?>")
_ATTR = re.compile(r"""([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_SAFE_ELEMENTS = frozenset(_HTMLSanitizer.acceptable_elements) - {"style", "script", "applet"}
_SAFE_ATTRIBUTES = frozenset(_HTMLSanitizer.acceptable_attributes) - {"style"}
_URL_ATTRIBUTES = frozenset(attr for _tag, attr in RelativeURIResolver.relative_uris)
_SAFE_URL = re.compile(r"^(?:https?://|/|\.|#|[A-Za-z0-9_%~-][^:]*$)", re.IGNORECASE)


def html_fields(value: str, base: str) -> tuple[str, str]:
    """Sanitized display HTML and clean text, as the feedparser path makes them."""
    if not value:
        return "", ""
    safe = _keep_as_written(value, base)
    if safe is None:
        safe = _sanitize_html(value, "utf-8", "text/html")
    return storable(safe), capped(fast_html_to_text(safe))


def _keep_as_written(value: str, base: str) -> str | None:
    """`value` with its relative links made absolute, if every tag and attribute is on
    feedparser's allow-list; None when feedparser's sanitizer has to rewrite it."""
    if "<!" in value or "<?" in value:
        return None
    names = {name.lower() for name in _TAG_NAME.findall(value)}
    if not names <= _SAFE_ELEMENTS:
        return None
    if value.count("<") != len(_TAG.findall(value)):
        return None  # a "<" that is not a simple tag: leave it to the sanitizer
    pieces: list[str] = []
    last = 0
    for match in _TAG_WITH_ATTRIBUTES.finditer(value):
        attrs = match.group(1)
        rewritten = _safe_attributes(attrs, base)
        if rewritten is None:
            return None
        if rewritten != attrs:
            pieces.append(value[last : match.start(1)])
            pieces.append(rewritten)
            last = match.end(1)
    if not pieces:
        return value
    pieces.append(value[last:])
    return "".join(pieces)


def _safe_attributes(attrs: str, base: str) -> str | None:
    if _ATTR.sub("", attrs).strip():
        return None  # unquoted or odd attributes
    out = []
    last = 0
    for match in _ATTR.finditer(attrs):
        name = match.group(1).lower()
        if name not in _SAFE_ATTRIBUTES:
            return None
        if name in _URL_ATTRIBUTES:
            raw = match.group(2) if match.group(2) is not None else match.group(3)
            if "&" in raw or not _SAFE_URL.match(raw.strip()):
                return None
            absolute = urljoin(base, raw.strip())
            if absolute != raw:
                out.append(attrs[last : match.start()])
                out.append(f'{match.group(1)}="{absolute}"')
                last = match.end()
    out.append(attrs[last:])
    return "".join(out)


_BLOCKS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "body", "caption", "center", "dd"),
        *("details", "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure"),
        *("footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr"),
        *("html", "legend", "li", "main", "menu", "nav", "ol", "p", "pre", "section"),
        *("summary", "table", "tbody", "tfoot", "thead", "tr", "ul"),
    }
)
_SKIPPED = frozenset({"script", "style", "template", "noscript", "svg", "math", "head", "title"})
_CELLS = frozenset({"td", "th"})
_SPACE_AROUND_NEWLINE = re.compile(r" ?\n ?")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def fast_html_to_text(html: str) -> str:
    """`htmltext.html_to_text`, the same result, several times faster on simple markup.

    Markup made only of plain tags (no comments, CDATA, skipped elements such as script,
    no "<" that is not a tag) is turned into text with a few whole-string passes;
    anything else goes to the reference implementation.
    """
    if "<" not in html or "<!" in html or "<?" in html or "\x00" in html:
        return html_to_text(html)
    try:
        marked = _TAG.sub(_mark, html)
    except _NotSimple:
        return html_to_text(html)
    if "<" in marked or marked.rstrip().endswith("&"):
        return html_to_text(html)
    # Every whitespace run is one space (str.split and re's \s agree on what is space);
    # the markers are not space, so blocks and <br> become newlines only afterwards.
    text = " ".join(unescape(marked).split())
    if "\x00" not in text:
        return text
    text = text.replace(_PARAGRAPH, "\n\n").replace(_LINE, "\n")
    text = _SPACE_AROUND_NEWLINE.sub("\n", text)
    return _MANY_NEWLINES.sub("\n\n", text).strip()


_PARAGRAPH, _LINE = "\x00P", "\x00L"
_MARKS = {tag: _PARAGRAPH for tag in _BLOCKS} | {tag: " " for tag in _CELLS}


def _mark(match: re.Match[str]) -> str:
    tag = match.group(2).lower()
    if tag in _SKIPPED:
        raise _NotSimple
    attrs = match.group(3)
    if attrs and attrs.count('"') % 2:
        raise _NotSimple  # a ">" inside a quoted value: the regex cut the tag short
    if tag == "br" and not match.group(1):
        return _LINE
    return _MARKS.get(tag, "")
