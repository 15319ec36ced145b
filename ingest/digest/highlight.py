"""Marking the matched terms inside an evidence sentence (pure).

A mention's offsets index the article field, not the evidence (which is cut and has its
white space folded), so each mention's `text` is located inside the evidence instead.
The result is a list of plain and marked pieces: every renderer escapes each piece for
its own format, so a marked term can never break out of the escaping.
"""

from __future__ import annotations

from collections.abc import Iterable

from ingest.digest.model import Segment


def segments(evidence: str, terms: Iterable[str]) -> tuple[Segment, ...]:
    spans = _merge(evidence, (span for term in _clean(terms) for span in _find_all(evidence, term)))
    pieces: list[Segment] = []
    at = 0
    for start, end in spans:
        if start > at:
            pieces.append(Segment(evidence[at:start]))
        pieces.append(Segment(evidence[start:end], marked=True))
        at = end
    if at < len(evidence) or not pieces:
        pieces.append(Segment(evidence[at:]))
    return tuple(pieces)


def _clean(terms: Iterable[str]) -> list[str]:
    # The evidence has its white space folded: fold the terms the same way.
    return list(dict.fromkeys(" ".join(term.split()) for term in terms if term and term.strip()))


def _find_all(evidence: str, term: str) -> list[tuple[int, int]]:
    """Every occurrence of `term`; case-insensitively when lowering keeps the lengths
    (then offsets in the lowered text are offsets in the original)."""
    haystack, needle = evidence, term
    lowered, lowered_term = evidence.lower(), term.lower()
    if len(lowered) == len(evidence) and len(lowered_term) == len(term):
        haystack, needle = lowered, lowered_term
    found = []
    start = haystack.find(needle)
    while start >= 0:
        found.append((start, start + len(needle)))
        start = haystack.find(needle, start + len(needle))
    return found


def _merge(evidence: str, spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping spans become one; so do spans only white space apart ("rocket attack"
    reads as one marked phrase, not two)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and (start <= merged[-1][1] or not evidence[merged[-1][1] : start].strip()):
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
