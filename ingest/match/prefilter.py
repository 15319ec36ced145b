"""A literal every match of a `re:` entry must contain, to skip the regex on most texts.

Python's `re` scans every position of a text when a pattern cannot start with a known
literal, as with `\\bBIAP\\b`: about 15 µs per 1,000 characters and field, more than the
whole Aho-Corasick pass over every alias. Most texts do not contain the pattern's
literal at all, and a substring test on the lowered text rules them out in well under a
microsecond (RE2 and Hyperscan prefilter the same way).

The test must never rule out a text the regex would match (case-insensitively):

- only characters whose every case-insensitive equivalent lowers to them are taken
  into the literal: ASCII, and characters without case (Arabic, digits, punctuation);
- `re` also equates "ı" and "İ" with "i" and "ſ" with "s", which `str.lower()` does
  not: a text holding any of them is always given to the regex.
"""

from __future__ import annotations

import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

# The only characters `re.IGNORECASE` matches to an ASCII character that `str.lower()`
# does not lower to it (checked over all of Unicode in tests/test_match_prefilter.py).
_UNLOWERED_EQUIVALENTS = ("ı", "İ", "ſ")


def required_literal(pattern: re.Pattern[str]) -> str | None:
    """The longest lowered run of characters every match contains, or None."""
    try:
        tree = sre_parse.parse(pattern.pattern, pattern.flags)
    except (re.error, RecursionError):
        return None
    runs = list(_runs(tree))
    best = max(runs, key=len, default="")
    return best or None


def prefilter_text(text: str) -> str | None:
    """What `required_literal`s are looked up in, or None when every regex must run."""
    if any(char in text for char in _UNLOWERED_EQUIVALENTS):
        return None
    return text.lower()


def _runs(items: Any) -> Any:
    """Runs of consecutive literal characters in a parsed sequence, and in the groups
    and repeats (at least once) every match must pass through."""
    run: list[str] = []
    for op, value in items:
        if op is sre.LITERAL and _trusted(chr(value)):
            run.append(chr(value).lower())
            continue
        if op is sre.AT:  # \b, ^, $: zero-width, the literals around it stay adjacent
            continue
        if run:
            yield "".join(run)
            run = []
        if op is sre.SUBPATTERN:
            yield from _runs(value[-1])
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT) and value[0] >= 1:
            yield from _runs(value[2])
        elif op is sre.ATOMIC_GROUP:
            yield from _runs(value)
    if run:
        yield "".join(run)


def _trusted(char: str) -> bool:
    return char.isascii() or char.lower() == char.upper() == char
