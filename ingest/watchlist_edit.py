"""Editing watchlist.toml (`ingest watch add|remove`) without losing the user's layout.

The file is changed as text, one [[table]] block at a time, so comments and
layout stay where the user put them: tomlkit alone attaches a comment written
above a table to the table before it, so removing or appending through it moves
or drops comments. tomlkit renders new blocks (quoting) and edits inside one block
(appending to an aliases array). A change is validated before it is written, and
written atomically: an invalid watchlist never reaches the disk.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import tomlkit

from ingest.errors import ConfigError
from ingest.watchlist import (
    HEADER,
    SECTIONS,
    Watchlist,
    block_lines,
    find_line,
    load_watchlist,
    parse_watchlist_text,
)


def slugify(name: str) -> str:
    """An id from a name: "Erbil air base" → "erbil-air-base" (Arabic letters are kept)."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    slug = re.sub(r"[^\w]+|_", "-", plain).strip("-")
    return slug[:60].strip("-") or "item"


def _unique_id(base: str, taken: Iterable[str]) -> str:
    taken = set(taken)
    candidate, number = base, 2
    while candidate in taken:
        candidate = f"{base}-{number}"
        number += 1
    return candidate


def add_entity(
    path: Path,
    name: str,
    aliases: Sequence[str],
    id: str | None = None,
    priority: str | None = None,
    exclude: Sequence[str] = (),
) -> str:
    """Append an [[entities]] table; returns its id. The file keeps its comments."""
    # The name is usually how outlets write it too, so it is the first alias.
    fields: dict[str, Any] = {"name": name, "aliases": list(dict.fromkeys([name, *aliases]))}
    if exclude:
        fields["exclude"] = list(exclude)
    if priority:
        fields["priority"] = priority
    return _add_item(path, "entities", name, id, fields)


def add_keywords(
    path: Path,
    name: str,
    terms: Sequence[str],
    id: str | None = None,
    priority: str | None = None,
) -> str:
    """Append a [[keywords]] group; returns its id."""
    fields: dict[str, Any] = {"name": name, "terms": list(terms)}
    if priority:
        fields["priority"] = priority
    return _add_item(path, "keywords", name, id, fields)


def add_alias(path: Path, id: str, alias: str) -> bool:
    """Add an alias to an entity (or a term to a keyword group); False if already there."""
    text, watchlist = _read(path)
    section, index = _locate(watchlist, id)
    if section == "rules":
        raise ConfigError(f"{id!r} is a rule, which has no aliases", file=str(path), field="id")
    key = "aliases" if section == "entities" else "terms"
    item = getattr(watchlist, section)[index]
    if alias in getattr(item, key):
        return False
    lines = text.splitlines(keepends=True)
    first, last = _item_range(lines, section, index)
    body_end = _body_end(lines, first, last)
    block = tomlkit.parse("".join(lines[first:body_end]))
    block[section][0][key].append(alias)
    new_block = tomlkit.dumps(block)
    _write(path, "".join(lines[:first]) + new_block + "".join(lines[body_end:]))
    return True


def remove_item(path: Path, id: str) -> str:
    """Remove an entity, keyword group or rule (with the comment right above it); returns its kind.

    An entity or group that a rule still uses is not removed: the rule would break.
    """
    text, watchlist = _read(path)
    section, index = _locate(watchlist, id)
    if section != "rules":
        users = [r.id for r in watchlist.rules if id in (*r.all, *r.any, *r.none)]
        if users:
            raise ConfigError(
                f"{id!r} is used by rule{'s' if len(users) > 1 else ''} {', '.join(users)}: "
                "remove or edit those rules first",
                file=str(path),
                line=find_line(text, [section, index, "id"]),
                field=f"{section}[{index}]",
            )
    lines = text.splitlines(keepends=True)
    first, last = _item_range(lines, section, index)
    start = _comment_start(lines, first)
    end = _body_end(lines, first, last)
    while (
        end < len(lines) and not lines[end].strip() and (start == 0 or not lines[start - 1].strip())
    ):
        end += 1  # do not leave two blank lines where the block was
    _write(path, "".join(lines[:start] + lines[end:]))
    return {"entities": "entity", "keywords": "keywords", "rules": "rule"}[section]


