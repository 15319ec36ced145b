"""Field readers shared by the fast parser's three formats (`ingest.parse_fast`).

Each reader gives what the feedparser path would store for the field, or raises
`NotFast` where only feedparser can be trusted to read it right. They run once or twice
per entry of every feed, so the common case (ASCII text, an absolute http(s) link, an
RFC 822 or ISO 8601 date) takes a short way, and anything less plain the general one.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

from feedparser.mixin import _cp1252

from ingest.htmltext import http_url, one_line, storable

__all__ = [
    "MAX_HINT",
    "PERIODS",
    "REPEATED",
    "NotFast",
    "children",
    "creator_of",
    "guid_of",
    "iso_date",
    "joined",
    "language_of",
    "link_url",
    "one",
    "only",
    "period_hint",
    "positive_int",
    "rfc822_date",
    "text_of",
    "title_of",
    "ttl_hint",
]

DC = "{http://purl.org/dc/elements/1.1/}"
SY = "{http://purl.org/rss/1.0/modules/syndication/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# sy:updatePeriod in seconds, and the longest publisher hint taken (both parsers use them).
PERIODS = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 604800,
    "monthly": 2592000,
    "yearly": 31536000,
}
MAX_HINT = 31536000


class NotFast(Exception):
    """This feed goes to feedparser."""


# --- children ----------------------------------------------------------------------

# Stands for a tag that occurs more than once among an element's children.
REPEATED: Any = object()


def children(element: Any, allowed: frozenset[str]) -> dict[str, Any]:
    """`element`'s children by tag, read in one pass (a tag seen twice maps to REPEATED);
    any child not in `allowed` sends the feed to feedparser.

    No child is asked for xml:base: `parse_fast` declines any body with "xml:base" in
    it, and lxml refuses the XML namespace under any prefix but "xml".
    """
    found: dict[str, Any] = {}
    for child in element:
        tag = child.tag
        if tag not in allowed:
            raise NotFast
        found[tag] = REPEATED if tag in found else child
    return found


def one(found: dict[str, Any], tag: str) -> Any:
    """The child `tag`, or None; a repeated one is refused only here, where it is read."""
    child = found.get(tag)
    if child is REPEATED:
        raise NotFast  # which one feedparser keeps is its own business
    return child


def only(element: Any, tag: str) -> Any:
    found = element.findall(tag)
    if len(found) != 1:
        raise NotFast
    return found[0]


# --- text --------------------------------------------------------------------------


def text_of(element: Any) -> str:
    if element is None:
        return ""
    if len(element):
        raise NotFast  # markup inside a text element
    return _feedparser_text(element.text or "")


# The C1 range, where feedparser's cp1252 table maps (it maps nothing else).
_C1 = re.compile("[\x80-\x9f]")


def _feedparser_text(value: str) -> str:
    """The two touches feedparser gives every text: a mis-decoded UTF-8 repair, cp1252."""
    if value.isascii():
        return value
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("iso-8859-1").decode("utf-8")
    # str.translate walks the whole string through a dict: only worth it with C1 in it.
    return value.translate(_cp1252) if _C1.search(value) else value


def guid_of(value: str | None) -> str | None:
    return storable((value or "").strip()[:2048]) or None


# A title looks like HTML with any "<" in it (so "</b>" too) or an entity.
_ENTITY = re.compile(r"&#?\w+;")


def title_of(element: Any) -> str:
    value = text_of(element).strip()
    if "<" in value or ("&" in value and _ENTITY.search(value)):
        raise NotFast  # a title that looks like HTML
    return one_line(value)


def creator_of(found: dict[str, Any]) -> str | None:
    name = one_line(text_of(one(found, f"{DC}creator")))
    if name and ("@" in name or "<" in name or "(" in name):
        raise NotFast  # feedparser splits names and addresses its own way
    return name or None


def language_of(value: str) -> str | None:
    return storable(value.strip()[:64]) or None


# --- links -------------------------------------------------------------------------

# An absolute http(s) URL that urljoin gives back unchanged whatever the base, and
# whose scheme and host http_url accepts: a lowercase scheme, a host of plain
# characters, printable ASCII after it. Where urljoin rewrites a URL (an empty "?",
# "#" or ";" that it drops), the URL is left to urljoin itself; tests/test_parse_fast.py
# checks the rule against urljoin.
_PLAIN_HTTP_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]*)?(?:[/?#][!-~]*)?")


def plain_http_url(url: str) -> bool:
    """True where urljoin(base, url) == url for any base, and http_url keeps url as is."""
    return (
        _PLAIN_HTTP_URL.fullmatch(url) is not None
        and ";" not in url
        and "\\" not in url
        and "?#" not in url
        and not url.endswith(("?", "#"))
    )


def joined(base: str, url: str) -> str:
    """urljoin(base, url), without urljoin's cost where the URL is already absolute."""
    return url if plain_http_url(url) else urljoin(base, url)


