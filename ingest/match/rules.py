"""From mentions to flags: rules, and entities/groups that raise a flag on their own.

A rule is satisfied in a scope unit (`within`) when every id of `all` is mentioned
in it, at least one id of `any` is (when `any` is given), and no id of `none` is:

- "sentence" / "paragraph": some sentence (paragraph) of one field satisfies it;
  the evidence is the first such sentence, the title's first.
- "article": the whole article (all fields together) satisfies it; `none` vetoes
  when mentioned anywhere in the article. The evidence is the sentence holding the
  most of the rule's ids, the earliest (title first) among equals.
- N (words): mentions of the rule's ids, in one field, lie within N words of each
  other (from the first word of the first to the last word of the last); `none`
  vetoes when one of its mentions would fit in the same N words. The evidence is
  the sentence(s) around that window.

At most one flag per rule per article. An entity or keyword group whose priority
is not "off" raises its own flag (under its id) when mentioned; its evidence is the
sentence of its first mention.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ingest.match.results import Article, Found, Hit, Priority
from ingest.match.sentences import Segments, Span, snippet

PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2}
_KIND_RANK = {"rule": 0, "entity": 1, "keywords": 2}


@dataclass(frozen=True, slots=True)
class Target:
    id: str
    kind: Literal["entity", "keywords"]
    name: str
    priority: Literal["high", "medium", "low", "off"]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    name: str
    priority: Priority
    all: frozenset[str]
    any: frozenset[str]
    none: frozenset[str]
    within: str | int

    @property
    def wanted(self) -> frozenset[str]:
        return self.all | self.any

    def satisfied(self, ids: set[str] | frozenset[str]) -> bool:
        return (
            self.all <= ids
            and (not self.any or not self.any.isdisjoint(ids))
            and self.none.isdisjoint(ids)
        )


class RuleIndex:
    """Rules and flag-raising targets by the ids they need, so an article only looks at its own."""

    def __init__(self, targets: Sequence[Target], rules: Sequence[CompiledRule]) -> None:
        self.rules = tuple(rules)
        self._by_id: dict[str, list[int]] = {}
        entities = {target.id for target in targets if target.kind == "entity"}
        for number, rule in enumerate(rules):
            for needed in _triggers(rule, entities):
                self._by_id.setdefault(needed, []).append(number)
        self.raising = {target.id: target for target in targets if target.priority != "off"}

    def candidates(self, present: set[str]) -> list[CompiledRule]:
        numbers = sorted({number for needed in present for number in self._by_id.get(needed, ())})
        return [self.rules[number] for number in numbers]


def _triggers(rule: CompiledRule, entities: set[str]) -> Iterable[str]:
    """Ids one of which any article satisfying the rule mentions, as specific as possible.

    A keyword group such as logistics is in most rules and many articles; one of
    the rule's entities (all of `all`, or one of `any`) is a sharper trigger.
    """
    required = sorted(rule.all & entities) or sorted(rule.all)
    if required and (required[0] in entities or not rule.any):
        return required[:1]
    return sorted(rule.any)


def evaluate(
    index: RuleIndex, article: Article, segments: Segments, found: Sequence[Found]
) -> tuple[Hit, ...]:
    """The flags of one article, most urgent first."""
    present = {f.id for f in found}
    hits: list[Hit] = []
    for rule in index.candidates(present):
        if not rule.all <= present or (rule.any and rule.any.isdisjoint(present)):
            continue
        if rule.within == "article":
            hit = _article_hit(rule, article, segments, found, present)
        elif isinstance(rule.within, int):
            hit = _window_hit(rule, article, segments, found)
        else:
            hit = _unit_hit(rule, article, segments, found)
        if hit is not None:
            hits.append(hit)
    mentioned: dict[str, list[Found]] = {}
    for f in found:
        mentioned.setdefault(f.id, []).append(f)
    for target_id, own in mentioned.items():
        target = index.raising.get(target_id)
        if target is None or target.priority == "off":
            continue
        first = own[0]
        span = segments.sentence_of(first.start)
        hits.append(
            _hit(
                target.id,
                target.kind,
                target.name,
                target.priority,
                article,
                span,
                own,
                focus=[first],
            )
        )
    order = {id(hit): number for number, hit in enumerate(hits)}
    hits.sort(key=lambda h: (PRIORITY_RANK[h.priority], _KIND_RANK[h.kind], order[id(h)]))
    return tuple(hits)


def _hit(
    rule_id: str,
    kind: Literal["rule", "entity", "keywords"],
    name: str,
    priority: Literal["high", "medium", "low"],
    article: Article,
    span: Span,
    mentions: Sequence[Found],
    focus: Sequence[Found],
) -> Hit:
    focus_span = (min(f.start for f in focus), max(f.end for f in focus))
    evidence = snippet(article.text, span, focus_span)
    field = article.names[focus[0].field]
    return Hit(rule_id, kind, name, priority, evidence, field, tuple(f.mention for f in mentions))


def _unit_hit(
    rule: CompiledRule, article: Article, segments: Segments, found: Sequence[Found]
) -> Hit | None:
    """The first sentence (paragraph) that satisfies the rule; `found` is in text order."""
    unit_of = segments.paragraph_of if rule.within == "paragraph" else segments.sentence_of
    unit: Span | None = None
    members: list[Found] = []
    for f in found:
        if f.id not in rule.wanted and f.id not in rule.none:
            continue
        if unit is None or not unit[0] <= f.start < unit[1]:
            if unit is not None and (hit := _unit_result(rule, article, unit, members)):
                return hit
            unit, members = unit_of(f.start), []
        members.append(f)
    return _unit_result(rule, article, unit, members) if unit is not None else None


def _unit_result(
    rule: CompiledRule, article: Article, unit: Span, members: list[Found]
) -> Hit | None:
    if not rule.satisfied({f.id for f in members}):
        return None
    relevant = [f for f in members if f.id in rule.wanted]
    return _hit(rule.id, "rule", rule.name, rule.priority, article, unit, relevant, relevant)


def _article_hit(
    rule: CompiledRule,
    article: Article,
    segments: Segments,
    found: Sequence[Found],
    present: set[str],
) -> Hit | None:
    if not rule.satisfied(present):
        return None
    relevant = [f for f in found if f.id in rule.wanted]
    by_sentence: dict[Span, list[Found]] = {}
    for f in relevant:
        by_sentence.setdefault(segments.sentence_of(f.start), []).append(f)
    best = min(by_sentence, key=lambda span: (-len({f.id for f in by_sentence[span]}), span))
    return _hit(
        rule.id, "rule", rule.name, rule.priority, article, best, relevant, by_sentence[best]
    )


def _window_hit(
    rule: CompiledRule, article: Article, segments: Segments, found: Sequence[Found]
) -> Hit | None:
    size = int(rule.within)
    for field in sorted({f.field for f in found}):
        words = [
            (segments.word_index(f.start), segments.word_index(f.end - 1), f)
            for f in found
            if f.field == field
        ]
        relevant = [w for w in words if w[2].id in rule.wanted]
        vetoes = [w for w in words if w[2].id in rule.none]
        for window in _windows(rule, relevant, vetoes, size):
            first, last = window[0], max(window, key=lambda f: f.end)
            span = (segments.sentence_of(first.start)[0], segments.sentence_of(last.end - 1)[1])
            return _hit(rule.id, "rule", rule.name, rule.priority, article, span, window, window)
    return None


def _windows(
    rule: CompiledRule,
    relevant: list[tuple[int, int, Found]],
    vetoes: list[tuple[int, int, Found]],
    size: int,
) -> Iterable[list[Found]]:
    """Smallest windows (in text order) of mentions within `size` words that satisfy the rule."""
    for i, (first_word, _end, _first) in enumerate(relevant):
        ids: set[str] = set()
        last_word = first_word
        members: list[Found] = []
        for _start_word, end_word, f in relevant[i:]:
            reach = max(last_word, end_word)
            if reach - first_word + 1 > size:
                break
            last_word = reach
            ids.add(f.id)
            members.append(f)
            if not rule.satisfied(ids):
                continue
            vetoed = any(
                max(last_word, v_end) - min(first_word, v_start) + 1 <= size
                for v_start, v_end, _ in vetoes
            )
            if not vetoed:
                yield members
                break
