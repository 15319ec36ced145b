"""Which parsed entries are new, changed or already stored: a pure decision.

An article is the same article when its guid matches within the feed, else its
normalized link, else a hash of its title and text. A link or content match never
merges two entries that both carry (different) guids: some feeds link every item
to their home page.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ingest.records import ParsedEntry, ParsedFeed, pickled_by_fields, slot_init

if TYPE_CHECKING:
    from ingest.match import MatchResult

TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_hsenc",
        "_hsmi",
    }
)
TRACKING_PREFIXES = ("utm_", "ga_", "ns_", "pk_", "mtm_")
# A date this far ahead of the poll is a publisher's clock or typo, not a scheduled story.
FUTURE_TOLERANCE = timedelta(days=1)


# A link as most feeds write it: lower-case http(s), a plain host, maybe a port, a path
# with no query, fragment, space or control character. `urlsplit` and `urlunsplit`
# would give it back as it is (with "/" for no path and the port normalized), so it
# skips them: they were a tenth of the parser worker's time per entry.
_PLAIN_LINK = re.compile(r"(https?)://([a-z0-9.-]+)(?::([0-9]{1,5}))?(/[^?#\s\x00-\x1f\x7f]*)?")


def normalize_link(url: str | None) -> str | None:
    """Scheme and host lower-cased, default port, fragment and tracking parameters dropped."""
    if not url:
        return None
    plain = _PLAIN_LINK.fullmatch(url.strip())
    if plain is not None:
        scheme, host, digits, path = plain.groups()
        port = int(digits) if digits else None
        if port is None or port <= 65535:  # else urlsplit's error, as below
            return f"{scheme}://{_with_port(scheme, host, port)}{path or '/'}"
    return _normalize_parsed_link(url)


def _with_port(scheme: str, host: str, port: int | None) -> str:
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        return f"{host}:{port}"
    return host


def _normalize_parsed_link(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip() or None
    scheme = parts.scheme.lower()
    host = _with_port(scheme, (parts.hostname or "").lower(), port)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    ]
    return urlunsplit((scheme, host, parts.path or "/", urlencode(sorted(query)), ""))


def _digest(*parts: str) -> str:
    # Each part followed by a unit separator, hashed in one update: the same bytes as one
    # update per part and separator (stored keys must not change), in one call.
    data = "\x1f".join((*parts, "")).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def content_key(entry: ParsedEntry) -> str:
    return _digest(entry.title.strip(), (entry.content_text or entry.summary_text).strip())


def fingerprint(entry: ParsedEntry) -> str:
    return _digest(
        entry.title,
        entry.link or "",
        entry.summary_html,
        entry.content_html,
        entry.author or "",
        entry.published.isoformat() if entry.published else "",
        entry.updated.isoformat() if entry.updated else "",
    )


@pickled_by_fields
@slot_init
@dataclass(frozen=True, slots=True)
class EntryKeys:
    """An entry's identity and change keys, computed where it was parsed (ingest.prepare)."""

    url_key: str | None
    content_key: str
    fingerprint: str


def entry_keys(entry: ParsedEntry) -> EntryKeys:
    return EntryKeys(normalize_link(entry.link), content_key(entry), fingerprint(entry))


def with_keys(feed: ParsedFeed) -> ParsedFeed:
    """The feed with every entry's keys: done in the parser's worker, off the daemon's core."""
    return replace(feed, keys=tuple(entry_keys(entry) for entry in feed.entries))


@dataclass(frozen=True, slots=True)
class StoredKey:
    """What storage knows of one article, enough to recognise it again."""

    id: int
    guid: str | None
    url_key: str | None
    content_key: str
    fingerprint: str


@slot_init
@dataclass(frozen=True, slots=True)
class ArticleDraft:
    """A parsed entry with its identity keys and resolved dates, ready to be written."""

    entry: ParsedEntry
    url_key: str | None
    content_key: str
    fingerprint: str
    published_at: datetime
    # What the watchlist found in it, when matched beside the parse (ingest.prepare),
    # and with which watchlist version.
    match: MatchResult | None = None
    matched_with: str | None = None


