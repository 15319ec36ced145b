"""The `ingest` command line (a contract: tests and benchmarks call it)."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from ingest import __version__
from ingest.cli_common import (
    EXIT_USAGE,
    ConfigOption,
    QuietOption,
    VerboseOption,
    ago,
    call,
    console,
    errors_as_exit_codes,
    fail,
    iso,
    parse_since,
    settings_for,
    setup_logging,
)
from ingest.cli_digest import demo_command, digest_command
from ingest.cli_feeds import feeds_app
from ingest.cli_flags import flags_command, rematch_command
from ingest.cli_fulltext import fulltext_command
from ingest.cli_match import match_command
from ingest.cli_watch import watch_app
from ingest.db import check_schema, create_db_engine, current_revision, head_revision, upgrade
from ingest.feedstore import feed_statuses
from ingest.flagstore import flagged_article_ids
from ingest.pagestore import PageCounts, page_counts
from ingest.store import ExportedArticle, iter_articles

app = typer.Typer(
    name="ingest",
    help="Media-monitoring feed ingester: polls news feeds, stores every article once, "
    "flags what the watchlist tracks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(feeds_app, name="feeds")
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

EXPORT_KEYS = ("id", "feed_url", "guid", "url", "title", "summary", "published", "first_seen")


def _version(value: bool) -> None:
    if value:
        console.print(f"ingest {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    """Media-monitoring feed ingester."""


# --- setup ---------------------------------------------------------------------------


def starter_config_dir() -> Path:
    packaged = Path(__file__).parent / "_starter_config"
    if (packaged / "ingest.toml").exists():
        return packaged
    return Path(__file__).resolve().parent.parent / "config"


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="where to write the config")] = Path("config"),
    force: Annotated[bool, typer.Option(help="overwrite existing files")] = False,
) -> None:
    """Write a commented starter config (ingest.toml, watchlist.toml, feeds.opml)."""
    source = starter_config_dir()
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("ingest.toml", "watchlist.toml", "feeds.opml"):
        target = directory / name
        if target.exists() and not force:
            console.print(f"kept {target} (exists; --force overwrites)")
            continue
        shutil.copyfile(source / name, target)
        if name == "ingest.toml" and directory.resolve().name != "config":
            # The repo's config keeps data beside it (../data); a fresh instance keeps it inside.
            text = target.read_text(encoding="utf-8").replace(
                'data_dir = "../data"', 'data_dir = "data"'
            )
            target.write_text(text, encoding="utf-8")
        console.print(f"wrote {target}")
    console.print(
        f"next: ingest db upgrade --config {directory / 'ingest.toml'} && "
        f"ingest run --config {directory / 'ingest.toml'}"
    )


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None, verbose: VerboseOption = False) -> None:
    """Create or migrate the database schema (Alembic)."""
    settings = settings_for(config)
    setup_logging(settings, verbose, quiet=True)
    engine = create_db_engine(settings.database)
    with errors_as_exit_codes(verbose):
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
    engine.dispose()
    url = engine.url.render_as_string(hide_password=True)
    if before == after:
        console.print(f"database {url} is up to date (schema {after})")
    else:
        console.print(f"database {url} upgraded from {before or 'empty'} to {after}")


@db_app.command("current")
def db_current(config: ConfigOption = None) -> None:
    """Show the schema revision of the database and the one this version needs."""
    settings = settings_for(config)
    engine = create_db_engine(settings.database)
    with errors_as_exit_codes():
        console.print(
            f"database: {current_revision(engine) or 'empty'}; this version: {head_revision()}"
        )


# --- the daemon ----------------------------------------------------------------------


@app.command()
def run(
    once: Annotated[bool, typer.Option("--once", help="poll every due feed once and exit")] = False,
    all_feeds: Annotated[
        bool, typer.Option("--all", help="with --once: every feed, due or not")
    ] = False,
    parser: Annotated[
        Literal["auto", "feedparser"] | None,
        typer.Option(
            "--parser",
            help="auto (fast path for well-formed feeds) or feedparser; "
            "default: the parse.parser setting",
        ),
    ] = None,
    config: ConfigOption = None,
    verbose: VerboseOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run the daemon (polls forever; SIGTERM stops, SIGHUP reloads)."""
    from ingest.daemon import Daemon
    from ingest.flagging import WatchlistFlaggers

    if all_feeds and not once:
        fail("--all goes with --once", EXIT_USAGE)
    settings = settings_for(config)
    if parser is not None:
        settings = settings.model_copy(
            update={"parse": settings.parse.model_copy(update={"parser": parser})}
        )
    setup_logging(settings, verbose, quiet)
    with errors_as_exit_codes(verbose):
        daemon = Daemon(settings, flagger_factory=WatchlistFlaggers.load)
        code = asyncio.run(daemon.run(once=once, everything=all_feeds))
    raise typer.Exit(code)


# --- reading what was stored ---------------------------------------------------------


