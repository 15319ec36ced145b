"""The flag stage: match stored articles against the watchlist and write flags.

Holds the compiled watchlist for the daemon (reloaded on change; an invalid file is
reported and the last good one stays in force), and re-applies it to stored
articles for `ingest rematch`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from ingest.errors import ConfigError
from ingest.flagstore import (
    FlagRow,
    MentionRow,
    delete_flags,
    flags_of_articles,
    insert_flags,
    iter_article_texts,
    mark_flags_alerted,
    upsert_mentions,
)
from ingest.flagstore import flagged_article_ids as flagged_article_ids
from ingest.match import Hit, Matcher, MatchResult, article_fields, compile_matcher
from ingest.prepare import ShippedWatchlist
from ingest.settings import Settings
from ingest.store import StoredArticle
from ingest.watchlist import Watchlist, parse_watchlist_text, read_watchlist_text

log = logging.getLogger("ingest.flagging")


def page_fields(title: str, page_text: str) -> dict[str, str]:
    """The texts an article is matched on once its page is fetched (`ingest.fulltext`)."""
    return {"title": title, "page": page_text} if page_text else {"title": title}


def flag_rows(
    article_id: int, result: MatchResult, version: str, now: datetime, source: str = "feed"
) -> list[FlagRow]:
    return [_flag_row(article_id, hit, version, now, source) for hit in result.flags]


def _flag_row(article_id: int, hit: Hit, version: str, now: datetime, source: str) -> FlagRow:
    return FlagRow(
        article_id=article_id,
        rule=hit.rule,
        kind=hit.kind,
        name=hit.name,
        priority=hit.priority,
        evidence=hit.evidence,
        field=hit.field,
        source=source,
        mentions=[
            {
                "id": m.id,
                "kind": m.kind,
                "field": m.field,
                "start": m.start,
                "end": m.end,
                "text": m.text,
            }
            for m in hit.mentions
        ],
        watchlist_version=version,
        raised_at=now,
    )


def mention_rows(article_id: int, result: MatchResult, now: datetime) -> list[MentionRow]:
    if not result.mentions:
        return []  # most articles: no Counter to build, once per stored article
    counts = Counter((m.id, m.kind) for m in result.mentions)
    return [MentionRow(article_id, target, kind, n, now) for (target, kind), n in counts.items()]


@dataclass
class WatchlistFlagger:
    """Writes the flags of freshly stored articles inside the poll's transaction."""

    watchlist: Watchlist
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    on_flags: Callable[[list[int]], None] | None = None
    # A backfill (`ingest fulltext`) records its flags as alerted, as `rematch` does: old
    # articles must not come back as a burst of alerts.
    pre_alerted: bool = False

    @cached_property
    def matcher(self) -> Matcher:
        # Compiled on first use: the parser's workers match the feed entries, so the
        # daemon needs its own only for pages and for entries matched with an older
        # watchlist, and a large watchlist takes seconds to compile.
        return compile_matcher(self.watchlist)

    def write_flags(self, conn: Any, stored: Sequence[StoredArticle]) -> int:
        now = self.clock()
        flags: list[FlagRow] = []
        mentions: list[MentionRow] = []
        for article in stored:
            result = self.match_of(article)
            flags.extend(flag_rows(article.id, result, self.watchlist.version, now))
            mentions.extend(mention_rows(article.id, result, now))
        upsert_mentions(conn, mentions)
        return len(self._inserted(conn, flags, now))

    def match_of(self, article: StoredArticle) -> MatchResult:
        """The match made beside the parse when it used this watchlist, else match now."""
        draft = article.draft
        if draft.match is not None and draft.matched_with == self.watchlist.version:
            return draft.match
        entry = draft.entry
        return self.matcher.match(
            article_fields(entry.title, entry.summary_text, entry.content_text)
        )

    def write_page_flags(self, conn: Any, article_id: int, title: str, page_text: str) -> int:
        """Match an article again on its page's main text: flags the feed text did not raise
        are added with source "page" and the page's sentence as evidence (once per rule)."""
        now = self.clock()
        result = self.matcher.match(page_fields(title, page_text))
        upsert_mentions(conn, mention_rows(article_id, result, now))
        rows = flag_rows(article_id, result, self.watchlist.version, now, "page")
        return len(self._inserted(conn, rows, now))

    def _inserted(self, conn: Any, rows: list[FlagRow], now: datetime) -> list[int]:
        new_ids = insert_flags(conn, rows)
        if new_ids and self.pre_alerted:
            mark_flags_alerted(conn, new_ids, now)
        if new_ids and self.on_flags is not None:
            self.on_flags(new_ids)
        return new_ids


