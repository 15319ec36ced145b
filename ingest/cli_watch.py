"""`ingest watch …`: list and edit the watchlist file; comments and layout are kept.

    ingest watch list
    ingest watch add entity NAME --alias A [--alias B …] [--exclude P …] [--id ID] [--priority P]
    ingest watch add keywords NAME --term T [--term U …] [--id ID] [--priority P]
    ingest watch add alias ID ALIAS
    ingest watch remove ID

The daemon reloads the file when it changes. A change that would make the file
invalid is refused and the file is left as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from ingest.cli_common import ConfigOption, console
from ingest.cli_match import WatchlistOption, resolve_watchlist, usage_error
from ingest.errors import ConfigError
from ingest.watchlist import load_watchlist
from ingest.watchlist_edit import add_alias, add_entity, add_keywords, remove_item

watch_app = typer.Typer(
    help="List and edit the watchlist file (comments kept).", no_args_is_help=True
)
add_app = typer.Typer(help="Add an entity, a keyword group or an alias.", no_args_is_help=True)
watch_app.add_typer(add_app, name="add")

T = TypeVar("T")
MENTION_PRIORITIES = ("high", "medium", "low", "off")
IdOption = Annotated[str | None, typer.Option("--id", help="stable id (else made from the name)")]
PriorityOption = Annotated[
    str | None, typer.Option("--priority", help="high, medium, low, or off (only through rules)")
]


def _edit(action: Callable[[], T]) -> T:
    try:
        return action()
    except ConfigError as exc:
        usage_error(str(exc))


def _check_priority(priority: str | None) -> None:
    if priority is not None and priority not in MENTION_PRIORITIES:
        usage_error(f"--priority must be one of {', '.join(MENTION_PRIORITIES)} (got {priority!r})")


@watch_app.command("list")
def list_command(
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object per entry")] = False,
    watchlist: WatchlistOption = None,
    config: ConfigOption = None,
) -> None:
    """The entities, keyword groups and rules of the watchlist."""
    path = _edit(lambda: resolve_watchlist(watchlist, config))
    current = _edit(lambda: load_watchlist(path))
    if json_out:
        for section in ("entities", "keywords", "rules"):
            for item in getattr(current, section):
                print(json.dumps({"section": section, **item.model_dump()}, ensure_ascii=False))
        return
    table = Table(title=f"{path} (version {current.version})", show_lines=True, expand=True)
    for column in ("kind", "id", "name", "priority", "matches"):
        table.add_column(column, overflow="fold")
    for entity in current.entities:
        matches = escape(", ".join(entity.aliases))
        if entity.exclude:
            matches += f"\n[dim]not: {escape(', '.join(entity.exclude))}[/]"
        table.add_row("entity", entity.id, escape(entity.name), entity.priority, matches)
    for group in current.keywords:
        table.add_row(
            "keywords", group.id, escape(group.name), group.priority, escape(", ".join(group.terms))
        )
    for rule in current.rules:
        parts = [f"all: {', '.join(rule.all)}"] if rule.all else []
        parts += [f"any: {', '.join(rule.any)}"] if rule.any else []
        parts += [f"none: {', '.join(rule.none)}"] if rule.none else []
        scope = f"{rule.within} words" if isinstance(rule.within, int) else f"same {rule.within}"
        table.add_row(
            "rule",
            rule.id,
            escape(rule.name),
            rule.priority,
            escape("; ".join(parts) + f" ({scope})"),
        )
    console.print(table)


@add_app.command("entity")
def add_entity_command(
    name: Annotated[str, typer.Argument(help='what analysts call it, e.g. "Erbil air base"')],
    alias: Annotated[
        list[str] | None, typer.Option("--alias", "-a", help="another name (repeatable)")
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="a phrase that vetoes a mention (repeatable)"),
    ] = None,
    id: IdOption = None,
    priority: PriorityOption = None,
    watchlist: WatchlistOption = None,
    config: ConfigOption = None,
) -> None:
    """Add an entity; its name is its first alias."""
    _check_priority(priority)
    path = _edit(lambda: resolve_watchlist(watchlist, config))
    new_id = _edit(
        lambda: add_entity(path, name, alias or [], id=id, priority=priority, exclude=exclude or [])
    )
    console.print(f"added entity [bold]{escape(new_id)}[/] to {escape(str(path))}")


@add_app.command("keywords")
def add_keywords_command(
    name: Annotated[str, typer.Argument(help='what the words have in common, e.g. "Logistics"')],
    term: Annotated[
        list[str] | None, typer.Option("--term", "-t", help="a term (repeatable)")
    ] = None,
    id: IdOption = None,
    priority: PriorityOption = None,
    watchlist: WatchlistOption = None,
    config: ConfigOption = None,
) -> None:
    """Add a keyword group (terms match their inflections)."""
    _check_priority(priority)
    if not term:
        usage_error("give at least one --term")
    path = _edit(lambda: resolve_watchlist(watchlist, config))
    new_id = _edit(lambda: add_keywords(path, name, term, id=id, priority=priority))
    console.print(f"added keyword group [bold]{escape(new_id)}[/] to {escape(str(path))}")


@add_app.command("alias")
def add_alias_command(
    item_id: Annotated[str, typer.Argument(metavar="ID", help="an entity (or keyword group) id")],
    alias: Annotated[str, typer.Argument(metavar="ALIAS", help="the name (or term) to add")],
    watchlist: WatchlistOption = None,
    config: ConfigOption = None,
) -> None:
    """Add an alias to an entity (a term to a keyword group)."""
    path = _edit(lambda: resolve_watchlist(watchlist, config))
    if _edit(lambda: add_alias(path, item_id, alias)):
        console.print(f"added {escape(alias)!r} to [bold]{escape(item_id)}[/]")
    else:
        console.print(f"{escape(item_id)} already has {escape(alias)!r}")


@watch_app.command("remove")
def remove_command(
    item_id: Annotated[
        str, typer.Argument(metavar="ID", help="an entity, keyword group or rule id")
    ],
    watchlist: WatchlistOption = None,
    config: ConfigOption = None,
) -> None:
    """Remove an entity, keyword group or rule (refused while a rule uses it)."""
    path = _edit(lambda: resolve_watchlist(watchlist, config))
    kind = _edit(lambda: remove_item(path, item_id))
    console.print(f"removed {kind} [bold]{escape(item_id)}[/] from {escape(str(path))}")
