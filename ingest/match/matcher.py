"""The compiled watchlist: `compile_matcher(watchlist).match(fields) -> MatchResult`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingest.match.automaton import Candidate, Phrase, Scanner
from ingest.match.results import NOTHING, Article, Found, MatchResult, Mention, join_fields
from ingest.match.rules import CompiledRule, RuleIndex, Target, evaluate

if TYPE_CHECKING:  # ingest.watchlist validates phrases with ingest.match.normalize
    from ingest.watchlist import Watchlist


@dataclass(frozen=True, slots=True)
class MatcherSource:
    """What the matcher is compiled from: the watchlist's targets, phrases and rules as
    plain records. The parser workers compile from this, so they never import pydantic
    (the watchlist's validation), which was half of a worker's start-up."""

    version: str
    targets: tuple[Target, ...]
    phrases: tuple[Phrase, ...]
    rules: tuple[CompiledRule, ...]


def matcher_source(watchlist: Watchlist) -> MatcherSource:
    """The watchlist's entities and keyword groups as numbered targets with their phrases,
    and its rules."""
    targets: list[Target] = []
    phrases: list[Phrase] = []
    for entity in watchlist.entities:
        index = len(targets)
        targets.append(Target(entity.id, "entity", entity.name, entity.priority))
        phrases += [Phrase(index, alias, keyword=False, exclude=False) for alias in entity.aliases]
        phrases += [Phrase(index, phrase, keyword=False, exclude=True) for phrase in entity.exclude]
    for group in watchlist.keywords:
        index = len(targets)
        targets.append(Target(group.id, "keywords", group.name, group.priority))
        phrases += [Phrase(index, term, keyword=True, exclude=False) for term in group.terms]
        phrases += [Phrase(index, phrase, keyword=True, exclude=True) for phrase in group.exclude]
    rules = tuple(
        CompiledRule(
            rule.id,
            rule.name,
            rule.priority,
            frozenset(rule.all),
            frozenset(rule.any),
            frozenset(rule.none),
            rule.within,
        )
        for rule in watchlist.rules
    )
    return MatcherSource(watchlist.version, tuple(targets), tuple(phrases), rules)


class Matcher:
    """The whole watchlist compiled once; `match` is pure and safe to call from any thread."""

    def __init__(self, watchlist: Watchlist | MatcherSource) -> None:
        source = watchlist if isinstance(watchlist, MatcherSource) else matcher_source(watchlist)
        self.version = source.version
        self.targets = source.targets
        self.rules = source.rules
        self._index = RuleIndex(self.targets, self.rules)
        self._scanner = Scanner(source.phrases)
        self.keys = self._scanner.size

    def match(self, fields: Mapping[str, str]) -> MatchResult:
        """Mentions and flags of an article given as {field: text} (title, summary, content…)."""
        article = join_fields(fields)
        if article is None:
            return NOTHING
        candidates, segments = self._scanner.scan(article.text)
        if not candidates:
            return NOTHING
        mentions = self._mentions(article, candidates)
        if not mentions:
            return NOTHING
        flags = evaluate(self._index, article, segments, mentions)
        return MatchResult(tuple(found.mention for found in mentions), flags)

    def _mentions(self, article: Article, candidates: list[Candidate]) -> list[Found]:
        """Excluded mentions dropped, overlapping mentions of one target merged into the longest."""
        excluded: dict[int, list[Candidate]] = {}
        for candidate in candidates:
            if candidate.exclude:
                excluded.setdefault(candidate.target, []).append(candidate)
        kept: list[Candidate] = []
        ordered = sorted(
            (c for c in candidates if not c.exclude),
            key=lambda c: (c.target, c.start, -(c.end - c.start)),
        )
        for candidate in ordered:
            vetoes = excluded.get(candidate.target, ())
            if any(v.start < candidate.end and candidate.start < v.end for v in vetoes):
                continue
            if kept and kept[-1].target == candidate.target and candidate.start < kept[-1].end:
                if candidate.end - candidate.start > kept[-1].end - kept[-1].start:
                    kept[-1] = candidate
                continue
            kept.append(candidate)
        kept.sort(key=lambda c: (c.start, c.end, c.target))
        result: list[Found] = []
        for candidate in kept:
            place = article.locate(candidate.start, candidate.end)
            if place is None:
                continue
            index, start, end = place
            target = self.targets[candidate.target]
            text = article.text[candidate.start : candidate.end]
            mention = Mention(target.id, target.kind, article.names[index], start, end, text)
            result.append(Found(target.id, candidate.start, candidate.end, index, mention))
        return result


def compile_matcher(watchlist: Watchlist | MatcherSource) -> Matcher:
    """Compile every alias, term and exclude of the watchlist into one matcher."""
    return Matcher(watchlist)


def article_fields(title: str, summary: str, content: str) -> dict[str, str]:
    """The texts an article is matched on; a summary repeated in the content counts once."""
    fields = {"title": title}
    if summary and summary.strip() not in content:
        fields["summary"] = summary
    if content:
        fields["content"] = content
    return fields