@dataclass
class WatchlistFlaggers:
    """The daemon's current watchlist; reload keeps the last good one on error."""

    path: Path
    flagger: WatchlistFlagger | None = None
    shipped: ShippedWatchlist | None = None
    mtime: float = -1.0
    on_flags: Callable[[list[int]], None] | None = None
    pre_alerted: bool = False  # see WatchlistFlagger

    @classmethod
    def load(cls, settings: Settings, *, pre_alerted: bool = False) -> WatchlistFlaggers:
        """At start an invalid watchlist is fatal (exit 2); a missing one means no flags."""
        holder = cls(settings.watchlist_file, pre_alerted=pre_alerted)
        if holder.path.exists():
            holder._compile(strict=True)
        else:
            log.warning(
                "no watchlist file=%s: articles are stored but nothing is flagged", holder.path
            )
        return holder

    def current(self) -> WatchlistFlagger | None:
        return self.flagger

    def current_shipped(self) -> ShippedWatchlist | None:
        """The last good watchlist as the parser's workers get it (ingest.prepare)."""
        return self.shipped

    def changed(self) -> bool:
        return _mtime(self.path) != self.mtime

    def reload(self) -> None:
        self._compile(strict=False)

    def _compile(self, *, strict: bool) -> None:
        mtime = _mtime(self.path)
        try:
            text = read_watchlist_text(self.path)
            watchlist = parse_watchlist_text(text, file=str(self.path), path=self.path)
        except ConfigError as exc:
            self.mtime = mtime  # do not re-report the same broken file every few seconds
            if strict:
                raise
            log.error("watchlist rejected, keeping the last good one: %s", exc)
            return
        self.mtime = mtime
        self.flagger = WatchlistFlagger(
            watchlist, on_flags=self.on_flags, pre_alerted=self.pre_alerted
        )
        self.shipped = ShippedWatchlist(watchlist)
        log.info("watchlist loaded file=%s version=%s", self.path, watchlist.version)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0


# --- rematch ---------------------------------------------------------------------------


@dataclass
class RuleChange:
    added: int = 0
    removed: int = 0
    examples_added: list[tuple[int, str, str]] = field(
        default_factory=list
    )  # (article, title, evidence)
    examples_removed: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class RematchReport:
    articles: int = 0
    by_rule: dict[str, RuleChange] = field(default_factory=dict)

    def change(self, rule: str) -> RuleChange:
        return self.by_rule.setdefault(rule, RuleChange())

    @property
    def added(self) -> int:
        return sum(c.added for c in self.by_rule.values())

    @property
    def removed(self) -> int:
        return sum(c.removed for c in self.by_rule.values())


def rematch(
    engine: Engine,
    matcher: Matcher,
    since: datetime | None,
    *,
    dry_run: bool,
    progress: Callable[[int], None] | None = None,
    examples: int = 3,
    now: datetime | None = None,
) -> RematchReport:
    """Apply the current watchlist to stored articles: add missing flags, remove stale ones.

    Idempotent: a second run changes nothing. A flag that still matches keeps its
    raised_at (and so is never alerted twice).
    """
    now = now or datetime.now(UTC)
    report = RematchReport()
    batch: list[tuple[int, str, MatchResult]] = []
    for article in iter_article_texts(engine, since):
        result = matcher.match(article_fields(article.title, article.summary, article.content))
        if article.page:  # a flag raised by the page phase stays while the page still says it
            result = _with_page(result, matcher.match(page_fields(article.title, article.page)))
        batch.append((article.id, article.title, result))
        if len(batch) >= 500:
            _apply_batch(engine, batch, matcher.version, now, dry_run, report, examples)
            if progress:
                progress(len(batch))
            batch = []
    if batch:
        _apply_batch(engine, batch, matcher.version, now, dry_run, report, examples)
        if progress:
            progress(len(batch))
    return report


def _with_page(feed: MatchResult, page: MatchResult) -> MatchResult:
    rules = {hit.rule for hit in feed.flags}
    extra = tuple(hit for hit in page.flags if hit.rule not in rules)
    mentions = page.mentions if len(page.mentions) > len(feed.mentions) else feed.mentions
    return MatchResult(mentions=mentions, flags=feed.flags + extra)


def _apply_batch(
    engine: Engine,
    batch: Iterable[tuple[int, str, MatchResult]],
    version: str,
    now: datetime,
    dry_run: bool,
    report: RematchReport,
    examples: int,
) -> None:
    items = list(batch)
    with engine.begin() as conn:
        existing = flags_of_articles(conn, [article_id for article_id, _, _ in items])
        to_add: list[FlagRow] = []
        to_remove: list[int] = []
        mentions: list[MentionRow] = []
        for article_id, title, result in items:
            report.articles += 1
            have = existing.get(article_id, {})
            want = {hit.rule: hit for hit in result.flags}
            for rule, hit in want.items():
                if rule not in have:
                    change = report.change(rule)
                    change.added += 1
                    if len(change.examples_added) < examples:
                        change.examples_added.append((article_id, title, hit.evidence))
                    source = "page" if hit.field == "page" else "feed"
                    to_add.append(_flag_row(article_id, hit, version, now, source))
            for rule, flag_id in have.items():
                if rule not in want:
                    change = report.change(rule)
                    change.removed += 1
                    if len(change.examples_removed) < examples:
                        change.examples_removed.append((article_id, title))
                    to_remove.append(flag_id)
            mentions.extend(mention_rows(article_id, result, now))
        if dry_run:
            conn.rollback()
            return
        _write_rematch(conn, to_add, to_remove, mentions, now)


def _write_rematch(
    conn: Connection,
    to_add: list[FlagRow],
    to_remove: list[int],
    mentions: list[MentionRow],
    now: datetime,
) -> None:
    delete_flags(conn, to_remove)
    mark_flags_alerted(conn, insert_flags(conn, to_add), now)
    upsert_mentions(conn, mentions)
