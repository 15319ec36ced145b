"""The digest as JSON: a stable contract for other tools (documented in the README).

Version 1. Keys are only ever added, never renamed or removed, without a new version.
Times are ISO 8601 in UTC ("Z"); `digest.timezone` says how the other formats show them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ingest.digest.model import Attention, Copy, Digest, Group, Header, Item, Section, Trend

VERSION = 1


def digest_json(digest: Digest) -> dict[str, Any]:
    return {
        "version": VERSION,
        "digest": _header(digest.header, digest.empty),
        "sections": [_section(section) for section in digest.sections],
        "trends": [_trend(trend) for trend in digest.trends],
        "attention": [_attention(feed) for feed in digest.attention],
    }


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _header(header: Header, empty: bool) -> dict[str, Any]:
    return {
        "title": header.title,
        "day": header.day.isoformat(),
        "timezone": header.timezone,
        "period": {"start": utc(header.period_start), "end": utc(header.period_end)},
        "generated_at": utc(header.generated_at),
        "empty": empty,
        "counts": {
            "articles": header.articles_ingested,
            "feeds_polled": header.feeds_polled,
            "feeds_failing": header.feeds_failing,
            "flags": dict(header.flags_by_priority),
            "stories": header.stories,
        },
    }


def _section(section: Section) -> dict[str, Any]:
    return {"priority": section.priority, "groups": [_group(group) for group in section.groups]}


def _group(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "kind": group.kind,
        "name": group.name,
        "items": [_item(item) for item in group.items],
    }


def _item(item: Item) -> dict[str, Any]:
    highlights = []
    at = 0
    for piece in item.evidence:
        if piece.marked:
            highlights.append([at, at + len(piece.text)])
        at += len(piece.text)
    return {
        "flag_id": item.flag_id,
        "article_id": item.article_id,
        "priority": item.priority,
        "title": item.title,
        "url": item.url,
        "outlet": item.outlet,
        "feed_url": item.feed_url,
        "published": utc(item.published),
        "evidence": item.evidence_text,
        "evidence_from": item.evidence_from,
        "highlights": highlights,
        "matched": list(item.matched),
        "also_reported_by": [_copy(copy) for copy in item.also_reported_by],
    }


def _copy(copy: Copy) -> dict[str, Any]:
    return {
        "article_id": copy.article_id,
        "outlet": copy.outlet,
        "title": copy.title,
        "url": copy.url,
        "published": utc(copy.published),
    }


def _trend(trend: Trend) -> dict[str, Any]:
    return {
        "id": trend.id,
        "name": trend.name,
        "period": trend.period,
        "average_7d": trend.average,
        "spike": trend.spike,
    }


def _attention(feed: Attention) -> dict[str, Any]:
    return {
        "url": feed.url,
        "title": feed.title,
        "failing_since": utc(feed.failing_since),
        "consecutive_errors": feed.consecutive_errors,
        "last_error": feed.last_error,
    }
