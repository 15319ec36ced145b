"""Text → skeleton: the canonical form both aliases and articles are matched in.

The skeleton folds away what outlets vary without changing a name: case, Latin
diacritics, Arabic harakat and tatweel, hamza/alef forms, ya/alef maqsura, Persian
yeh and kaf, taa marbuta, apostrophes and ʿayn marks, possessive 's, every kind of
separator (hyphen, en dash, no-break space, line break, punctuation: one space),
and doubled letters (Asad/Assad/Asaad all become "asad").

Every skeleton character comes from one character of the original text, so a
`Skeleton` maps any skeleton offset back to the original offset exactly.

Speed is why this looks the way it does. Per character, everything is a 1:1 fold
(each character to one character) done by `bytes.translate` in a single-byte code
page; the only length changes are deletions (marked with NUL, then removed) and the
collapse of runs, which is found with a handful of big-integer operations instead of
a Python loop or a backreferencing regex (which cost ~90 µs per 1,000 characters,
more than everything else together). The deletions are remembered as the marked
strings themselves, so the offset map is only computed for texts that have a
mention. Texts that fit no fast code page take the general path, which gives the
same result more slowly (tests hold both paths to that).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate
from pathlib import Path

DELETE = "\x00"
_DELETE_BYTE = 0

# Apostrophes and the marks used for ʿayn/hamza in transliteration: deleted, so
# ʿAyn, 'Ayn and Ayn, or Qa'im and Qaim, are the same word.
APOSTROPHES = "'`´‘’‛′ʹʻʼʽʾʿˈ"
_ARABIC_FOLDS = {
    "آ": "ا",
    "أ": "ا",
    "إ": "ا",
    "ٱ": "ا",
    "ٲ": "ا",
    "ٳ": "ا",
    "ٵ": "ا",
    "ى": "ي",
    "ی": "ي",
    "ئ": "ي",
    "ې": "ي",
    "ۍ": "ي",
    "ێ": "ي",
    "ے": "ي",
    "ۓ": "ي",
    "ؤ": "و",
    "ۄ": "و",
    "ۅ": "و",
    "ة": "ه",
    "ۀ": "ه",
    "ە": "ه",
    "ھ": "ه",
    "ہ": "ه",
    "ۃ": "ه",
    "ک": "ك",
    "ڪ": "ك",
    "ء": DELETE,
    "ـ": DELETE,
}
# Letters with no Unicode decomposition that readers still see as a plain Latin letter.
_LATIN_FOLDS = {
    "ß": "s",
    "æ": "a",
    "Æ": "a",
    "œ": "o",
    "Œ": "o",
    "ø": "o",
    "Ø": "o",
    "đ": "d",
    "Đ": "d",
    "ł": "l",
    "Ł": "l",
    "ı": "i",
    "þ": "t",
    "Þ": "t",
    "ð": "d",
    "Ð": "d",
    "ŋ": "n",
    "Ŋ": "n",
    "ħ": "h",
    "Ħ": "h",
    "ŧ": "t",
    "Ŧ": "t",
    "ĸ": "k",
}
# Persian writes a zero-width non-joiner between a stem and its suffix (کامیون‌ها):
# a word boundary, not a letter to drop.
_SPACE_FORMATS = "\u200c"


def _fold_uncached(char: str) -> str:
    if char in APOSTROPHES:
        return DELETE
    if char in _ARABIC_FOLDS:
        return _ARABIC_FOLDS[char]
    if char in _LATIN_FOLDS:
        return _LATIN_FOLDS[char]
    if char in _SPACE_FORMATS:
        return " "
    category = unicodedata.category(char)
    if category[0] == "M" or category == "Cf":
        return DELETE
    if category == "Nd":
        return str(unicodedata.digit(char))
    if category[0] == "L":
        base = unicodedata.normalize("NFKD", char)[:1] or char
        # Only borrow a decomposition that lands in a script we fold (é → e,
        # Ａ → a); elsewhere (Hangul → jamo) it would merge distinct letters.
        if not (base.isascii() or "\u0600" <= base <= "\u06ff") or not base.isalpha():
            base = char
        lowered = base.lower()
        folded = lowered if len(lowered) == 1 else base
        return _ARABIC_FOLDS.get(folded, _LATIN_FOLDS.get(folded, folded))
    if category == "No":
        decomposed = unicodedata.normalize("NFKD", char)
        if len(decomposed) == 1 and decomposed.isdigit():
            return str(unicodedata.digit(decomposed))
    return " "


@cache
def fold_char(char: str) -> str:
    """The one character `char` becomes in a skeleton: itself, a canonical letter, " " or DELETE."""
    if len(char) != 1:
        raise ValueError("fold_char takes one character")
    if ord(char) > 0xFFFF or 0xD800 <= ord(char) <= 0xDFFF:
        return " "  # astral characters (emoji, rare scripts) separate words
    return _fold_uncached(char)


@cache
def _fold_table() -> str:
    """fold for the whole BMP as a str indexed by code point (the general path's table).

    Building it takes ~0.1 s, which the daemon and each of its parser workers paid at
    every start; it is kept in the user's cache directory, under a name made from this
    module's source and Python's Unicode version, and checked by its digest when read.
    """
    path = _fold_table_path()
    with contextlib.suppress(OSError, UnicodeError, ValueError):
        return _read_table(path)
    table = "".join(fold_char(chr(code)) for code in range(0x10000))
    with contextlib.suppress(OSError):
        _write_table(path, table)
    return table


def _fold_table_path() -> Path:
    made_from = Path(__file__).read_bytes() + unicodedata.unidata_version.encode()
    key = hashlib.sha256(made_from).hexdigest()[:16]
    cache_root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_root) / "ingest" / f"fold-table-{key}.bin"


def _read_table(path: Path) -> str:
    data = path.read_bytes()
    table, digest = data[:-32], data[-32:]
    if hashlib.sha256(table).digest() != digest:
        raise ValueError(f"{path} is damaged")
    text = table.decode("utf-8")
    if len(text) != 0x10000:
        raise ValueError(f"{path} is not a fold table")
    return text


def _write_table(path: Path, table: str) -> None:
    data = table.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    partial.write_bytes(data + hashlib.sha256(data).digest())
    os.replace(partial, path)  # atomic: a reader sees the old file or the whole new one


@cache
def _byte_table(codec: str) -> bytes:
    """bytes.translate table: a byte of `codec` → the byte of its fold, in the same codec."""
    table = bytearray(range(256))
    for value in range(256):
        try:
            char = bytes([value]).decode(codec)
        except UnicodeDecodeError:
            table[value] = 0x20
            continue
        folded = fold_char(char)
        table[value] = folded.encode(codec)[0]
    return bytes(table)


# Cheap 1:1 substitutions for the non-ASCII characters English copy is full of, so
# most English articles stay on the fastest (ASCII) path. Each pair folds alike.
_TYPOGRAPHY = (
    ("’", "'"),
    ("‘", "'"),
    ("“", '"'),
    ("”", '"'),
    ("–", "-"),
    ("—", "-"),
    ("\xa0", " "),
    ("…", "."),
)
_MAX_RETRIES = 8
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_RUN = re.compile(r"(.)\1+", re.DOTALL)
_ONES_SIZE = 1 << 18


@cache
def _ones() -> int:
    """0x0101…01: AND-ing a shorter number with it keeps the low bit of each of its bytes."""
    return int.from_bytes(b"\x01" * _ONES_SIZE, "big")


_Marked = str | bytes


@dataclass(slots=True)
class Skeleton:
    """A text's skeleton, padded with one space each side, and the way back to the text.

    `text[i]` came from `original[offset(i)]`. Deletions are kept as the marked
    strings they were removed from (NUL marks a deleted character) and only turned
    into an offset table when asked.
    """

    text: str
    _stages: tuple[_Marked, ...]
    _tables: list[list[int] | None] = field(default_factory=list)

    def offset(self, index: int) -> int:
        """Offset in the original text of the character at skeleton `index`."""
        if not self._tables:
            self._tables = [None] * len(self._stages)
        for number in range(len(self._stages) - 1, -1, -1):
            table = self._tables[number]
            if table is None:
                table = self._tables[number] = _deletion_table(self._stages[number])
            index += bisect_right(table, index)
        return index - 1  # the leading pad

    def end_offset(self, index: int) -> int:
        """Exclusive original end of a skeleton span ending (exclusively) at `index`."""
        return self.offset(index - 1) + 1


def _deletion_table(marked: _Marked) -> list[int]:
    """For each deleted character (in order), the output index of the next kept one."""
    pieces: list[str] | list[bytes] = (
        marked.split(DELETE) if isinstance(marked, str) else marked.split(b"\x00")
    )
    return list(accumulate(map(len, pieces)))[:-1]


def skeletonize(text: str) -> Skeleton:
    """The padded skeleton of `text` (see the module docstring)."""
    padded = " " + text + " "
    if padded.isascii():
        return _fast(padded.encode("ascii"), "ascii")
    if "ا" in padded or "ل" in padded:
        codec = "cp1256"
    else:
        for typographic, plain in _TYPOGRAPHY:
            if typographic in padded:
                padded = padded.replace(typographic, plain)
        if padded.isascii():
            return _fast(padded.encode("ascii"), "ascii")
        codec = "cp1252"
    for _ in range(_MAX_RETRIES):
        try:
            raw = padded.encode(codec)
        except UnicodeEncodeError as exc:
            char = padded[exc.start]
            if codec == "cp1252" and (page := _page_having(char)) is not None:
                codec = page  # the first letter cp1252 lacks picks the page
                continue
            # An apostrophe stands in for characters that fold to a deletion.
            folded = fold_char(char).replace(DELETE, "'")
            try:
                folded.encode(codec)
            except UnicodeEncodeError:
                break
            # 1:1, so every offset still points at the same original character.
            padded = padded.replace(char, folded)
            continue
        return _fast(raw, codec)
    return _general(padded)


# The code pages tried after cp1252 (Western Europe) for a text with a character it
# lacks: Arabic script without an alef or lam (a name, Persian or Urdu copy), then
# Central European (Polish, Czech, Croatian...), Turkish and Baltic letters. Without
# them such a text took the general path, about four times slower.
_OTHER_PAGES = ("cp1256", "cp1250", "cp1254", "cp1257")


def _page_having(char: str) -> str | None:
    """The first of the other code pages that has `char`; the retries in `skeletonize`
    then replace the few characters that page lacks."""
    for codec in _OTHER_PAGES:
        with contextlib.suppress(UnicodeEncodeError):
            char.encode(codec)
            return codec
    return None


def _fast(raw: bytes, codec: str) -> Skeleton:
    folded = raw.translate(_byte_table(codec))
    stages: list[_Marked] = []
    if folded.find(_DELETE_BYTE) >= 0:
        # A possessive 's ends the word: "Asad's" is "Asad" (3 characters → 3 spaces).
        folded = folded.replace(b"\x00s ", b"   ")
        stages.append(folded)
        folded = folded.replace(b"\x00", b"")
    marked = _mark_runs(folded)
    if marked.find(_DELETE_BYTE) >= 0:
        stages.append(marked)
        folded = marked.replace(b"\x00", b"")
    return Skeleton(folded.decode(codec), tuple(stages))


def _mark_runs(data: bytes) -> bytes:
    """`data` with every repeat in a run of equal bytes set to NUL.

    Big-endian, `x >> 8` lines each byte up with its predecessor, so the XOR is a
    zero byte exactly where a byte repeats the one before it; OR-ing each byte's
    bits down into its lowest bit and multiplying by 0xFF turns that into a mask.
    """
    size = len(data)
    ones = _ones() if size <= _ONES_SIZE else int.from_bytes(b"\x01" * size, "big")
    number = int.from_bytes(data, "big")
    diff = number ^ (number >> 8)
    diff |= diff >> 4
    diff |= diff >> 2
    diff |= diff >> 1
    return (number & (diff & ones) * 0xFF).to_bytes(size, "big")


def _general(padded: str) -> Skeleton:
    folded = padded.translate(_fold_table())
    if not folded.isascii():
        folded = _ASTRAL.sub(" ", folded)
    stages: list[_Marked] = []
    if DELETE in folded:
        folded = folded.replace("\x00s ", "   ")
        stages.append(folded)
        folded = folded.replace(DELETE, "")
    if _RUN.search(folded):
        marked = _RUN.sub(lambda m: m[1] + DELETE * (len(m[0]) - 1), folded)
        stages.append(marked)
        folded = marked.replace(DELETE, "")
    return Skeleton(folded, tuple(stages))


def normalize(text: str) -> str:
    """The skeleton of `text` without its padding: what aliases are compared as.

    >>> normalize("Ein al-Assad’s")
    'ein al asad'
    >>> normalize("عَين الأسد")
    'عين الاسد'
    """
    return skeletonize(text).text.strip(" ")


def is_arabic_letter(char: str) -> bool:
    return "\u0620" <= char <= "\u06ff" and char.isalpha()
