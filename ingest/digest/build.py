"""Building the digest from its inputs (pure: no database, no network, no clock).

An article flagged by several rules is one story, placed under its most important flag;
copies of one story from several outlets are one item ("also reported by"); items are
grouped by priority (high first), then by rule or entity, newest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

from ingest.digest.highlight import segments
from ingest.digest.inputs import DigestArticle, DigestFlag, DigestInputs, EntityTrend
from ingest.digest.model import (
    PRIORITIES,
    Attention,
    Copy,
    Digest,
    Group,
    Header,
    Item,
    Section,
    Trend,
)
from ingest.digest.similar import copy_clusters

RANK = {priority: rank for rank, priority in enumerate(PRIORITIES)}
KIND_RANK = {"rule": 0, "entity": 1, "keywords": 2}
# A spike: at least this many mentions and at least SPIKE_FACTOR times the average.
SPIKE_MIN = 3
SPIKE_FACTOR = 2.0
TREND_DAYS = 7


def build_digest(inputs: DigestInputs) -> Digest:
    tz = inputs.timezone
    by_article = _flags_by_article(inputs.flags, inputs.articles)
    items = _items(by_article, inputs.articles, tz)
    sections = _sections(items)
    header = Header(
        title=inputs.title,
        day=inputs.period_end.astimezone(tz).date(),
        timezone=tz.key,
        period_start=inputs.period_start.astimezone(tz),
        period_end=inputs.period_end.astimezone(tz),
        generated_at=inputs.generated_at.astimezone(tz),
        articles_ingested=inputs.articles_ingested,
        feeds_polled=inputs.feeds_polled,
        feeds_failing=inputs.feeds_failing,
        flags_by_priority=_count_by_priority(inputs.flags),
        stories=len(items),
    )
    return Digest(
        header=header,
        sections=sections,
        trends=_trends(inputs.trends),
        attention=tuple(
            Attention(
                f.url, f.title, f.error_since.astimezone(tz), f.consecutive_errors, f.last_error
            )
            for f in sorted(inputs.attention, key=lambda f: (f.error_since, f.url))
        ),
    )


def _count_by_priority(flags: Iterable[DigestFlag]) -> dict[str, int]:
    counts = dict.fromkeys(PRIORITIES, 0)
    for flag in flags:
        counts[flag.priority] = counts.get(flag.priority, 0) + 1
    return counts


def _flag_order(flag: DigestFlag) -> tuple[int, int, str, int]:
    """Most important first: priority, then a rule before a bare entity or keyword group."""
    return (
        RANK.get(flag.priority, len(RANK)),
        KIND_RANK.get(flag.kind, 9),
        flag.name,
        flag.flag_id,
    )


def _flags_by_article(
    flags: Iterable[DigestFlag], articles: Mapping[int, DigestArticle]
) -> dict[int, list[DigestFlag]]:
    """article id → its flags, most important first (flags of unknown articles dropped)."""
    grouped: dict[int, list[DigestFlag]] = {}
    for flag in flags:
        if flag.article_id in articles:
            grouped.setdefault(flag.article_id, []).append(flag)
    for article_flags in grouped.values():
        article_flags.sort(key=_flag_order)
    return grouped


def _items(
    by_article: Mapping[int, Sequence[DigestFlag]],
    articles: Mapping[int, DigestArticle],
    tz: ZoneInfo,
) -> list[Item]:
    """One item per story: each cluster of copies is shown by its most important article."""
    ids = sorted(by_article)
    clusters = copy_clusters([articles[i].text for i in ids])
    items = []
    for cluster in clusters:
        members = sorted(
            (ids[i] for i in cluster), key=lambda a: _lead_order(by_article[a], articles[a])
        )
        lead, copies = members[0], members[1:]
        items.append(_item(by_article[lead], articles[lead], [articles[c] for c in copies], tz))
    return items


def _lead_order(flags: Sequence[DigestFlag], article: DigestArticle) -> tuple[object, ...]:
    """The copy that leads: its flag is the most important, then the first published (the
    original report), then the lowest id (stable)."""
    return (_flag_order(flags[0])[:2], article.published_at, article.id)


def _item(
    flags: Sequence[DigestFlag],
    article: DigestArticle,
    copies: Sequence[DigestArticle],
    tz: ZoneInfo,
) -> Item:
    lead = flags[0]
    terms = [str(m.get("text", "")) for flag in flags for m in flag.mentions]
    return Item(
        flag_id=lead.flag_id,
        article_id=article.id,
        priority=lead.priority,
        rule=lead.rule,
        kind=lead.kind,
        title=article.title,
        url=article.url,
        outlet=_outlet(article),
        feed_url=article.feed_url,
        published=article.published_at.astimezone(tz),
        evidence=segments(lead.evidence, terms),
        matched=tuple(dict.fromkeys(flag.name for flag in flags)),
        evidence_from=lead.source,
        also_reported_by=tuple(
            Copy(c.id, _outlet(c), c.title, c.url, c.published_at.astimezone(tz))
            for c in sorted(copies, key=lambda c: (c.published_at, c.id))
        ),
    )


def _outlet(article: DigestArticle) -> str:
    return article.feed_title or article.feed_url


def _sections(items: Sequence[Item]) -> tuple[Section, ...]:
    sections = []
    for priority in PRIORITIES:
        groups: dict[tuple[str, str, str], list[Item]] = {}
        for item in items:
            if item.priority == priority:
                groups.setdefault(_group_of(item), []).append(item)
        if groups:
            ordered = sorted(
                groups.items(), key=lambda kv: (KIND_RANK.get(kv[0][1], 9), kv[0][2], kv[0][0])
            )
            sections.append(
                Section(
                    priority,
                    tuple(
                        Group(key[0], key[1], key[2], tuple(sorted(members, key=_newest_first)))
                        for key, members in ordered
                    ),
                )
            )
    return tuple(sections)


def _group_of(item: Item) -> tuple[str, str, str]:
    """The item's group is its leading flag's rule or entity (its name is matched[0])."""
    return (item.rule, item.kind, item.matched[0])


def _newest_first(item: Item) -> tuple[float, int]:
    return (-item.published.timestamp(), -item.article_id)


def _trends(trends: Iterable[EntityTrend]) -> tuple[Trend, ...]:
    built = []
    for trend in trends:
        previous = trend.previous_days[:TREND_DAYS]
        average = sum(previous) / TREND_DAYS
        spike = trend.period >= SPIKE_MIN and trend.period >= SPIKE_FACTOR * average
        built.append(Trend(trend.id, trend.name, trend.period, round(average, 1), spike))
    return tuple(sorted(built, key=lambda t: (not t.spike, -t.period, t.name)))
