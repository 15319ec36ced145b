"""Properties of normalization and matching on any text (hypothesis)."""

from __future__ import annotations

from pathlib import Path

import ahocorasick_rs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.match import Matcher, compile_matcher, normalize
from ingest.match.automaton import _char_ends
from ingest.match.normalize import _general, skeletonize
from ingest.match.sentences import Segments, sentence_spans
from ingest.watchlist import load_watchlist

ROOT = Path(__file__).resolve().parent.parent
_MATCHERS: list[Matcher] = []


def matchers() -> list[Matcher]:
    if not _MATCHERS:
        for path in (ROOT / "tests/data/watchlists/tolerance.toml", ROOT / "config/watchlist.toml"):
            _MATCHERS.append(compile_matcher(load_watchlist(path)))
    return _MATCHERS


# Text made of the pieces that matter (names, separators, Arabic marks, sentence
# ends, apostrophes) as well as arbitrary Unicode.
PIECES = [
    "Ain",
    "al",
    "Asad",
    "Assad",
    "Ein",
    "ʿAyn",
    "Bahrain",
    "Tower",
    "22",
    "٢٢",
    "truck",
    "trucks",
    "withdrew",
    "convoy",
    "Bashar",
    "عين",
    "الأسد",
    "وبالأسد",
    "للأسد",
    "رتلاً",
    "شاحنات",
    "بشار",
    "عین",
    "کامیون",
    "U.S.",
    "Lt.",
    "Gen.",
    "Jan.",
    " ",
    " ",
    "-",
    "–",
    "\u00a0",
    "\n",
    "\n\n",
    ".",
    ". ",
    "? ",
    "؟ ",
    "۔ ",
    "،",
    ",",
    "'",
    "’",
    "s",
    "ّ",
    "ـ",
    "َ",
    "\u200c",
    '"',
    "«",
    "»",
]
texts = st.one_of(
    st.text(),
    st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)), max_size=30).map("".join),
)
common = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(texts)
def test_normalizing_twice_changes_nothing(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@common
@given(texts)
def test_the_fast_path_gives_the_general_result(text: str) -> None:
    assert skeletonize(text).text == _general(" " + text + " ").text


@common
@given(texts)
def test_skeleton_offsets_point_into_the_text_in_order(text: str) -> None:
    skeleton = skeletonize(text)
    offsets = [skeleton.offset(i) for i in range(1, len(skeleton.text) - 1)]
    assert offsets == sorted(offsets)
    assert all(0 <= offset < len(text) for offset in offsets)


@common
@given(texts, texts)
def test_mentions_slice_the_original_text_exactly_and_matching_never_raises(
    title: str, content: str
) -> None:
    fields = {"title": title, "content": content}
    for matcher in matchers():
        result = matcher.match(fields)
        for mention in result.mentions:
            assert fields[mention.field][mention.start : mention.end] == mention.text
            assert mention.text.strip() == mention.text and mention.text
        for hit in result.flags:
            assert hit.evidence and len(hit.evidence) <= 402
            assert hit.field in fields
            assert set(hit.mentions) <= set(result.mentions)


@common
@given(texts)
def test_the_sentence_around_an_offset_is_a_sentence_of_the_text(text: str) -> None:
    spans = sentence_spans(text)
    for index, char in enumerate(text):
        if char.isalnum():
            assert Segments(text).sentence_of(index) in spans


@common
@given(texts, st.data())
def test_every_occurrence_of_a_key_is_found_at_its_character_offsets(
    text: str, data: st.DataObject
) -> None:
    # The automaton runs over the skeleton's UTF-8 bytes; Arabic letters are two bytes
    # each, so its offsets must be turned back into the skeleton's character offsets.
    skeleton = skeletonize(text).text
    pairs = st.tuples(st.integers(0, len(skeleton) - 1), st.integers(1, 6))
    keys = sorted({skeleton[i : i + n] for i, n in data.draw(st.lists(pairs, min_size=1))})
    automaton = ahocorasick_rs.BytesAhoCorasick(
        [key.encode("utf-8") for key in keys], matchkind=ahocorasick_rs.MatchKind.Standard
    )
    encoded = skeleton.encode("utf-8")
    hits = automaton.find_matches_as_indexes(encoded, overlapping=True)
    found = sorted(_char_ends(encoded, hits, ascii=skeleton.isascii()))
    expected = sorted(
        (number, end)
        for number, key in enumerate(keys)
        for end in range(len(key), len(skeleton) + 1)
        if skeleton[end - len(key) : end] == key
    )
    assert found == expected
