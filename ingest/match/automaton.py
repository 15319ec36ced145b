"""One Aho-Corasick automaton over the skeletons of every alias, term and exclude.

Keys carry their own word boundaries so that the automaton, not Python, rejects
almost everything: every key starts with the skeleton's space (so "ain al asad"
never matches inside "bahrain al asad"), and a name ends with one. Arabic script
attaches proclitics (و ف ب ل ك ال and their combinations: وبالأسد) to the word,
so an Arabic-script key comes once per proclitic, " " + proclitic + name; that is
what keeps the automaton's root down to one child: with Arabic keys starting
anywhere in a word, the root's dozens of children cost every character of every
text (with pyahocorasick: 12 µs instead of 9 µs per 1,000 English characters at
10,000 aliases, 20 µs instead of 11 µs for Arabic).

The automaton is the Rust aho-corasick crate's (ahocorasick_rs), run over the UTF-8
bytes of the skeleton: about 6 µs per 1,000 English characters at 10,000 aliases on
the benchmark machine, against pyahocorasick's 10-12 µs; Arabic (two bytes a letter) a
little slower than before (7% in bench_match). What is left to check in Python, per
candidate only:

- keyword endings (" truck" + "s"/"ed"/"ing"…, " شاحن" + "ات");
- digits, which the skeleton collapses like letters ("tower 2"): the original
  digits must be the alias's digits, so Tower 2 is not Tower 22;
- punctuation inside the span (a comma, a bracket, a quote: "Ain, al-Asad" is
  two things) and sentence ends ("…near Ain. Al-Asad said…").

`re:` entries are a separate regex pass over the original text (case-insensitive).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import product
from typing import NamedTuple

import ahocorasick_rs

from ingest.match.normalize import (
    APOSTROPHES,
    Skeleton,
    fold_char,
    is_arabic_letter,
    normalize,
    skeletonize,
)
from ingest.match.prefilter import prefilter_text, required_literal
from ingest.match.sentences import Segments
from ingest.match.variants import name_variants, term_variants

REGEX_PREFIX = "re:"


def _proclitics() -> tuple[str, ...]:
    """ "" and every combination of و/ف, ب/ل/ك and ال, as skeletons."""
    combos = {
        normalize(conj + prep + article) if conj + prep + article else ""
        for conj, prep, article in product(("", "و", "ف"), ("", "ب", "ل", "ك"), ("", "ال"))
    }
    return tuple(sorted(combos, key=len))


PROCLITICS = _proclitics()
_INNER_PUNCTUATION = re.compile(r"[,;:!?()\[\]{}\"“”«»،؛؟/\\|]")
_ANY_MARK = re.compile(_INNER_PUNCTUATION.pattern[:-1] + r".…۔\n]")
_AYN_MARKS = "ʿʾʻ"
_SENTENCE_MARKS = re.compile(r"[.!?؟۔…\n]")


class KeySpec(NamedTuple):
    """What a key stands for and how a match of it is checked (a tuple: a 10,000-alias
    watchlist makes some 158,000, and as frozen dataclasses they took 2.69 s to compile
    instead of 2.39 s)."""

    target: int
    exclude: bool
    length: int
    lead: int  # the word-boundary space and proclitic before the phrase itself
    bounded: bool  # the key ends with the word-boundary space
    endings: frozenset[str] | None  # allowed word endings after an unbounded key
    digits: str
    punctuated: bool  # the phrase itself has inner punctuation: do not veto on it


class Candidate(NamedTuple):
    """A phrase found in the text: offsets into the original text (a tuple: made per match)."""

    target: int
    exclude: bool
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Phrase:
    """One alias, term or exclude of a target, as written in the watchlist."""

    target: int
    text: str
    keyword: bool
    exclude: bool


class Scanner:
    """Finds every phrase of the watchlist in a text, in one automaton pass."""

    def __init__(self, phrases: Iterable[Phrase]) -> None:
        keys: dict[str, list[KeySpec]] = {}
        self._regexes: list[tuple[re.Pattern[str], str | None, int, bool]] = []
        for phrase in phrases:
            if phrase.text.startswith(REGEX_PREFIX):
                pattern = re.compile(phrase.text[len(REGEX_PREFIX) :], re.IGNORECASE)
                literal = required_literal(pattern)
                self._regexes.append((pattern, literal, phrase.target, phrase.exclude))
                continue
            for key, spec in _keys(phrase):
                specs = keys.setdefault(key, [])
                if spec not in specs:
                    specs.append(spec)
        self.size = len(keys)
        self._specs = tuple(tuple(specs) for specs in keys.values())
        self._automaton: ahocorasick_rs.BytesAhoCorasick | None = None
        if keys:
            # Standard semantics, overlapping: every occurrence of every key, as the checks
            # below need (an alias inside a longer one, a term inside a name). Over UTF-8
            # bytes: a str haystack costs the library a conversion and an offset map per
            # call (Arabic text was slower than pyahocorasick that way, not faster).
            self._automaton = ahocorasick_rs.BytesAhoCorasick(
                [key.encode("utf-8") for key in keys],
                matchkind=ahocorasick_rs.MatchKind.Standard,
            )

    def scan(self, text: str) -> tuple[list[Candidate], Segments]:
        """Every accepted phrase occurrence in `text` (overlaps included), and its segments."""
        found: list[Candidate] = []
        segments = Segments(text)
        if self._automaton is not None:
            skeleton = skeletonize(text)
            data = skeleton.text.encode("utf-8")
            hits = self._automaton.find_matches_as_indexes(data, overlapping=True)
            if hits:
                ends = _char_ends(data, hits, ascii=skeleton.text.isascii())
                found.extend(self._check(text, skeleton.text, skeleton, ends, segments))
        lowered = prefilter_text(text) if self._regexes else None
        for pattern, literal, target, exclude in self._regexes:
            if literal is not None and lowered is not None and literal not in lowered:
                continue
            for match in pattern.finditer(text):
                start, end = match.span()
                if start < end and segments.within_one_sentence(start, end):
                    found.append(Candidate(target, exclude, start, end))
        return found, segments

    def _check(
        self,
        text: str,
        skeleton_text: str,
        skeleton: Skeleton,
        ends: Iterable[tuple[int, int]],
        segments: Segments,
    ) -> Iterable[Candidate]:
        offset = skeleton.offset
        for key, end in ends:
            last = end - 1
            for spec in self._specs[key]:
                start = last - spec.length + 1 + spec.lead
                stop = last + 1 - spec.bounded
                if spec.endings is not None:
                    word_end = skeleton_text.find(" ", last + 1)
                    if skeleton_text[last + 1 : word_end] not in spec.endings:
                        continue
                    stop = word_end
                begin = offset(start)
                if begin and text[begin - 1] in _AYN_MARKS:
                    begin -= 1  # ʿAyn: the mark is part of the name as written
                end = _extend(text, offset(stop - 1) + 1)
                if spec.digits and _digits(text[begin:end]) != spec.digits:
                    continue
                span = text[begin:end]
                if _ANY_MARK.search(span):
                    if not spec.punctuated and _INNER_PUNCTUATION.search(span):
                        continue
                    if _SENTENCE_MARKS.search(span) and not segments.within_one_sentence(
                        begin, end
                    ):
                        continue
                yield Candidate(spec.target, spec.exclude, begin, end)


def _char_ends(
    data: bytes, hits: list[tuple[int, int, int]], *, ascii: bool
) -> Iterable[tuple[int, int]]:
    """(key, end) of each hit, the end a character offset into the skeleton.

    The automaton gives byte offsets into the UTF-8 skeleton: the same numbers for ASCII.
    Every key is whole characters, so a hit always ends on a character boundary.
    """
    if ascii:
        return ((key, end) for key, _start, end in hits)
    # Hits come in order of their end: count the characters from the previous end, not
    # from the start each time (an Arabic article has a hit every few words).
    ends: list[tuple[int, int]] = []
    at = chars = 0
    for key, _start, end in hits:
        if end < at:
            ends.append((key, len(data[:end].decode("utf-8"))))
            continue
        chars += len(data[at:end].decode("utf-8"))
        at = end
        ends.append((key, chars))
    return ends


def _extend(text: str, end: int) -> int:
    """Take in what the skeleton dropped after the last letter: harakat, a doubled letter."""
    if end <= 0:
        return end
    last = fold_char(text[end - 1])
    while end < len(text):
        folded = fold_char(text[end])
        doubled = folded == last and folded != " "
        dropped_mark = folded == "\x00" and not _is_apostrophe(text[end])
        if not (doubled or dropped_mark):
            break
        end += 1
    return end


def _is_apostrophe(char: str) -> bool:
    return char in APOSTROPHES


def _digits(span: str) -> str:
    return "".join(fold_char(char) for char in span if char.isdigit())


def _keys(phrase: Phrase) -> list[tuple[str, KeySpec]]:
    skeleton = normalize(phrase.text)
    if not skeleton:
        return []
    digits = _digits(phrase.text)
    punctuated = bool(_INNER_PUNCTUATION.search(phrase.text.strip()))
    keys: list[tuple[str, KeySpec]] = []
    if phrase.keyword and not phrase.exclude:
        for stem, endings in term_variants(skeleton):
            bounded = endings == frozenset({""})
            keys += _key(phrase, stem, digits, punctuated, None if bounded else endings)
    else:
        for variant in name_variants(skeleton):
            keys += _key(phrase, variant, digits, punctuated, None)
    return keys


def _key(
    phrase: Phrase, stem: str, digits: str, punctuated: bool, endings: frozenset[str] | None
) -> list[tuple[str, KeySpec]]:
    trail = " " if endings is None else ""
    prefixes = PROCLITICS if is_arabic_letter(stem[0]) else ("",)
    keys: list[tuple[str, KeySpec]] = []
    for prefix in prefixes:
        if prefix and prefix[-1] == stem[0]:
            continue  # ب + بغداد folds to بغداد (a run), which the bare key already matches
        key = " " + prefix + stem + trail
        spec = KeySpec(
            target=phrase.target,
            exclude=phrase.exclude,
            length=len(key),
            lead=1 + len(prefix),
            bounded=endings is None,
            endings=endings,
            digits=digits,
            punctuated=punctuated,
        )
        keys.append((key, spec))
    return keys
