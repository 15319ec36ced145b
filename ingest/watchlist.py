"""watchlist.toml: what to look for (entities, keyword groups, rules), validated.

The schema (issue 3):

    [[entities]]    id, name, aliases, exclude = [], priority = "medium" (or "off")
    [[keywords]]    id, name, terms, exclude = [], priority = "off"
    [[rules]]       id, name, all = [], any = [], none = [],
                    within = "sentence" | "paragraph" | "article" | N (words),
                    priority = "medium" (high | medium | low)

An alias or term written "re:…" is a regular expression (case-insensitive) on the
original text. Every error names the file, the line and the field. Ids are one
namespace: a flag is stored under the id of the rule, entity or group raising it.

Editing the file (keeping its comments) is in watchlist_edit.py.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from ingest.errors import ConfigError
from ingest.match.automaton import REGEX_PREFIX
from ingest.match.normalize import normalize

Priority = Literal["high", "medium", "low"]
MentionPriority = Literal["high", "medium", "low", "off"]
Scope = Literal["sentence", "paragraph", "article"]
Id = Annotated[str, Field(pattern=r"^\w[\w.-]*$", max_length=100)]
SECTIONS = ("entities", "keywords", "rules")


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _check_phrase(value: str) -> str:
    if value.startswith(REGEX_PREFIX):
        pattern = value[len(REGEX_PREFIX) :]
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        if compiled.search("") is not None:
            raise ValueError(f"regular expression {pattern!r} matches the empty text")
    elif not value.strip():
        raise ValueError("an empty alias or term would match nothing")
    elif not normalize(value):
        raise ValueError(f"{value!r} has no letters or digits to match")
    return value


# An alias, term or exclude phrase ("re:…" for a regular expression).
Phrase = Annotated[str, AfterValidator(_check_phrase)]


class Entity(_Item):
    """A tracked thing (a base, a unit, a person) and the names it goes by."""

    id: Id
    name: str = Field(min_length=1)
    aliases: list[Phrase] = Field(min_length=1)
    exclude: list[Phrase] = []
    priority: MentionPriority = "medium"


class KeywordGroup(_Item):
    """Words of one kind (logistics movements, attacks); each term matches its inflections."""

    id: Id
    name: str = Field(min_length=1)
    terms: list[Phrase] = Field(min_length=1)
    exclude: list[Phrase] = []
    priority: MentionPriority = "off"


class Rule(_Item):
    """Entities and keyword groups mentioned together.

    Within each scope unit (a sentence, a paragraph, the article, or a window of
    `within` words): every id of `all` and at least one of `any` (when given) are
    mentioned, and no id of `none` is.
    """

    id: Id
    name: str = Field(min_length=1)
    all: list[str] = []
    any: list[str] = []
    none: list[str] = []
    within: Scope | Annotated[int, Field(ge=1, le=10_000)] = "sentence"
    priority: Priority = "medium"


class WatchlistFile(_Item):
    """The file's contents, validated."""

    entities: list[Entity] = []
    keywords: list[KeywordGroup] = []
    rules: list[Rule] = []


class Watchlist(WatchlistFile):
    """A validated watchlist; `version` changes whenever the file's bytes do."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    version: str
    path: Path | None = None

    def ids(self) -> dict[str, str]:
        """Every id and what it names: "entity", "keywords" or "rule"."""
        kinds: dict[str, str] = {}
        for entity in self.entities:
            kinds[entity.id] = "entity"
        for group in self.keywords:
            kinds[group.id] = "keywords"
        for rule in self.rules:
            kinds[rule.id] = "rule"
        return kinds


def load_watchlist(path: Path) -> Watchlist:
    """Read and validate a watchlist file. Raises ConfigError (file, line, field)."""
    return parse_watchlist_text(read_watchlist_text(path), file=str(path), path=path)


def read_watchlist_text(path: Path) -> str:
    """The file's text, or ConfigError saying why it cannot be read."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("watchlist file not found", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the watchlist: {exc.strerror}", file=str(path)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None


