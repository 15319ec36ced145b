"""HTML of the fast parser (`ingest.parse_fast`): display HTML kept only where feedparser's
sanitizer would keep it as written, and the text for matching.

A description whose every tag and attribute is on feedparser's allow-list (no style, no
script, only http(s) or relative links) is kept, with relative links made absolute; any
other description goes through feedparser's own sanitizer.

Both the check and the text read a description's tags from one `_TAG.split` (at C speed:
the text between tags, and each tag's closing slash, name and attributes), so the Python
work per description is a few set and list operations rather than a call per tag. The
text pass reuses the check's split, patched where links were rewritten.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from html import unescape
from itertools import compress

from feedparser.sanitizer import _HTMLSanitizer, _sanitize_html
from feedparser.urls import RelativeURIResolver, resolve_relative_uris

from ingest.htmltext import capped, html_to_text, storable
from ingest.parse_fast_fields import joined

__all__ = ["fast_html_to_text", "html_fields"]

# A simple tag: it runs from its "<" to the first ">" after it.
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)((?:\s+[^<>]*?)?)\s*/?>")
_ATTR = re.compile(r"""([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_SAFE_ELEMENTS = frozenset(_HTMLSanitizer.acceptable_elements) - {"style", "script", "applet"}
_SAFE_ATTRIBUTES = frozenset(_HTMLSanitizer.acceptable_attributes) - {"style"}
_URL_ATTRIBUTES = frozenset(attr for _tag, attr in RelativeURIResolver.relative_uris)
_SAFE_URL = re.compile(r"^(?:https?://|/|\.|#|[A-Za-z0-9_%~-][^:]*$)", re.IGNORECASE)

# `_TAG.split(html)` is the text before the first tag, then for each tag its three groups
# and the text after it.
_STRIDE = 4
_CLOSING, _NAME, _ATTRIBUTES = 1, 2, 3


def html_fields(value: str, base: str) -> tuple[str, str]:
    """Sanitized display HTML and clean text, as the feedparser path makes them."""
    if not value:
        return "", ""
    kept = _keep_as_written(value, _TAG.split(value), base)
    if kept is None:
        # As feedparser does: links made absolute, then the markup sanitized.
        absolute = resolve_relative_uris(value, base, "utf-8", "text/html")
        safe = _sanitize_html(absolute, "utf-8", "text/html")
        text = fast_html_to_text(safe)
    else:
        safe, tags = kept
        text = _text(safe, tags)
    return storable(safe), capped(text)


def _keep_as_written(value: str, tags: list[str], base: str) -> tuple[str, list[str] | None] | None:
    """`value` with its relative links made absolute, and `_TAG.split` of that (None
    where it has to be made again), if every tag and attribute is on feedparser's
    allow-list; None when feedparser's sanitizer has to rewrite it.

    `tags` is `_TAG.split(value)`. The first check makes every "<" the start of a tag
    (a tag holds no other "<"): so there is no "<!" or "<?" either, and the k-th tag
    is the one after the k-th "<".
    """
    names = tags[_NAME::_STRIDE]
    if value.count("<") != len(names):
        return None  # a "<" that is not a simple tag: leave it to the sanitizer
    if not {name.lower() for name in set(names)} <= _SAFE_ELEMENTS:
        return None
    attributes = tags[_ATTRIBUTES::_STRIDE]
    closings = tags[_CLOSING::_STRIDE]
    chunks: list[str] | None = None  # value.split("<"), once a link needs rewriting
    patched = tags
    resplit = False
    for index in compress(range(len(names)), attributes):
        if closings[index]:
            continue  # attributes on a closing tag are left as written
        attrs = attributes[index]
        rewritten = _safe_attributes(attrs, base)
        if rewritten is None:
            return None
        if rewritten != attrs:
            if chunks is None:
                chunks, patched = value.split("<"), tags.copy()
            # After its "<", an opening tag is its name, then these attributes.
            chunk, start = chunks[index + 1], len(names[index])
            chunks[index + 1] = chunk[:start] + rewritten + chunk[start + len(attrs) :]
            patched[index * _STRIDE + _ATTRIBUTES] = rewritten
            # Any other rewritten attributes end as the old ones did, with a quote, so
            # the split still holds for the new text; "<" or ">" (from a base URL) would
            # move the tags.
            resplit = resplit or "<" in rewritten or ">" in rewritten
    if chunks is None:
        return value, tags
    return "<".join(chunks), None if resplit else patched


# A pure function of its arguments, and a feed repeats the same few attribute strings
# (href="/world/...") across its items: remembered, not worked out again.
@functools.lru_cache(maxsize=4096)
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
            absolute = joined(base, raw.strip())
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
_PARAGRAPH, _LINE = "\x00P", "\x00L"
_MARKS = {tag: _PARAGRAPH for tag in _BLOCKS} | {tag: " " for tag in _CELLS} | {"br": _LINE}


def fast_html_to_text(html: str) -> str:
    """`htmltext.html_to_text`, the same result, several times faster on simple markup.

    Markup made only of plain tags (no comments, CDATA, skipped elements such as script,
    no "<" that is not a tag) is turned into text with a few whole-string passes;
    anything else goes to the reference implementation.
    """
    return _text(html, None)


def _text(html: str, tags: list[str] | None) -> str:
    """fast_html_to_text(html), given `_TAG.split(html)` as `tags` if already made.

    A comment, CDATA or processing instruction ("<!", "<?") needs no test of its own:
    its "<" is no simple tag, so it is still there in the marked text.
    """
    if "<" not in html or "\x00" in html:
        return html_to_text(html)
    if tags is None:
        tags = _TAG.split(html)
    names = tags[_NAME::_STRIDE]
    lowered = {name: name.lower() for name in set(names)}
    if not _SKIPPED.isdisjoint(lowered.values()):
        return html_to_text(html)
    for attrs in filter(None, tags[_ATTRIBUTES::_STRIDE]):
        if attrs.count('"') % 2:
            return html_to_text(html)  # a ">" inside a quoted value: the regex cut it short
    marked = _marked(tags, names, lowered)
    if "<" in marked or marked.rstrip().endswith("&"):
        return html_to_text(html)
    if "&" in marked:
        # The HTML parser unescapes each text between two tags on its own: "&amp</b>;"
        # is "&;", where unescaping the joined text would make one "&amp;" of it.
        return _layout(_marked(tags, names, lowered, unescape))
    return _layout(marked)


def _marked(
    tags: list[str],
    names: list[str],
    lowered: dict[str, str],
    text: Callable[[str], str] | None = None,
) -> str:
    """The text with each tag replaced by its marker: a paragraph for a block, a line for
    <br> (but not </br>), a space for a cell, nothing for the rest; with `text` applied to
    each text between tags."""
    mark_of = {name: _MARKS.get(low, "") for name, low in lowered.items()}
    marks = list(map(mark_of.__getitem__, names))
    if _LINE in mark_of.values():
        for index, closing in enumerate(tags[_CLOSING::_STRIDE]):
            if closing and marks[index] == _LINE:
                marks[index] = ""
    pieces = [""] * (2 * len(names) + 1)
    pieces[0::2] = tags[0::_STRIDE] if text is None else map(text, tags[0::_STRIDE])
    pieces[1::2] = marks
    return "".join(pieces)


_BREAKS = ("", "\n", "\n\n")


def _layout(marked: str) -> str:
    """The marked text laid out as htmltext.html_to_text does: each whitespace run one
    space, a paragraph marker a blank line and a line marker a newline, no space beside
    either, never more than one blank line, none at either end.

    Done per stretch of words between markers rather than with html_to_text's regexes
    over the whole text (" ?\\n ?" and "\\n{3,}" cannot start from a literal, so they
    try every position).
    """
    if _LINE not in marked:
        # Any run of paragraph markers between words is one blank line. `_words` written
        # out: a call per stretch was an eighth of this function's time.
        return "\n\n".join(
            filter(
                None,
                [
                    words
                    if words.isprintable()
                    and "  " not in words
                    and words[:1] != " "
                    and words[-1:] != " "
                    else " ".join(words.split())
                    for words in marked.split(_PARAGRAPH)
                ],
            )
        )
    out: list[str] = []
    breaks = -2  # newlines owed before the next words: 2 per paragraph marker, 1 per line
    for block in marked.split(_PARAGRAPH):
        breaks += 1  # with the line's 1 below: 2 for each paragraph marker passed
        for line in block.split(_LINE):
            breaks += 1
            words = _words(line)
            if words:
                if out:
                    out.append(_BREAKS[min(breaks, 2)])
                out.append(words)
                breaks = 0
    return "".join(out)


def _words(text: str) -> str:
    """`" ".join(text.split())`, without the split where the text is already that: only
    printable characters (every whitespace character but " " is a control or a
    separator, which are not), no double space, none at either end.

    str.split and re's \\s agree on what is whitespace, as html_to_text needs."""
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())