def link_url(link: str | None, base: str) -> str | None:
    """htmltext.http_url: `link` made absolute, None unless an http(s) URL with a host."""
    if link:
        stripped = link.strip()
        if plain_http_url(stripped):
            return stripped  # http_url's urljoin, urlsplit and storable all keep it
    return http_url(link, base)


# --- dates -------------------------------------------------------------------------

# The RFC 822 forms read here, which email.utils.parsedate_to_datetime reads as below.
_RFC822 = re.compile(
    r"(?:[A-Z][a-z]{2}, )?(\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2})(?::(\d{2}))? "
    r"([+-]\d{4}|GMT|UTC|UT|Z)"
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$")


def rfc822_date(value: str) -> datetime | None:
    """An RFC 822 date in UTC, as `parsedate_to_datetime(value).astimezone(UTC)` reads it
    (ValueError where that raises one), without its general tokenizer."""
    value = value.strip()
    if not value:
        return None
    match = _RFC822.fullmatch(value)
    if match is None:
        raise NotFast
    day, month_name, year_text, hour, minute, second, zone = match.groups()
    month = _MONTHS.get(month_name.lower())
    if month is None:
        raise ValueError(f"unknown month in {value!r}")
    year = int(year_text)
    if year < 100:  # parsedate reads "0068" as 2068 and "0069" as 1969, as it does "68"
        year += 1900 if year > 68 else 2000
    offset = 0 if zone in ("GMT", "UTC", "UT", "Z") else _zone_seconds(zone)
    if not -86400 < offset < 86400:
        raise ValueError(f"time zone out of range in {value!r}")
    written = datetime(year, month, int(day), int(hour), int(minute), int(second or 0), tzinfo=UTC)
    return written - timedelta(seconds=offset) if offset else written


def _zone_seconds(zone: str) -> int:
    # As parsedate reads "+hhmm": the minutes part may be 60 or more.
    number = int(zone)
    seconds = (abs(number) // 100) * 3600 + (abs(number) % 100) * 60
    return -seconds if number < 0 else seconds


def iso_date(value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    if not _ISO.match(value):
        raise NotFast
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(UTC).replace(microsecond=0)


# --- polling hints -----------------------------------------------------------------


def ttl_hint(ttl: str, channel: dict[str, Any]) -> int | None:
    minutes = positive_int(ttl)
    if minutes:
        return min(minutes * 60, MAX_HINT)
    return period_hint(
        text_of(one(channel, f"{SY}updatePeriod")), text_of(one(channel, f"{SY}updateFrequency"))
    )


def period_hint(period: str, frequency: object) -> int | None:
    """Seconds from the syndication module: the period divided by how many times per
    period the feed updates (hourly x 2 is every 30 minutes). Both parsers use it."""
    period = period.strip().lower()
    times = positive_int(frequency)
    if not period and not times:
        return None
    seconds = PERIODS.get(period or "daily")
    return max(1, seconds // (times or 1)) if seconds else None


def positive_int(value: object) -> int | None:
    """A publisher's positive number, capped at MAX_HINT; None for anything else."""
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return min(number, MAX_HINT) if number > 0 else None
