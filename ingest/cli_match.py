"""`ingest match`: what the watchlist would flag in a text, and why (a contract).

    ingest match [--watchlist PATH] (--text TEXT | --file F) [--json]

`--json` prints one object per input:
    {"id": …, "mentions": [{"id", "kind", "field", "start", "end", "text"}],
     "flags": [{"rule", "priority", "evidence"}]}
where `start`/`end` index the input field so that field[start:end] == text. A file
ending in .jsonl holds one object per line with `text` (and optional `id`, `title`);
the output then has one line per input line, with the same `id`. For --text the id
is null and the field is "text". A bad watchlist exits 2 with file, line and field.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ingest.cli_common import EXIT_USAGE, ConfigOption, console, err_console
from ingest.errors import ConfigError
from ingest.match import Matcher, MatchResult, compile_matcher
from ingest.settings import find_config, load_settings
from ingest.watchlist import load_watchlist

WatchlistOption = Annotated[
    Path | None,
    typer.Option(
        "--watchlist",
        "-w",
        help="watchlist.toml to use (else the one ingest.toml names)",
        show_default=False,
    ),
]
_COLORS = {"high": "bold red", "medium": "yellow", "low": "cyan"}


def usage_error(message: str) -> NoReturn:
    """One line on stderr, exit 2 (bad usage or bad configuration)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_USAGE)


def resolve_watchlist(watchlist: Path | None, config: Path | None) -> Path:
    """--watchlist, else ingest.toml's watchlist_file, else ./config/watchlist.toml.

    The last one lets `ingest match` work in a checkout or a directory holding only
    a watchlist; a configuration that exists but is broken is still an error.
    """
    if watchlist is not None:
        return watchlist
    if config is None and not find_config(None).exists():
        local = Path("config") / "watchlist.toml"
        if local.exists():
            return local
    return load_settings(config).watchlist_path


def load_matcher(watchlist: Path | None, config: Path | None) -> Matcher:
    try:
        return compile_matcher(load_watchlist(resolve_watchlist(watchlist, config)))
    except ConfigError as exc:
        usage_error(str(exc))


@dataclass(frozen=True)
class Input:
    id: Any
    fields: dict[str, str]


def match_command(
    text: Annotated[str | None, typer.Option("--text", help="the text to match")] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="a text file, or .jsonl with one {text, id?, title?} per line; - for stdin",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object per input")] = False,
    watchlist: WatchlistOption = None,
    config: ConfigOption = None,
) -> None:
    """What the watchlist would flag in a text, and why."""
    if text is not None and file is None:
        inputs: Iterable[Input] = [Input(None, {"text": text})]
    elif file is not None and text is None:
        inputs = _read_inputs(file)
    else:
        usage_error("give exactly one of --text TEXT or --file F")
    matcher = load_matcher(watchlist, config)
    for item in inputs:
        result = matcher.match(item.fields)
        if json_out:
            sys.stdout.write(json.dumps(as_json(item.id, result), ensure_ascii=False) + "\n")
        else:
            _print_readable(item, result)
    sys.stdout.flush()


def as_json(item_id: Any, result: MatchResult) -> dict[str, Any]:
    return {
        "id": item_id,
        "mentions": [
            {
                "id": m.id,
                "kind": m.kind,
                "field": m.field,
                "start": m.start,
                "end": m.end,
                "text": m.text,
            }
            for m in result.mentions
        ],
        "flags": [
            {"rule": h.rule, "priority": h.priority, "evidence": h.evidence} for h in result.flags
        ],
    }


def _read_inputs(file: Path) -> Iterator[Input]:
    stdin = str(file) == "-"
    try:
        content = sys.stdin.read() if stdin else file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        usage_error(f"{file}: cannot read: {getattr(exc, 'strerror', None) or exc}")
    if not file.name.endswith(".jsonl"):
        yield Input(None if stdin else str(file), {"text": content})
        return
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            usage_error(f"{file}:{number}: not JSON ({exc.msg})")
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            usage_error(f'{file}:{number}: each line must be an object with a "text" string')
        title = record.get("title")
        if title is not None and not isinstance(title, str):
            usage_error(f'{file}:{number}: "title" must be a string')
        fields = {"title": title, "text": record["text"]} if title else {"text": record["text"]}
        yield Input(record.get("id"), fields)


def _print_readable(item: Input, result: MatchResult) -> None:
    label = "text" if item.id is None else f"id {item.id}"
    if not result.mentions:
        console.print(
            f"[bold]{escape(label)}[/]: nothing would be flagged (no alias or term found)"
        )
        return
    if result.flags:
        count = len(result.flags)
        console.print(f"[bold]{escape(label)}[/]: {count} flag{'s' if count != 1 else ''}")
    else:
        console.print(
            f"[bold]{escape(label)}[/]: mentions, but no flag (priorities off, no rule satisfied)"
        )
    for hit in result.flags:
        header = Text.assemble(
            ("  " + hit.priority.upper().ljust(7), _COLORS[hit.priority]),
            (hit.rule, "bold"),
            f"  {hit.name}  ({hit.kind}, {hit.field})",
        )
        console.print(header)
        evidence = Text("    " + hit.evidence)
        for mention in hit.mentions:
            evidence.highlight_words([mention.text], style="bold underline")
        console.print(evidence)
    table = Table(show_edge=False, box=None, padding=(0, 2))
    for column in ("mention", "of", "kind", "field", "offsets"):
        table.add_column(column)
    for mention in result.mentions:
        table.add_row(
            mention.text, mention.id, mention.kind, mention.field, f"{mention.start}–{mention.end}"
        )
    console.print(table)
