"""`ingest feeds …`: edit the feeds file (OPML); the database follows."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ingest import feedsfile
from ingest.cli_common import ConfigOption, call, console, errors_as_exit_codes, fail, settings_for
from ingest.db import check_schema, create_db_engine
from ingest.errors import StorageError
from ingest.feedstore import sync_feeds
from ingest.settings import Settings, format_duration, parse_duration

feeds_app = typer.Typer(
    help="List, add, remove, import and export the feeds to poll (the OPML file).",
    no_args_is_help=True,
)


def _sync_database(settings: Settings) -> None:
    """Let the database follow the file now, when it is ready; the daemon also does on change."""
    engine = create_db_engine(settings.database)
    try:
        check_schema(engine)
    except StorageError:
        return
    finally:
        engine.dispose()
    engine = create_db_engine(settings.database)
    try:
        sync_feeds(engine, feedsfile.read_feeds_file(settings.feeds_file), datetime.now(UTC))
    finally:
        engine.dispose()


@feeds_app.command("add")
def add(
    url: str,
    interval: Annotated[
        str | None, typer.Option(help="poll interval for this feed, e.g. 15m")
    ] = None,
    title: Annotated[str | None, typer.Option(help="a title (else the feed's own)")] = None,
    category: Annotated[str | None, typer.Option(help="group it under this category")] = None,
    config: ConfigOption = None,
) -> None:
    """Add a feed to the feeds file."""
    settings = settings_for(config)
    if not url.lower().startswith(("http://", "https://")):
        fail(f"{url!r} is not an http(s) URL", 2)
    seconds = None
    if interval:
        try:
            seconds = parse_duration(interval)
        except ValueError as exc:
            fail(f"--interval: {exc}", 2)
    added = call(
        lambda: feedsfile.add_feed(
            settings.feeds_file, url, title=title, interval=seconds, category=category
        )
    )
    call(lambda: _sync_database(settings))
    if added:
        console.print(f"added {url} to {settings.feeds_file}")
    else:
        console.print(f"{url} is already in {settings.feeds_file}")


@feeds_app.command("remove")
def remove(url: str, config: ConfigOption = None) -> None:
    """Remove a feed from the feeds file (its articles stay in the database)."""
    settings = settings_for(config)
    if not call(lambda: feedsfile.remove_feed(settings.feeds_file, url)):
        fail(f"{url} is not in {settings.feeds_file}")
    call(lambda: _sync_database(settings))
    console.print(f"removed {url}; its stored articles are kept")


@feeds_app.command("list")
def list_feeds(config: ConfigOption = None) -> None:
    """The feeds the file declares (a table on a terminal, tab-separated lines in a pipe)."""
    settings = settings_for(config)
    feeds = call(lambda: feedsfile.read_feeds_file(settings.feeds_file))
    rows = [
        (
            feed.url,
            feed.title or "",
            feed.category or "",
            format_duration(feed.interval) if feed.interval else "default",
        )
        for feed in feeds
    ]
    if not console.is_terminal:
        # Piped into grep/cut/xargs: a folded table would break the URLs.
        for row in rows:
            sys.stdout.write("\t".join(row) + "\n")
        return
    table = Table(title=f"{len(feeds)} feeds in {settings.feeds_file}", expand=False)
    table.add_column("URL", no_wrap=True)
    for column in ("Title", "Category", "Interval"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)


@feeds_app.command("import")
def import_(file: Path, config: ConfigOption = None) -> None:
    """Add every feed of an OPML file (another reader's export) to the feeds file."""
    settings = settings_for(config)
    added = call(lambda: feedsfile.import_opml(settings.feeds_file, file))
    call(lambda: _sync_database(settings))
    console.print(f"imported {len(added)} new feeds from {file} into {settings.feeds_file}")


@feeds_app.command("export")
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (else stdout)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Write the feeds as OPML 2.0, the format every feed reader imports."""
    settings = settings_for(config)
    with errors_as_exit_codes():
        text = feedsfile.write_opml(feedsfile.read_feeds_file(settings.feeds_file))
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
