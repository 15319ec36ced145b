"""The literal prefilter of `re:` entries never hides a match the regex would find."""

from __future__ import annotations

import _sre  # type: ignore[import-not-found]
import re
import sys
from re import _casefix  # type: ignore[attr-defined]

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.match import compile_matcher
from ingest.match.prefilter import _trusted, prefilter_text, required_literal
from ingest.watchlist import parse_watchlist_text


def test_every_character_that_case_folds_to_a_trusted_one_lowers_to_it() -> None:
    """The argument the prefilter rests on, over all of Unicode: `re.IGNORECASE` matches
    text character t to literal c when their simple lowercases are equal (or c has
    extra cases); `str.lower()` must give the same, except for the listed few."""
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        simple = chr(_sre.unicode_tolower(code))
        if _trusted(simple) and char.lower() != simple:
            assert char in "ıİſ", f"U+{code:04X} folds to {simple!r} but lowers otherwise"
    for lower, others in _casefix._EXTRA_CASES.items():
        for code in (lower, *others):
            trusted_extra = _trusted(chr(code)) and chr(code) not in "isIS"
            assert not trusted_extra, f"U+{code:04X} has extra cases"


def test_literal_is_what_every_match_holds() -> None:
    def literal(pattern: str) -> str | None:
        return required_literal(re.compile(pattern, re.IGNORECASE))

    assert literal(r"\bBIAP\b") == "biap"
    assert literal(r"\bconvoys?\b") == "convoy"
    assert literal(r"عين\s+الأسد") == "الأسد"
    assert literal(r"(BIAP)+ airport") == " airport"
    assert literal(r"Erbil|BIAP") is None  # no literal is in every alternative
    assert literal(r"Bagh|BIAP") == "b"  # re factors the common prefix out
    assert literal(r"x?y?") is None
    assert literal(r"\bİzmir") == "zmir"  # a cased non-ASCII letter is not trusted


WORDS = ["BIAP", "biap", "Biap", "bıap", "BİAP", "bſap", "ſ", "K", "convoys", "convoy", "عين"]
TEXT = st.lists(
    st.sampled_from([*WORDS, " ", ".", "-", "\u0130", "\u0131"]) | st.text(max_size=3),
    max_size=12,
).map("".join)
PATTERN = st.lists(
    st.sampled_from(
        [r"\b", "BIAP", "biap", "s", "i", "K", "k", "convoy", "s?", "(ap)+", "(?:a|b)", r"\s", "."]
    ),
    min_size=1,
    max_size=5,
).map("".join)


@settings(max_examples=3000, deadline=None)
@given(pattern=PATTERN, text=TEXT)
def test_prefilter_never_rules_out_a_text_the_regex_matches(pattern: str, text: str) -> None:
    compiled = re.compile(pattern, re.IGNORECASE)
    literal = required_literal(compiled)
    lowered = prefilter_text(text)
    if compiled.search(text) and literal is not None and lowered is not None:
        assert literal in lowered


def test_regex_entries_flag_as_before_with_the_prefilter() -> None:
    watchlist = parse_watchlist_text(
        '[[entities]]\nid = "biap"\nname = "Baghdad International Airport"\n'
        'aliases = ["re:\\\\bBIAP\\\\b"]\npriority = "high"\n'
    )
    matcher = compile_matcher(watchlist)

    def flagged(text: str) -> bool:
        return bool(matcher.match({"title": text}).flags)

    assert flagged("Rockets hit BIAP overnight")
    assert flagged("Rockets hit bıap overnight")  # re equates ı with i; lower() does not
    assert flagged("Rockets hit BİAP overnight")
    assert not flagged("Rockets hit BIAPS overnight")
    assert not flagged("Nothing to see at the airport")
