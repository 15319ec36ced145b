"""HTML and text clean-up shared by the feed parsers: text for matching, one-line titles,
safe absolute links, and the feed links an HTML page advertises.

Pure functions over strings (stdlib `html.parser` only), so they run the same in the
parser processes and in tests.
"""

from __future__ import annotations

import re
from html import escape
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

TITLE_MAX = 1_000
TEXT_MAX = 200_000

# Elements that start a new paragraph when turned into text.
_BLOCKS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "body", "caption", "center", "dd"),
        *("details", "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure"),
        *("footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr"),
        *("html", "legend", "li", "main", "menu", "nav", "ol", "p", "pre", "section"),
        *("summary", "table", "tbody", "tfoot", "thead", "tr", "ul"),
    }
)
# Their content is never text a reader sees.
_SKIPPED = frozenset({"script", "style", "template", "noscript", "svg", "math", "head", "title"})
_CELLS = frozenset({"td", "th"})

_LINE, _PARAGRAPH = "\x00L", "\x00P"
_HSPACE = re.compile(r"[^\S\n]+")
_SPACE_AROUND_NEWLINE = re.compile(r" ?\n ?")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_ANY_SPACE = re.compile(r"\s+")
# NUL cannot be stored in PostgreSQL text; lone surrogates cannot be encoded as UTF-8.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


class _TolerantParser(HTMLParser):
    def parse_marked_section(self, i: int, report: bool = True) -> int:
        # The stdlib raises AssertionError on "<![foo" (any keyword but CDATA, if, endif...).
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            end = self.rawdata.find(">", i)
            return -1 if end < 0 else end + 1


class _TextExtractor(_TolerantParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self._skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <hr/>, <p/>: a break, but nothing to skip until a closing tag.
        if tag not in _SKIPPED:
            self._open(tag)

    def _open(self, tag: str) -> None:
        if self._skipping:
            if tag == self._skipping[-1]:
                self._skipping.append(tag)
            return
        if tag in _SKIPPED:
            self._skipping.append(tag)
        elif tag == "br":
            self.pieces.append(_LINE)
        elif tag in _BLOCKS:
            self.pieces.append(_PARAGRAPH)
        elif tag in _CELLS:
            self.pieces.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if self._skipping:
            if tag == self._skipping[-1]:
                self._skipping.pop()
            return
        if tag in _BLOCKS:
            self.pieces.append(_PARAGRAPH)
        elif tag in _CELLS:
            self.pieces.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            # Newlines in HTML source are spaces; only <br> and blocks break lines.
            self.pieces.append(_ANY_SPACE.sub(" ", data))


def html_to_text(html: str) -> str:
    """Clean text for matching: blocks become paragraphs ("\\n\\n"), <br> a newline,
    entities decoded, scripts and styles dropped, whitespace collapsed within lines."""
    if "<" not in html and "&" not in html:
        return _tidy(_ANY_SPACE.sub(" ", html))
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.pieces).replace(_PARAGRAPH, "\n\n").replace(_LINE, "\n")
    return _tidy(text)


def plain_text(text: str) -> str:
    """Plain text with the same shape as `html_to_text`: blank lines separate paragraphs,
    single newlines are kept, runs of other whitespace become one space."""
    return _tidy(text.replace("\r\n", "\n").replace("\r", "\n"))


def text_to_html(text: str) -> str:
    """Plain text as display HTML: escaped, blank lines become paragraphs, newlines <br>."""
    paragraphs = (escape(p).replace("\n", "<br>") for p in plain_text(text).split("\n\n") if p)
    return "".join(f"<p>{p}</p>" for p in paragraphs)


def one_line(text: str, limit: int = TITLE_MAX) -> str:
    """A title or name: all whitespace collapsed to single spaces, capped at `limit`."""
    # str.split() and re's \s agree on what is whitespace, so this is
    # _ANY_SPACE.sub(" ", ...).strip(), at a third of the cost.
    return storable(" ".join(text[: limit * 4].split())[:limit].rstrip())


def html_title(html: str, limit: int = TITLE_MAX) -> str:
    # A title marked as HTML: strip the markup, then flatten to one line.
    return one_line(html_to_text(html[: limit * 20]), limit)


def capped(text: str, limit: int = TEXT_MAX) -> str:
    return storable(text[:limit].rstrip() if len(text) > limit else text)


def storable(text: str) -> str:
    # Quick answers first: ASCII holds no surrogate, and only a lone surrogate fails to
    # encode as UTF-8 (both several times faster than the regex search on long text).
    if "\x00" not in text and (text.isascii() or _encodable(text)):
        return text
    return _UNSTORABLE.sub(_replacement, text) if _UNSTORABLE.search(text) else text


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _replacement(match: re.Match[str]) -> str:
    return "" if match.group() == "\x00" else "\ufffd"


def _tidy(text: str) -> str:
    text = _HSPACE.sub(" ", text)
    text = _SPACE_AROUND_NEWLINE.sub("\n", text)
    return _MANY_NEWLINES.sub("\n\n", text).strip()


def http_url(link: str | None, base: str) -> str | None:
    """`link` made absolute against `base`; None unless it is an http(s) URL with a host."""
    if not link:
        return None
    link = link.strip()
    try:
        absolute = urljoin(base, link) if base else link
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return storable(absolute)


# The types a page uses to advertise its feed (RSS, Atom, RDF, JSON Feed).
FEED_LINK_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/feed+json",
        "application/json",
    }
)


class _FeedLinkFinder(_TolerantParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "base" and self.base is None and values.get("href"):
            self.base = values["href"]
        elif tag in ("link", "a"):
            rel = values.get("rel", "").lower().split()
            kind = values.get("type", "").split(";")[0].strip().lower()
            if "alternate" in rel and kind in FEED_LINK_TYPES and values.get("href"):
                self.links.append(values["href"])

    handle_startendtag = handle_starttag


def feed_links(html: str, page_url: str) -> list[str]:
    """The absolute http(s) feed URLs an HTML page links with rel="alternate", in page order."""
    finder = _FeedLinkFinder()
    finder.feed(html)
    finder.close()
    base = urljoin(page_url, finder.base) if finder.base else page_url
    found = (http_url(href, base) for href in finder.links)
    return list(dict.fromkeys(link for link in found if link))
