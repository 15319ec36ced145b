"""The feeds file (OPML): what to poll, as a user edits, diffs and keeps it in git.

Per-feed options are OPML attributes on the outline: `interval="15m"`,
`allowPrivate="true"` (a feed on a private or loopback address), `fullText="auto"`
(`always`, `never`: when to fetch article pages, see `ingest.fulltext`). Nested outlines
are categories. Editing keeps comments and the rest of the file.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from ingest.errors import ConfigError
from ingest.feedstore import DeclaredFeed
from ingest.settings import format_duration, parse_duration

FULL_TEXT_MODES = ("auto", "always", "never")
_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0", "")

log = logging.getLogger("ingest.feeds")
_UNSAFE = re.compile(rb"<!(ENTITY|DOCTYPE)", re.IGNORECASE)


def read_feeds_file(path: Path) -> list[DeclaredFeed]:
    """Every feed outline (with xmlUrl) in the file. Raises ConfigError with the line."""
    root = _parse(path)
    body = root.find("body")
    if body is None:
        raise ConfigError("an OPML file needs a <body>", file=str(path), field="body")
    feeds: dict[str, DeclaredFeed] = {}
    for outline, category in _walk(body, None):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if not url:
            continue
        if not re.match(r"^https?://", url, re.IGNORECASE):
            raise ConfigError(
                f"xmlUrl must be an http(s) URL, got {url!r}",
                file=str(path),
                line=_line_of(path, url),
                field="outline.xmlUrl",
            )
        interval = None
        if outline.get("interval"):
            try:
                interval = parse_duration(outline.get("interval"))
            except ValueError as exc:
                line = _line_of(path, f'interval="{outline.get("interval")}"')
                raise ConfigError(
                    str(exc), file=str(path), line=line, field="outline.interval"
                ) from None
        full_text = (outline.get("fullText") or "").strip().lower() or None
        if full_text is not None and full_text not in FULL_TEXT_MODES:
            line = _line_of(path, f'fullText="{outline.get("fullText")}"')
            raise ConfigError(
                f"fullText must be auto, always or never, got {full_text!r}",
                file=str(path),
                line=line,
                field="outline.fullText",
            )
        allow_private = _boolean(path, outline, "allowPrivate")
        if url in feeds:
            _warn_duplicate(path, url)
            continue
        feeds[url] = DeclaredFeed(
            url=url,
            title=outline.get("title") or outline.get("text") or None,
            site_url=outline.get("htmlUrl") or None,
            category=category,
            interval=interval,
            allow_private=allow_private,
            full_text=full_text,
        )
    return list(feeds.values())


def _boolean(path: Path, outline: ET.Element, name: str) -> bool:
    raw = outline.get(name)
    value = (raw or "").strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    # A typo must not quietly mean "false": for allowPrivate that is a feed that fails.
    raise ConfigError(
        f"{name} must be true or false, got {raw!r}",
        file=str(path),
        line=_line_of(path, f'{name}="{raw}"'),
        field=f"outline.{name}",
    )


def _warn_duplicate(path: Path, url: str) -> None:
    """The first outline of a URL is the feed; a later one (another category or interval,
    often after an import) is ignored, and the user is told where."""
    lines = _lines_of(path, f'"{url}"') or _lines_of(path, f"'{url}'")
    log.warning(
        "feeds file %s lists %s more than once (lines %s): the first is used",
        path,
        url,
        ", ".join(map(str, lines)) or "?",
    )


def _line_of(path: Path, needle: str | None) -> int | None:
    """The first line of the file that holds this attribute value (for error messages)."""
    lines = _lines_of(path, needle)
    return lines[0] if lines else None


def _lines_of(path: Path, needle: str | None) -> list[int]:
    if not needle:
        return []
    escaped = needle.replace("&", "&amp;")
    text = path.read_text(encoding="utf-8", errors="replace")
    return [
        number
        for number, line in enumerate(text.splitlines(), 1)
        if needle in line or escaped in line
    ]


def _parse(path: Path) -> ET.Element:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the feeds file: {exc.strerror}", file=str(path)) from None
    if _UNSAFE.search(data):
        raise ConfigError("DOCTYPE and ENTITY declarations are not allowed in OPML", file=str(path))
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    try:
        parser.feed(data)
        root = parser.close()
    except ET.ParseError as exc:
        line, _col = exc.position
        raise ConfigError(f"invalid XML: {exc}", file=str(path), line=line) from None
    if root.tag != "opml":
        raise ConfigError(f"not an OPML file (root element <{root.tag}>)", file=str(path), line=1)
    return root


def _walk(node: ET.Element, category: str | None) -> list[tuple[ET.Element, str | None]]:
    found: list[tuple[ET.Element, str | None]] = []
    for child in node.findall("outline"):
        if child.get("xmlUrl") or child.get("xmlurl"):
            found.append((child, category))
        else:
            name = child.get("title") or child.get("text") or category
            found.extend(_walk(child, name))
    return found


def add_feed(
    path: Path,
    url: str,
    *,
    title: str | None = None,
    interval: float | None = None,
    category: str | None = None,
) -> bool:
    """Append a feed outline (under its category when given). False if already listed."""
    root = _parse(path) if path.exists() else _empty_opml()
    body = root.find("body")
    assert body is not None
    if any(o.get("xmlUrl") == url for o, _ in _walk(body, None)):
        return False
    parent = body
    if category:
        group = next(
            (
                o
                for o in body.findall("outline")
                if not o.get("xmlUrl") and category in (o.get("text"), o.get("title"))
            ),
            None,
        )
        parent = (
            group
            if group is not None
            else ET.SubElement(body, "outline", {"text": category, "title": category})
        )
    attrs = {"type": "rss", "text": title or url, "xmlUrl": url}
    if title:
        attrs["title"] = title
    if interval is not None:
        attrs["interval"] = format_duration(interval)
    ET.SubElement(parent, "outline", attrs)
    _write(path, root)
    return True


def remove_feed(path: Path, url: str) -> bool:
    root = _parse(path)
    for parent in root.iter():
        for child in list(parent):
            if child.tag == "outline" and child.get("xmlUrl") == url:
                parent.remove(child)
                _write(path, root)
                return True
    return False


def write_opml(feeds: Sequence[DeclaredFeed], title: str = "ingest feeds") -> str:
    """An OPML 2.0 document of these feeds, grouped by category (for `feeds export`)."""
    root = _empty_opml(title)
    body = root.find("body")
    assert body is not None
    groups: dict[str | None, ET.Element] = {}
    for feed in feeds:
        parent = body
        if feed.category:
            if feed.category not in groups:
                groups[feed.category] = ET.SubElement(
                    body, "outline", {"text": feed.category, "title": feed.category}
                )
            parent = groups[feed.category]
        attrs = {"type": "rss", "text": feed.title or feed.url, "xmlUrl": feed.url}
        if feed.title:
            attrs["title"] = feed.title
        if feed.site_url:
            attrs["htmlUrl"] = feed.site_url
        if feed.interval is not None:
            attrs["interval"] = format_duration(feed.interval)
        if feed.allow_private:
            attrs["allowPrivate"] = "true"
        if feed.full_text:
            attrs["fullText"] = feed.full_text
        ET.SubElement(parent, "outline", attrs)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def import_opml(target: Path, source: Path) -> list[str]:
    """Add every feed of another OPML file (any reader's export) to the feeds file."""
    added = []
    for feed in read_feeds_file(source):
        if add_feed(
            target, feed.url, title=feed.title, interval=feed.interval, category=feed.category
        ):
            added.append(feed.url)
    return added


def _empty_opml(title: str = "ingest feeds") -> ET.Element:
    root = ET.Element("opml", {"version": "2.0"})
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = format_datetime(datetime.now(UTC))
    ET.SubElement(root, "body")
    return root


def _prolog(path: Path) -> str:
    """What stands before <opml> (declaration, comments): the parser drops it, we keep it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    start = text.find("<opml")
    return text[:start] if start > 0 else ""


def _write(path: Path, root: ET.Element) -> None:
    ET.indent(root, space="  ")
    prolog = _prolog(path) or '<?xml version="1.0" encoding="UTF-8"?>\n'
    text = prolog + ET.tostring(root, encoding="unicode") + "\n"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
