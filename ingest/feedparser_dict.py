"""feedparser's dictionary lookups, without the detour for plain keys.

feedparser keeps every parse's state in `FeedParserDict`s (the content parameters, each
entry) and reads them with `.get` and `in` about 3,000 times per farm feed. Both go
through `__getitem__`, which tests five legacy keys and the alias map before it looks
the key up, and `.get` of a missing key raises and catches a KeyError. That was about a
tenth of `--parser feedparser`'s CPU.

For a key that is neither a legacy key nor an alias, `__getitem__` is the dict's own
lookup, so `dict.get` and `dict.__contains__` return exactly what the originals would.
Every other key still goes through the originals. The tests compare both over the
fixtures and farm feeds.
"""

from __future__ import annotations

from typing import Any

from feedparser.util import FeedParserDict

__all__ = ["skip_detour_for_plain_keys"]

# Keys with their own branch in FeedParserDict.__getitem__ (feedparser 6), and aliases.
_DETOURED = frozenset(
    {"category", "enclosures", "license", "updated", "updated_parsed", *FeedParserDict.keymap}
)

_original_get = FeedParserDict.get
_original_contains = FeedParserDict.__contains__


def _get(self: FeedParserDict, key: Any, default: Any = None) -> Any:
    if key in _DETOURED:
        return _original_get(self, key, default)
    return dict.get(self, key, default)


def _contains(self: FeedParserDict, key: Any) -> bool:
    if key in _DETOURED:
        return bool(_original_contains(self, key))
    return dict.__contains__(self, key)


def skip_detour_for_plain_keys() -> None:
    """Install the shortcuts (calling again changes nothing)."""
    _install(_get, _contains)


def restore_originals() -> None:
    """feedparser's own lookups again (for the tests that compare the two)."""
    _install(_original_get, _original_contains)


def _install(get: Any, contains: Any) -> None:
    FeedParserDict.get = get  # type: ignore[method-assign]
    FeedParserDict.__contains__ = contains  # type: ignore[method-assign]
    FeedParserDict.has_key = contains
