"""Sentences, paragraphs and words of an article's text, as offsets; evidence snippets.

A sentence ends at . ! ? … (and Arabic/Persian ؟ ۔) followed by whitespace,
after any closing quotes or brackets, except:
- after a title or other abbreviation (Lt. Gen. Smith, Mr., Dr., approx.);
- after initials and dotted acronyms (U.S., U.N., J. Smith): a dotted acronym
  at the very end of a sentence ("…sent by the U.S. The trucks…") merges two
  sentences, the lesser evil next to cutting "U.S. Army" in two;
- after a month or "No." followed by a number or a lower-case word (Jan. 5);
- when the next word starts in lower case ("Why?" he asked.).
The Arabic comma ، and semicolon ؛ do not end a sentence.

A blank line ends a paragraph (and a sentence); so does a line break right after
the end of a sentence, which is how HTML paragraphs usually come out as text.
A line break inside a sentence is only a space (wrapped lines).
"""

from __future__ import annotations

import re
from bisect import bisect_right

Span = tuple[int, int]

_TERMINALS = ".!?؟۔…"
_STOPS = _TERMINALS + "\n"
_CLOSERS = "\"'”’»)]"
_INITIALS = re.compile(r"(?:[^\W\d_]\.)*[^\W\d_]")
_WORD = re.compile(r"\w+")

# Titles and abbreviations that are followed by a name or a word, never a new sentence.
_TITLE_WORDS = (
    "mr mrs ms dr prof gen lt col maj capt cpt sgt cpl pvt adm cmdr cdr brig rep sen gov "
    "pres st jr sr rev fr hon amb insp supt lieut messrs mt ft vs etc approx est dept corp "
    "inc ltd co univ assn bros govt intl natl cf al "
)
_TITLES = frozenset(_TITLE_WORDS.split())
# These end a sentence only when a capitalised word follows (Jan. 5 vs. "in Jan. The …").
_NUMBER_WORDS = "jan feb mar apr jun jul aug sep sept oct nov dec no nos fig vol art p pp"
_BEFORE_NUMBERS = frozenset(_NUMBER_WORDS.split())


def sentence_spans(text: str) -> list[Span]:
    """(start, end) of each sentence, trimmed of surrounding whitespace."""
    spans: list[Span] = []
    start = 0
    at = _next_stop(text, 0)
    while at >= 0:
        found = _break_at(text, at)
        if found is not None:
            _add(spans, text, start, found[0])
            start = found[1]
            at = _next_stop(text, found[1])
        else:
            at = _next_stop(text, _run_end(text, at))
    _add(spans, text, start, len(text))
    return spans