@app.command()
def status(
    config: ConfigOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """Each feed's health: last poll, last success, HTTP status, errors, next poll, articles."""
    settings = settings_for(config)
    engine = create_db_engine(settings.database)
    with errors_as_exit_codes():
        check_schema(engine)
        rows = feed_statuses(engine)
        pages = page_counts(engine)
    now = datetime.now(UTC)
    if json_out:
        for row in rows:
            page = pages.get(row.id, PageCounts())
            print(
                json.dumps(
                    {
                        "url": row.url,
                        "title": row.title,
                        "active": row.active,
                        "retired": row.retired_reason,
                        "last_poll": iso(row.last_polled_at),
                        "last_success": iso(row.last_success_at),
                        "http_status": row.last_status,
                        "consecutive_errors": row.consecutive_errors,
                        "error_since": iso(row.error_since),
                        "last_error": row.last_error,
                        "next_poll": iso(row.next_poll_at) if row.active else None,
                        "articles": row.articles,
                        "pages": {
                            "pending": page.pending,
                            "fetched": page.fetched,
                            "failed": page.failed,
                            "failures": page.failures,
                        },
                    },
                    ensure_ascii=False,
                )
            )
        return
    failing = sum(1 for r in rows if r.active and r.consecutive_errors)
    page_failed = sum(p.failed for p in pages.values())
    table = Table(
        title=f"{len(rows)} feeds, {failing} failing, "
        f"{sum(r.articles for r in rows)} articles, {page_failed} page failures",
        expand=True,
    )
    for column in (
        "Feed",
        "Last poll",
        "Last success",
        "HTTP",
        "Errors",
        "Last error",
        "Next poll",
        "Articles",
        "Page failures",
    ):
        table.add_column(
            column,
            overflow="fold",
            justify="right" if column in ("Articles", "Page failures") else "left",
        )
    for row in rows:
        style = "dim" if not row.active else "red" if row.consecutive_errors else None
        table.add_row(
            escape(row.title or row.url),  # feed-provided text, not Rich markup
            ago(row.last_polled_at, now),
            ago(row.last_success_at, now),
            str(row.last_status or "-"),
            str(row.consecutive_errors),
            escape((row.last_error or "")[:120]),
            ago(row.next_poll_at, now)
            if row.active
            else f"retired: {escape(row.retired_reason or '')}",
            str(row.articles),
            _page_failures(pages.get(row.id)),
            style=style,
        )
    console.print(table)


def _page_failures(page: PageCounts | None) -> str:
    """ "2 (http_403 1, robots 1)": the article pages of a feed that could not be had."""
    if page is None or not page.failed:
        return "0"
    return (
        f"{page.failed} (" + ", ".join(f"{k} {n}" for k, n in sorted(page.failures.items())) + ")"
    )


@contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        yield handle


def export_record(article: ExportedArticle) -> dict[str, object]:
    return {
        "id": article.id,
        "feed_url": article.feed_url,
        "guid": article.guid,
        "url": article.url,
        "title": article.title,
        "summary": article.summary,
        "published": iso(article.published),
        "first_seen": iso(article.first_seen),
    }


@app.command()
def export(
    fmt: Annotated[
        Literal["jsonl", "csv"], typer.Option("--format", "-f", help="jsonl or csv")
    ] = "jsonl",
    since: Annotated[
        str | None, typer.Option(help="first seen or published since (date or 7d)")
    ] = None,
    flagged: Annotated[bool, typer.Option("--flagged", help="only articles with flags")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    config: ConfigOption = None,
) -> None:
    """Write stored articles (id, feed_url, guid, url, title, summary, published, first_seen)."""
    settings = settings_for(config)
    engine = create_db_engine(settings.database)
    with errors_as_exit_codes():
        check_schema(engine)
    ids = None
    if flagged:
        ids = call(lambda: flagged_article_ids(engine, parse_since(since)))
    articles = iter_articles(engine, parse_since(since), article_ids=ids)
    with _output(output) as out:
        if fmt == "jsonl":
            for article in articles:
                out.write(json.dumps(export_record(article), ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(out, fieldnames=EXPORT_KEYS)
            writer.writeheader()
            for article in articles:
                writer.writerow(export_record(article))


app.command("match", help="What the watchlist would flag in a text, and why.")(match_command)
app.command("flags", help="List flags with their evidence.")(flags_command)
app.command("rematch", help="Apply the current watchlist to stored articles.")(rematch_command)
app.command("fulltext", help="Fetch and extract article pages for truncated entries.")(
    fulltext_command
)
app.add_typer(watch_app, name="watch", help="List and edit the watchlist file (comments kept).")
app.command("digest", help="Build the digest (terminal, file, or the daily files and mail).")(
    digest_command
)
app.command("demo", help="Offline end-to-end demo on sample feeds shipped in the package.")(
    demo_command
)


def main() -> None:
    app()
