"""`ingest flags` and `ingest rematch`: what was flagged, and re-applying the watchlist."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ingest.cli_common import (
    EXIT_USAGE,
    ConfigOption,
    console,
    errors_as_exit_codes,
    fail,
    iso,
    parse_since,
    settings_for,
)
from ingest.db import check_schema, create_db_engine
from ingest.flagging import rematch
from ingest.flagstore import PRIORITY_ORDER, count_articles, list_flags
from ingest.match import compile_matcher
from ingest.watchlist import load_watchlist

PRIORITIES = ("high", "medium", "low")


def flags_command(
    since: Annotated[str | None, typer.Option(help="raised since (2026-11-20, 24h, 7d)")] = None,
    priority: Annotated[
        str | None, typer.Option(help="this priority or higher: high, medium, low")
    ] = None,
    limit: Annotated[int, typer.Option(help="at most this many")] = 200,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object per flag")] = False,
    config: ConfigOption = None,
) -> None:
    """List flags with their evidence, newest first."""
    settings = settings_for(config)
    wanted = None
    if priority:
        if priority not in PRIORITY_ORDER:
            fail(f"--priority must be one of {', '.join(PRIORITIES)}", EXIT_USAGE)
        wanted = [p for p in PRIORITIES if PRIORITY_ORDER[p] <= PRIORITY_ORDER[priority]]
    engine = create_db_engine(settings.database)
    with errors_as_exit_codes():
        check_schema(engine)
        flags = list_flags(engine, since=parse_since(since), priorities=wanted, limit=limit)
    if json_out:
        for flag in flags:
            print(
                json.dumps(
                    {
                        "id": flag.id,
                        "article_id": flag.article_id,
                        "rule": flag.rule,
                        "kind": flag.kind,
                        "name": flag.name,
                        "priority": flag.priority,
                        "evidence": flag.evidence,
                        "field": flag.field,
                        "source": flag.source,
                        "mentions": flag.mentions,
                        "raised_at": iso(flag.raised_at),
                        "title": flag.title,
                        "url": flag.url,
                        "published": iso(flag.published_at),
                        "feed": flag.feed_title or flag.feed_url,
                    },
                    ensure_ascii=False,
                )
            )
        return
    table = Table(title=f"{len(flags)} flags", expand=True, show_lines=True)
    for column in ("Raised", "Priority", "Rule", "Article", "Evidence"):
        table.add_column(column, overflow="fold")
    colors = {"high": "bold red", "medium": "yellow", "low": "cyan"}
    for flag in flags:
        table.add_row(
            flag.raised_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            f"[{colors.get(flag.priority, '')}]{flag.priority}[/]",
            escape(flag.name),
            # Feed text is untrusted: escaped so "[...]" in a headline is shown, not parsed.
            f"{escape(flag.title)}\n[dim]{escape(flag.feed_title or flag.feed_url)}[/]\n"
            f"{escape(flag.url or '')}",
            escape(flag.evidence),
        )
    console.print(table)


def rematch_command(
    since: Annotated[str | None, typer.Option(help="only articles seen or published since")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show what would change, change nothing")
    ] = False,
    watchlist: Annotated[
        Path | None, typer.Option(help="watchlist to apply (else the configured one)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Apply the current watchlist to stored articles (idempotent)."""
    settings = settings_for(config)
    engine = create_db_engine(settings.database)
    with errors_as_exit_codes():
        check_schema(engine)
        matcher = compile_matcher(load_watchlist(watchlist or settings.watchlist_file))
        start = parse_since(since)
        total = count_articles(engine, start)
        with Progress(
            TextColumn("rematch"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("articles", total=total)
            report = rematch(
                engine,
                matcher,
                start,
                dry_run=dry_run,
                progress=lambda n: bar.advance(task, n),
                now=datetime.now(UTC),
            )
    verb = "would add" if dry_run else "added"
    verb_removed = "would remove" if dry_run else "removed"
    console.print(
        f"{report.articles} articles matched against watchlist {matcher.version}: "
        f"{verb} {report.added} flags, {verb_removed} {report.removed}"
    )
    if not report.by_rule:
        return
    table = Table(expand=True, show_lines=True)
    for column in ("Rule", "Added", "Removed", "Examples"):
        table.add_column(column, overflow="fold")
    for rule, change in sorted(report.by_rule.items()):
        examples = [f"+ {title}: {evidence}" for _id, title, evidence in change.examples_added]
        examples += [f"- {title}" for _id, title in change.examples_removed]
        table.add_row(rule, str(change.added), str(change.removed), "\n".join(examples))
    console.print(table)