@dataclass(frozen=True, slots=True)
class ArticlePlan:
    inserts: tuple[ArticleDraft, ...]
    updates: tuple[tuple[int, ArticleDraft], ...]  # (stored id, new version)
    unchanged: int


def keys_of(entries: Sequence[ParsedEntry], keys: Sequence[EntryKeys] | None) -> list[EntryKeys]:
    """The entries' keys: those computed beside the parse, else computed here."""
    if keys is not None and len(keys) == len(entries):
        return list(keys)
    return [entry_keys(entry) for entry in entries]


def lookup_keys(
    entries: Sequence[ParsedEntry], keys: Sequence[EntryKeys] | None = None
) -> tuple[set[str], set[str], set[str]]:
    """The guids, link keys and content keys to look up in storage for these entries."""
    guids = {entry.guid for entry in entries if entry.guid}
    links: set[str] = set()
    contents: set[str] = set()
    for key in keys_of(entries, keys):
        if key.url_key:
            links.add(key.url_key)
        contents.add(key.content_key)
    return guids, links, contents


def draft(
    entry: ParsedEntry,
    now: datetime,
    match: MatchResult | None = None,
    matched_with: str | None = None,
    keys: EntryKeys | None = None,
) -> ArticleDraft:
    published = entry.published or entry.updated
    if published is None or published > now + FUTURE_TOLERANCE:
        published = now
    if keys is None:
        keys = entry_keys(entry)
    return ArticleDraft(
        entry=entry,
        url_key=keys.url_key,
        content_key=keys.content_key,
        fingerprint=keys.fingerprint,
        published_at=published,
        match=match,
        matched_with=matched_with if match is not None else None,
    )


def plan_articles(
    entries: Sequence[ParsedEntry],
    stored: Sequence[StoredKey],
    now: datetime,
    matches: Sequence[MatchResult] | None = None,
    matched_with: str | None = None,
    keys: Sequence[EntryKeys] | None = None,
) -> ArticlePlan:
    all_keys = keys_of(entries, keys)
    by_guid = {key.guid: key for key in stored if key.guid}
    by_link: dict[str, StoredKey] = {}
    by_content: dict[str, StoredKey] = {}
    for key in stored:
        if key.url_key:
            by_link.setdefault(key.url_key, key)
        by_content.setdefault(key.content_key, key)

    inserts: list[ArticleDraft] = []
    updates: list[tuple[int, ArticleDraft]] = []
    unchanged = 0
    seen: set[tuple[str, str]] = set()  # identities already taken in this batch
    touched: set[int] = set()
    for index, entry in enumerate(entries):
        match_result = matches[index] if matches else None
        article = draft(entry, now, match_result, matched_with, all_keys[index])
        identities = _identities(entry.guid, article)
        if any(identity in seen for identity in identities):
            continue  # a duplicate inside the same feed document: the first one wins
        seen.update(identities)
        match = _find_stored(entry.guid, article, by_guid, by_link, by_content)
        if match is None:
            inserts.append(article)
        elif match.id in touched:
            continue
        elif match.fingerprint != article.fingerprint:
            touched.add(match.id)
            updates.append((match.id, article))
        else:
            touched.add(match.id)
            unchanged += 1
    return ArticlePlan(tuple(inserts), tuple(updates), unchanged)


def _identities(guid: str | None, article: ArticleDraft) -> list[tuple[str, str]]:
    if guid:
        return [("guid", guid)]
    if article.url_key:
        return [("link", article.url_key)]
    return [("content", article.content_key)]


def _find_stored(
    guid: str | None,
    article: ArticleDraft,
    by_guid: dict[str, StoredKey],
    by_link: dict[str, StoredKey],
    by_content: dict[str, StoredKey],
) -> StoredKey | None:
    if guid and guid in by_guid:
        return by_guid[guid]
    for index, key in ((by_link, article.url_key), (by_content, article.content_key)):
        if key and key in index:
            candidate = index[key]
            # Two different guids are two articles, whatever their links say.
            if not (guid and candidate.guid and candidate.guid != guid):
                return candidate
    return None