def _add(spans: list[Span], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if stripped:
        start += len(piece) - len(piece.lstrip())
        spans.append((start, start + len(stripped)))


def _next_stop(text: str, start: int) -> int:
    """Index of the next character that may end a sentence, or -1."""
    best = -1
    for char in _STOPS:
        found = text.find(char, start)
        if found >= 0 and (best < 0 or found < best):
            best = found
    return best


def _previous_stop(text: str, end: int) -> int:
    best = -1
    for char in _STOPS:
        best = max(best, text.rfind(char, 0, end))
    return best


def _run_end(text: str, at: int) -> int:
    end = at + 1
    while text[at] != "\n" and end < len(text) and text[end] in _TERMINALS:
        end += 1
    return end


def _break_at(text: str, at: int) -> Span | None:
    """If the stop character at `at` ends a sentence: (end of it, start of what follows)."""
    size = len(text)
    if text[at] == "\n":
        low, high = at, at + 1
        while low > 0 and text[low - 1].isspace():
            low -= 1
        while high < size and text[high].isspace():
            high += 1
        return (low, high) if text.count("\n", low, high) >= 2 else None
    start = at
    while start > 0 and text[start - 1] in _TERMINALS:
        start -= 1
    end = _run_end(text, at)
    punctuation = text[start:end]
    while end < size and text[end] in _CLOSERS:
        end += 1
    if end < size and not text[end].isspace():
        return None  # 3.5, U.S.-led, "…and"
    after = end
    while after < size and text[after].isspace():
        after += 1
    next_char = text[after] if after < size else ""
    if next_char.islower() or (punctuation == "." and not _ends_with_a_dot(text, start, next_char)):
        return None
    return (end, after)


def _ends_with_a_dot(text: str, dot: int, next_char: str) -> bool:
    begin = dot
    while begin > 0 and dot - begin < 40 and not text[begin - 1].isspace():
        begin -= 1
    word = text[begin:dot].lstrip("\"'“‘«([").lower()
    if word in _TITLES or _INITIALS.fullmatch(word):
        return False
    if word in _BEFORE_NUMBERS:
        return next_char.isupper()
    return True


def paragraph_spans(text: str, sentences: list[Span] | None = None) -> list[Span]:
    """Paragraphs: runs of sentences not separated by a line break."""
    sentences = sentence_spans(text) if sentences is None else sentences
    paragraphs: list[Span] = []
    for start, end in sentences:
        if paragraphs and "\n" not in text[paragraphs[-1][1] : start]:
            paragraphs[-1] = (paragraphs[-1][0], end)
        else:
            paragraphs.append((start, end))
    return paragraphs


class Segments:
    """Sentences, paragraphs and word positions of one text, found only where asked.

    Most articles with a mention need the sentence around one or two offsets, so
    `sentence_of` looks for the nearest sentence ends on each side instead of
    splitting the whole text; it agrees with `sentence_spans`.
    """

    __slots__ = ("_found", "_found_starts", "_paragraph_starts", "_paragraphs", "_words", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._found: list[Span] = []  # sentences found so far, in text order
        self._found_starts: list[int] = []
        self._paragraphs: list[Span] | None = None
        self._paragraph_starts: list[int] = []
        self._words: list[int] | None = None

    def sentence_of(self, offset: int) -> Span:
        """The sentence holding `offset` (a mention's first character)."""
        index = bisect_right(self._found_starts, offset) - 1
        if index >= 0 and offset < self._found[index][1]:
            return self._found[index]
        start = self._end_before(offset)
        end = self._end_after(offset)
        piece = self.text[start:end]
        stripped = piece.strip()
        start += len(piece) - len(piece.lstrip())
        span = (start, start + len(stripped))
        self._found.insert(index + 1, span)
        self._found_starts.insert(index + 1, start)
        return span

    def _end_after(self, offset: int) -> int:
        text = self.text
        at = _next_stop(text, offset)
        while at >= 0:
            found = _break_at(text, at)
            if found is not None:
                return found[0]
            at = _next_stop(text, _run_end(text, at))
        return len(text)

    def _end_before(self, offset: int) -> int:
        text = self.text
        at = _previous_stop(text, offset)
        while at >= 0:
            found = _break_at(text, at)
            if found is not None and found[1] <= offset:
                return found[1]
            if text[at] != "\n":
                while at > 0 and text[at - 1] in _TERMINALS:
                    at -= 1
            at = _previous_stop(text, at)
        return 0

    def within_one_sentence(self, start: int, end: int) -> bool:
        return end <= self.sentence_of(start)[1]

    def paragraph_of(self, offset: int) -> Span:
        if self._paragraphs is None:
            self._paragraphs = paragraph_spans(self.text)
            self._paragraph_starts = [start for start, _ in self._paragraphs]
        if not self._paragraphs:
            return (0, len(self.text))
        return self._paragraphs[max(0, bisect_right(self._paragraph_starts, offset) - 1)]

    def word_index(self, offset: int) -> int:
        if self._words is None:
            self._words = [match.start() for match in _WORD.finditer(self.text)]
        return max(0, bisect_right(self._words, offset) - 1)


def snippet(text: str, span: Span, focus: Span, limit: int = 400) -> str:
    """text[span] on one line, cut to about `limit` characters around `focus` (…)."""
    start, end = span
    if end - start > limit:
        focus_start = max(start, min(focus[0], end))
        # Mentions spread wider than the snippet: keep the first ones, with context.
        focus_end = max(focus_start, min(focus[1], end, focus_start + limit * 3 // 4))
        margin = (limit - (focus_end - focus_start)) // 2
        cut_start = max(start, focus_start - margin)
        cut_end = min(end, cut_start + limit)
        cut_start = max(start, cut_end - limit)
        cut_start = _word_start(text, cut_start, start, focus_start)
        cut_end = _word_end(text, cut_end, end, focus_end)
        prefix = "…" if cut_start > start else ""
        suffix = "…" if cut_end < end else ""
        return prefix + " ".join(text[cut_start:cut_end].split()) + suffix
    return " ".join(text[start:end].split())


def _word_start(text: str, at: int, floor: int, limit: int) -> int:
    """Move a cut forward to the next word start, never past `limit` (the focus)."""
    if at <= floor:
        return floor
    space = text.find(" ", at, limit)
    return space + 1 if space >= 0 else at


def _word_end(text: str, at: int, ceiling: int, limit: int) -> int:
    if at >= ceiling:
        return ceiling
    space = text.rfind(" ", limit, at)
    return space if space >= 0 else at
