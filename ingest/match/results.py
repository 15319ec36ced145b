"""What matching produces: mentions and flags (hits), and the article as one text."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple

from ingest.records import pickled_by_fields, slot_init

Kind = Literal["entity", "keywords"]
Priority = Literal["high", "medium", "low"]
# Fields are matched as one text with a blank line between them, which is a
# sentence and paragraph break, so nothing matches across two fields.
FIELD_GAP = "\n\n"


@pickled_by_fields
@slot_init
@dataclass(frozen=True, slots=True)
class Mention:
    """An alias or term found in a field: `fields[field][start:end] == text`."""

    id: str
    kind: Kind
    field: str
    start: int
    end: int
    text: str


@pickled_by_fields
@slot_init
@dataclass(frozen=True, slots=True)
class Hit:
    """A flag to raise: a satisfied rule, or a mentioned entity/group whose priority is not off."""

    rule: str
    kind: Literal["rule", "entity", "keywords"]
    name: str
    priority: Priority
    evidence: str
    field: str
    mentions: tuple[Mention, ...]


@pickled_by_fields
@slot_init
@dataclass(frozen=True, slots=True)
class MatchResult:
    mentions: tuple[Mention, ...]
    flags: tuple[Hit, ...]


NOTHING = MatchResult((), ())


class Article(NamedTuple):
    """The fields joined into one text (title first), and where each field starts in it."""

    text: str
    names: tuple[str, ...]
    starts: tuple[int, ...]
    lengths: tuple[int, ...]

    def locate(self, start: int, end: int) -> tuple[int, int, int] | None:
        """(field index, local start, local end), or None for a span across fields."""
        index = bisect_right(self.starts, start) - 1
        base = self.starts[index]
        if end - base > self.lengths[index]:
            return None
        return index, start - base, end - base


def join_fields(fields: Mapping[str, str]) -> Article | None:
    """The article's text fields, title first (its evidence is preferred); blank ones left out."""
    names: list[str] = []
    texts: list[str] = []
    title = fields.get("title")
    if isinstance(title, str) and title and not title.isspace():
        names.append("title")
        texts.append(title)
    for name, text in fields.items():
        if name != "title" and isinstance(text, str) and text and not text.isspace():
            names.append(name)
            texts.append(text)
    if not texts:
        return None
    if len(texts) == 1:
        return Article(texts[0], (names[0],), (0,), (len(texts[0]),))
    starts: list[int] = []
    lengths: list[int] = []
    at = 0
    for text in texts:
        starts.append(at)
        lengths.append(len(text))
        at += len(text) + len(FIELD_GAP)
    return Article(FIELD_GAP.join(texts), tuple(names), tuple(starts), tuple(lengths))


class Found(NamedTuple):
    """A mention, its place in the joined article text (`start`, `end`) and its field's index."""

    id: str
    start: int
    end: int
    field: int
    mention: Mention
