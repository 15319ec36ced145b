"""What every command shares: finding the instance, options, errors as one line, exit codes."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from ingest.errors import ConfigError, IngestError, SchemaError
from ingest.settings import Settings, load_settings, parse_duration

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="ingest.toml to use (else $INGEST_CONFIG, ./config/ingest.toml)",
        show_default=False,
    ),
]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="debug logs and tracebacks")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="warnings and errors only")]

T = TypeVar("T")
_verbose = False


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    # Escaped: a message such as "[polling.interval] ..." is text, not Rich markup.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def errors_as_exit_codes(verbose: bool = False) -> Iterator[None]:
    """Library errors become one line and an exit code, only at the command boundary."""
    try:
        yield
    except ConfigError as exc:
        if verbose or _verbose:
            traceback.print_exc()
        fail(str(exc), EXIT_USAGE)
    except SchemaError as exc:
        fail(str(exc), EXIT_FAILURE)
    except IngestError as exc:
        if verbose or _verbose:
            traceback.print_exc()
        fail(str(exc), EXIT_FAILURE)


def settings_for(config: Path | None) -> Settings:
    with errors_as_exit_codes():
        return load_settings(config)


def setup_logging(settings: Settings | None, verbose: bool = False, quiet: bool = False) -> None:
    global _verbose
    _verbose = verbose
    level = logging.DEBUG if verbose else logging.WARNING if quiet else None
    if level is None:
        level = getattr(logging, (settings.log_level if settings else "info").upper())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _UTCFormatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("ingest").setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING if not verbose else logging.INFO)


class _UTCFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).strftime(datefmt or "%Y-%m-%dT%H:%M:%SZ")


def parse_since(value: str | None, now: datetime | None = None) -> datetime | None:
    """--since: 2026-11-20, 2026-11-20T08:00:00Z, or a duration back from now (7d, 12h)."""
    if not value:
        return None
    now = now or datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        pass
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    except ValueError:
        pass
    try:
        return now - timedelta(seconds=parse_duration(value))
    except ValueError:
        fail(
            f"--since: {value!r} is not a date (2026-11-20), a time (2026-11-20T08:00Z) "
            "or a duration (7d, 12h)",
            EXIT_USAGE,
        )


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    seconds = (now - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            text = f"{int(seconds // size)}{unit}"
            break
    else:
        text = f"{int(seconds)}s"
    return f"in {text}" if future else f"{text} ago"


def call(fn: Callable[[], T]) -> T:
    with errors_as_exit_codes():
        return fn()