def parse_watchlist_text(
    text: str, file: str = "<watchlist>", path: Path | None = None
) -> Watchlist:
    """Validate watchlist TOML given as text (what `load_watchlist` does after reading)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError(
            f"invalid TOML: {message}", file=file, line=int(line.group(1)) if line else None
        ) from None
    try:
        content = WatchlistFile.model_validate(raw)
    except ValidationError as exc:
        raise _validation_error(exc, text, file) from None
    _check_references(content, text, file)
    version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return Watchlist(
        entities=content.entities,
        keywords=content.keywords,
        rules=content.rules,
        version=version,
        path=path,
    )


def _validation_error(exc: ValidationError, text: str, file: str) -> ConfigError:
    # An unknown key first: a misspelt key also makes the real one look missing.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    locations = {_trim(list(e["loc"])) for e in errors}
    error = errors[0]
    loc = list(_trim(list(error["loc"])))
    message = str(error["msg"])
    if loc[-1:] == ["within"]:
        scopes = '"sentence", "paragraph", "article" or a number of words'
        message = f"within is {scopes} (got {error['input']!r})"
    elif error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "value_error":
        message = message.removeprefix("Value error, ")
    elif error["type"] == "string_pattern_mismatch":
        message = f"an id is letters, digits, '-', '_' or '.' (got {error['input']!r})"
    elif "input" in error and not isinstance(error["input"], dict | list):
        message = f"{message} (got {error['input']!r})"
    more = len(locations) - 1
    if more:
        message += f" (and {more} more error{'s' if more > 1 else ''})"
    value = error.get("input") if isinstance(error.get("input"), str) else None
    return ConfigError(message, file=file, line=find_line(text, loc, value), field=_field_name(loc))


def _trim(loc: list[str | int]) -> tuple[str | int, ...]:
    """A union (within = "sentence" | N) reports one error per member under one key."""
    while len(loc) > 3 and isinstance(loc[-1], str) and loc[-1] not in _KNOWN_KEYS:
        loc.pop()
    return tuple(loc)


_KNOWN_KEYS = {
    "id",
    "name",
    "aliases",
    "exclude",
    "priority",
    "terms",
    "all",
    "any",
    "none",
    "within",
}


def _field_name(loc: Sequence[str | int]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part}]" if parts else f"[{part}]"
        else:
            parts.append(str(part))
    return ".".join(parts)


def _check_references(content: WatchlistFile, text: str, file: str) -> None:
    seen: dict[str, str] = {}
    for section in SECTIONS:
        for index, item in enumerate(getattr(content, section)):
            if item.id in seen:
                raise ConfigError(
                    f"duplicate id {item.id!r} (already used by one of the {seen[item.id]})",
                    file=file,
                    line=find_line(text, [section, index, "id"]),
                    field=f"{section}[{index}].id",
                )
            seen[item.id] = section
    for index, rule in enumerate(content.rules):
        where = f"rules[{index}]"
        if not rule.all and not rule.any:
            raise ConfigError(
                "a rule needs `all` or `any` (ids that must be mentioned)",
                file=file,
                line=find_line(text, ["rules", index, "id"]),
                field=where,
            )
        for key in ("all", "any", "none"):
            for position, ref in enumerate(getattr(rule, key)):
                kind = seen.get(ref)
                if kind in ("entities", "keywords"):
                    continue
                problem = (
                    "is a rule; rules combine entities and keyword groups"
                    if kind
                    else "is not defined"
                )
                known = ", ".join(sorted(i for i, k in seen.items() if k != "rules")) or "none"
                raise ConfigError(
                    f"{ref!r} {problem} (entities and keyword groups: {known})",
                    file=file,
                    line=find_line(text, ["rules", index, key, position], ref),
                    field=f"{where}.{key}[{position}]",
                )
        both = set(rule.all) & set(rule.none)
        if both:
            raise ConfigError(
                f"{sorted(both)[0]!r} is in both `all` and `none`: the rule could never match",
                file=file,
                line=find_line(text, ["rules", index, "none"]),
                field=f"{where}.none",
            )


# --- locating a field in the file text ------------------------------------------------

HEADER = re.compile(r"""^\s*(\[\[?)\s*([A-Za-z0-9_."' -]+?)\s*\]\]?\s*(?:#.*)?$""")


def _key_pattern(key: str) -> re.Pattern[str]:
    return re.compile(rf"""^\s*["']?{re.escape(key)}["']?\s*=""")


def find_line(text: str, loc: Sequence[str | int], value: str | None = None) -> int | None:
    """1-based line of a field given its location ("entities", 2, "aliases", 0) in the file."""
    if not loc:
        return None
    lines = text.splitlines()
    section = str(loc[0])
    index = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    rest = list(loc[2:] if index is not None else loc[1:])
    block = block_lines(lines, section, index)
    if block is None:
        top = _key_pattern(section)
        for number, line in enumerate(lines, 1):
            if top.match(line):
                return number
        return None
    first, last = block
    if not rest or not isinstance(rest[0], str):
        return first + 1
    key_re = _key_pattern(rest[0])
    for number in range(first + 1, last):
        if key_re.match(lines[number]):
            if value is not None:
                for offset in range(number, last):
                    if _quoted(value) in lines[offset] or (
                        offset == number and value in lines[offset]
                    ):
                        return offset + 1
            return number + 1
    return first + 1


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' if value else '""'


def block_lines(lines: list[str], section: str, index: int | None) -> tuple[int, int] | None:
    """(header line, end) 0-based of the `index`-th [[section]] (or the [section] table)."""
    count = -1
    start: int | None = None
    for number, line in enumerate(lines):
        header = HEADER.match(line)
        if not header:
            continue
        if start is not None:
            return start, number
        name = header.group(2).replace(" ", "").strip("\"'")
        if name == section:
            count += 1
            if index is None or count == index:
                start = number
    return (start, len(lines)) if start is not None else None
