"""`ingest digest` and `ingest demo`."""

from __future__ import annotations

import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Table

from ingest.cli_common import (
    EXIT_USAGE,
    ConfigOption,
    console,
    errors_as_exit_codes,
    fail,
    parse_since,
    settings_for,
    setup_logging,
)
from ingest.db import check_schema, create_db_engine
from ingest.digest.period import due_day
from ingest.flagstore import list_flags

Format = Literal["text", "md", "html", "json"]


def digest_command(
    day: Annotated[
        str | None, typer.Option("--date", help="the digest of this day (YYYY-MM-DD)")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="instead of a day: from this time until now (24h, 2026-11-20)"),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="text, md, html or json")] = "text",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to this file")
    ] = None,
    deliver: Annotated[
        bool,
        typer.Option("--deliver", help="write the day's files and mail it, as the daemon does"),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="with --deliver: rebuild a digest already built")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Build the digest: to the terminal, a file, or (--deliver) the daily files and mail."""
    # Here, not at the top: every other command (and `run`) would import Jinja and mail.
    from ingest.digest.job import build_for_day, build_for_period, produce_daily_digest
    from ingest.digest.render import render

    settings = settings_for(config)
    setup_logging(settings, quiet=True)
    if day and since:
        fail("give --date or --since, not both", EXIT_USAGE)
    engine = create_db_engine(settings.database)
    now = datetime.now(UTC)
    tz = ZoneInfo(settings.digest.timezone)
    try:
        target = date.fromisoformat(day) if day else due_day(now, settings.digest.time, tz)
    except ValueError:
        fail(f"--date: {day!r} is not a date (YYYY-MM-DD)", EXIT_USAGE)
    with errors_as_exit_codes():
        check_schema(engine)
        if deliver:
            run = produce_daily_digest(engine, settings, target, now, force=force)
            if run is None:
                console.print(f"the digest of {target} was already built (--force rebuilds it)")
            else:
                for path in run.files:
                    console.print(f"wrote {path}")
                if run.emailed:
                    console.print(
                        "mailed to "
                        + ", ".join(
                            settings.digest.email.recipients if settings.digest.email else []
                        )
                    )
            return
        start = parse_since(since)
        digest = (
            build_for_period(engine, settings, start, now, now)
            if start
            else build_for_day(engine, settings, target, now)
        )
    text = render(digest, fmt)
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
    elif fmt == "text":
        console.print(text, highlight=False, markup=False, end="", soft_wrap=True)
    else:
        sys.stdout.write(text)


def demo_command(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="keep the demo instance here")
    ] = None,
) -> None:
    """Offline end to end: a local feed server, two poll rounds, the flags and the digest."""
    from ingest.cli import starter_config_dir
    from ingest.demo import DemoFeedServer, demo_directory, run_rounds, write_instance
    from ingest.digest.job import build_for_period
    from ingest.digest.render import render
    from ingest.settings import load_settings

    began = time.monotonic()
    started = datetime.now(UTC)
    setup_logging(None, quiet=True)
    with (
        errors_as_exit_codes(),
        demo_directory(directory) as root,
        DemoFeedServer(started) as server,
    ):
        console.rule("[bold]ingest demo")
        console.print(f"instance: {root}\nfeed server: {server.url('')}\n")
        instance = write_instance(root, server, starter_config_dir() / "watchlist.toml")
        for line in run_rounds(instance, server):
            console.print(line, soft_wrap=True)
        settings = load_settings(instance.config, env={})
        engine = create_db_engine(settings.database)
        flags = list_flags(engine, since=started - timedelta(minutes=1))
        _print_flags(flags)
        digest = build_for_period(
            engine, settings, started - timedelta(days=1), datetime.now(UTC), datetime.now(UTC)
        )
        console.rule("[bold]the digest")
        console.print(render(digest, "text"), highlight=False, markup=False, end="", soft_wrap=True)
        html = root / "digest.html"
        html.write_text(render(digest, "html"), encoding="utf-8")
        engine.dispose()
    console.rule()
    console.print(f"HTML digest: {html}")
    console.print(
        f"the demo instance stays in {root}: try `ingest status --config {instance.config}`"
    )
    console.print(f"done in {time.monotonic() - began:.1f} s")


def _print_flags(flags: list) -> None:  # type: ignore[type-arg]
    table = Table(title=f"{len(flags)} flags raised", expand=True, show_lines=True)
    for column in ("Priority", "Rule", "Article", "Evidence"):
        table.add_column(column, overflow="fold")
    for flag in sorted(
        flags, key=lambda f: ({"high": 0, "medium": 1, "low": 2}[f.priority], f.name)
    ):
        table.add_row(
            flag.priority,
            escape(flag.name),
            f"{escape(flag.title)}\n[dim]{escape(flag.feed_title or flag.feed_url)}[/]",
            escape(flag.evidence),
        )
    console.print(table)
