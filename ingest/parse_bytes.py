"""Bytes in: the repairs and refusals a feed body goes through before feedparser reads it.

Pure functions over bytes: no network, no files. `repair_body` fixes the flaws that would
make feedparser misread a whole feed for a few bad bytes; `refuse_dangerous_entities`
stops XML entity attacks (XXE, billion laughs) before anything expands.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import xml.parsers.expat
from typing import Any

from feedparser.encodings import convert_to_utf8
from feedparser.sanitizer import replace_doctype

from ingest.errors import ParseError

# How UTF-16/32 documents start, with or without a BOM (XML 1.0 appendix F), longest first.
_WIDE_STARTS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)
_EBCDIC_START = b"\x4c\x6f\xa7\x94"  # "<?xm"
# The one label under which feedparser obeys the charset parameter over everything else.
_XML_TYPE = "application/xml; charset="
# C0 controls are never text in XML 1.0; ESC stays because ISO-2022 encodings need it.
_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f]")
_BARE_AMPERSAND = re.compile(rb"&(?!#[0-9]{1,8};|#[xX][0-9a-fA-F]{1,8};|[A-Za-z_:][\w.:-]{0,40};)")
_ANY_XML_ENCODING = re.compile(rb"""^(\s*<\?xml[^>]*?)encoding\s*=\s*(["'])(.*?)\2""", re.DOTALL)
XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
# A declared entity may stand for a character or a short text; anything longer multiplies
# the document each time it is referenced.
ENTITY_MAX = 32


def repair_body(body: bytes, content_type: str | None) -> tuple[bytes, str | None, list[str]]:
    """The body and content type to give feedparser, and notes on what was repaired.

    - Control bytes (a NUL from a broken CMS) make the XML ill-formed and would send
      feedparser to its lenient parser for everything: they are dropped.
    - A bare "&" ("Q&A") does the same, and the lenient parser reads "Q&A;": escaped.
    - A UTF-8 feed with one stray Latin-1 byte fails UTF-8 decoding, and feedparser would
      then decode all of it as windows-1252, every Arabic word mojibake: the bad bytes
      become U+FFFD instead.
    - A feed that is valid UTF-8 but labelled ISO-8859-1 (a server default) would be
      mojibake too: feedparser is told it is UTF-8.
    - A byte order mark names the encoding, whatever the label says.
    """
    notes: list[str] = []
    for start, encoding in _WIDE_STARTS:
        if body.startswith(start):
            # The byte order mark is the document's own word (RFC 7303); feedparser would
            # let a text/xml label's US-ASCII default win and read UTF-16 as ASCII + NULs.
            # Control bytes here are halves of characters, not noise.
            return body, _XML_TYPE + encoding, notes
    if body.startswith(_EBCDIC_START):
        return body, content_type, notes
    body = _drop_unreadable_encoding_name(body, notes)
    controls = len(_CONTROLS.findall(body))
    if controls:
        body = _CONTROLS.sub(b"", body)
        notes.append(f"removed {controls} control character(s) (NUL and the like)")
    if b"\x1b" not in body:  # in ISO-2022 text an 0x26 byte can be half a character
        body, ampersands = _escape_bare_ampersands(body)
        if ampersands:
            notes.append(f"escaped {ampersands} bare '&'")
    if body.isascii():
        return body, content_type, notes
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("utf-8", "replace")
        invalid = text.count("\ufffd")
        valid = len(text) - len(text.encode("ascii", "ignore")) - invalid
        # Legacy 8-bit text (Latin-1, windows-1256) almost never forms valid UTF-8
        # sequences; a UTF-8 feed with a few bad bytes is mostly valid ones.
        if valid <= 2 * invalid:
            return body, content_type, notes
        body = text.encode("utf-8")
        notes.append(f"replaced {invalid} invalid UTF-8 byte sequence(s)")
    declared = declared_charset(body, content_type)
    if declared and not same_codec(declared, "utf-8"):
        notes.append(f"declared {declared} but the bytes are UTF-8; read as UTF-8")
    return body, _XML_TYPE + "utf-8", notes


def _drop_unreadable_encoding_name(body: bytes, notes: list[str]) -> bytes:
    # feedparser crashes on an encoding name that is not ASCII (<?xml encoding="\x80"?>).
    match = _ANY_XML_ENCODING.match(body[:1024])
    if not match or re.fullmatch(rb"[A-Za-z0-9._:-]+", match.group(3)):
        return body
    notes.append("ignored an unreadable encoding name in the XML declaration")
    return match.group(1) + body[match.end() :]


def _escape_bare_ampersands(body: bytes) -> tuple[bytes, int]:
    # CDATA sections are literal text, where a bare "&" is correct.
    if b"&" not in body:
        return body, 0
    pieces: list[bytes] = []
    count = 0
    position = 0
    while position < len(body):
        cdata = body.find(b"<![CDATA[", position)
        end = len(body) if cdata < 0 else cdata
        fixed, n = _BARE_AMPERSAND.subn(b"&amp;", body[position:end])
        pieces.append(fixed)
        count += n
        if cdata < 0:
            break
        close = body.find(b"]]>", cdata)
        position = len(body) if close < 0 else close + 3
        pieces.append(body[cdata:position])
    return b"".join(pieces), count


def declared_charset(body: bytes, content_type: str | None) -> str | None:
    """The charset the server (Content-Type) or else the XML declaration names."""
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip(" \"'"):
            return value.strip(" \"'")
    declared = XML_ENCODING.match(body[:512].removeprefix(codecs.BOM_UTF8))
    return declared.group(1).decode("ascii") if declared else None


def same_codec(a: str, b: str) -> bool:
    try:
        return codecs.lookup(a).name == codecs.lookup(b).name
    except LookupError:
        return False


def refuse_dangerous_entities(body: bytes, headers: dict[str, str], url: str) -> None:
    """Raise `ParseError` when the feed declares XML entities that are external (XXE: a file
    or URL), parameter entities, nested (billion laughs) or long (quadratic blow-up).

    feedparser already drops most declarations and turns external entities off, and
    expat >= 2.4 caps amplification; but the first depends on declarations starting a
    line (one on the DOCTYPE's line reaches expat: a billion-laughs body then costs ~2 s
    of CPU before expat's cap), and the second on the expat Python links. A hostile
    document is refused instead, before anything expands. The checks see the bytes as
    feedparser will: decoded by its own charset logic (a UTF-7 or UTF-16 disguise does
    not hide a declaration), before and after its DOCTYPE rewrite, plus the entities its
    lenient parser would expand.
    """
    try:
        data = convert_to_utf8(headers, body, {})
    except Exception:  # feedparser fails on these bytes the same way, before reading any DTD
        return
    if b"<!ENTITY" not in data:
        return
    _, rewritten, lenient = replace_doctype(data)
    for name, value in lenient.items():
        if len(value) > ENTITY_MAX:
            raise ParseError(
                url, _refusal(f"a {len(value)}-character XML entity {name!r}", "expansion")
            )
    for document in (data, rewritten):
        problem = _entity_problem(document)
        if problem:
            raise ParseError(url, problem)


class _PrologRead(Exception):
    pass


def _entity_problem(data: bytes) -> str | None:
    """Read the DTD with expat up to the root element, stopping at the first entity
    declaration that is more than a short text: nothing is expanded or fetched before."""
    found: list[str] = []

    def on_entity(
        name: str,
        is_parameter: bool,
        value: str | None,
        base: str | None,
        system_id: str | None,
        public_id: str | None,
        notation: str | None,
    ) -> None:
        if system_id or public_id or notation:
            target = (system_id or public_id or "")[:100]
            found.append(_refusal(f"an external XML entity {name!r} ({target})", "XXE"))
        elif is_parameter:
            found.append(_refusal(f"an XML parameter entity {name!r}", "XXE or entity expansion"))
        elif value is None or any(c in value for c in "&%<") or len(value) > ENTITY_MAX:
            found.append(_refusal(f"a nested or long XML entity {name!r}", "entity expansion"))
        if found:
            raise _PrologRead

    def on_element(name: str, attributes: Any) -> None:
        raise _PrologRead

    parser = xml.parsers.expat.ParserCreate()
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.EntityDeclHandler = on_entity
    parser.StartElementHandler = on_element
    # A prolog expat cannot read stops feedparser's strict parser at the same place, and
    # its lenient parser only expands the short entities checked by the caller.
    with contextlib.suppress(_PrologRead, xml.parsers.expat.ExpatError):
        parser.Parse(data, True)
    return found[0] if found else None


def _refusal(what: str, attack: str) -> str:
    return (
        f"refused: the feed declares {what}, a known attack ({attack}); "
        "nothing was expanded or read"
    )