def _add_item(path: Path, section: str, name: str, id: str | None, fields: dict[str, Any]) -> str:
    text, watchlist = _read(path)
    taken = watchlist.ids()
    if id is not None and id in taken:
        raise ConfigError(
            f"id {id!r} is already used (by a {taken[id]})", file=str(path), field="id"
        )
    item_id = id or _unique_id(slugify(name), taken)
    table = tomlkit.table()
    table["id"] = item_id
    for key, value in fields.items():
        if isinstance(value, list):
            array = tomlkit.array()
            array.extend(value)
            if len(value) > 3 or sum(len(v) for v in value) > 60:
                array.multiline(True)
            table[key] = array
        else:
            table[key] = value
    document = tomlkit.document()
    document[section] = tomlkit.aot()
    document[section].append(table)
    block = tomlkit.dumps(document).strip("\n") + "\n"
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    at = _insert_at(lines, section, len(getattr(watchlist, section)))
    before = "".join(lines[:at])
    after = "".join(lines[at:])
    spacer = "\n" if before.strip() and not before.endswith("\n\n") else ""
    tail = "\n" if after.strip() and not after.startswith("\n") else ""
    _write(path, before + spacer + block + tail + after)
    return item_id


def _insert_at(lines: list[str], section: str, count: int) -> int:
    """Where a new [[section]] goes: after the last one, else before the next section's block."""
    if count:
        first, last = _item_range(lines, section, count - 1)
        return _body_end(lines, first, last)
    later = SECTIONS[SECTIONS.index(section) + 1 :]
    for number, line in enumerate(lines):
        header = HEADER.match(line)
        if header and header.group(2).strip("\"' ") in later:
            return _comment_start(lines, number)
    return len(lines)


def _item_range(lines: list[str], section: str, index: int) -> tuple[int, int]:
    block = block_lines([line.rstrip("\r\n") for line in lines], section, index)
    if block is None:
        raise ConfigError(
            f"cannot find [[{section}]] number {index + 1} in the file text", field=section
        )
    return block


def _comment_start(lines: list[str], header: int) -> int:
    """The first line of the comment block directly above a header (no blank line between)."""
    start = header
    while start > 0 and lines[start - 1].lstrip().startswith("#"):
        start -= 1
    return start


def _body_end(lines: list[str], header: int, end: int) -> int:
    """End of a table's own lines (with comments right under them).

    Left out: blank lines, the comments attached to the next header, and comment
    groups standing alone between blank lines (section banners).
    """

    def comment(number: int) -> bool:
        return lines[number].lstrip().startswith("#")

    stop = _comment_start(lines, end) if end < len(lines) else end
    while stop > header + 1:
        if not lines[stop - 1].strip():
            stop -= 1
            continue
        if not comment(stop - 1):
            break
        group = stop - 1
        while group > header + 1 and comment(group - 1):
            group -= 1
        if lines[group - 1].strip():
            break  # the comments follow the table's own lines: they belong to it
        stop = group
    return stop


def _locate(watchlist: Watchlist, id: str) -> tuple[str, int]:
    for section in SECTIONS:
        for index, item in enumerate(getattr(watchlist, section)):
            if item.id == id:
                return section, index
    known = ", ".join(sorted(watchlist.ids())) or "none"
    raise ConfigError(
        f"no entity, keyword group or rule has id {id!r} (ids: {known})",
        file=str(watchlist.path) if watchlist.path else None,
        field="id",
    )


def _read(path: Path) -> tuple[str, Watchlist]:
    """The file's text and contents; a missing file is an empty watchlist to add to."""
    if not path.exists() and path.parent.is_dir():
        return "", parse_watchlist_text("", file=str(path), path=path)
    watchlist = load_watchlist(path)
    return path.read_text(encoding="utf-8"), watchlist


def _write(path: Path, text: str) -> None:
    """Validate, then replace the file atomically; an invalid result is never written."""
    try:
        parse_watchlist_text(text, file=str(path), path=path)
    except ConfigError as exc:
        raise ConfigError(
            f"not changed, the result would be invalid: {exc.message}",
            file=str(path),
            field=exc.field,
        ) from None
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
