"""`ingest demo`: the whole pipeline offline, on feeds shipped in the package.

A local feed server on 127.0.0.1 serves English, Arabic, Atom and JSON Feed samples
written for the demo; the daemon's pipeline polls them in a temporary instance for two
rounds; the flags and the digest are shown, and the HTML digest is left on disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FEEDS = Path(__file__).parent / "feeds"
CONTENT_TYPES = {
    ".xml": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".json": "application/feed+json",
}


class DemoFeedServer:
    """Serves the sample feeds of the current round, with ETag and 304s like a real server."""

    def __init__(self, started: datetime) -> None:
        self.started = started
        self.round = 1
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/{name}"

    def names(self, round_number: int) -> list[str]:
        return sorted(p.name for p in (FEEDS / f"round{round_number}").iterdir())

    def body(self, name: str) -> bytes | None:
        path = FEEDS / f"round{self.round}" / name
        if not path.is_file():
            return None
        return self._render(path.read_text(encoding="utf-8")).encode("utf-8")

    def _render(self, text: str) -> str:
        def rfc822(match: re.Match[str]) -> str:
            return format_datetime(self.started - timedelta(minutes=int(match.group(1))))

        def iso(match: re.Match[str]) -> str:
            return (self.started - timedelta(minutes=int(match.group(1)))).isoformat()

        text = re.sub(r"\{\{minutes_ago:(\d+)\}\}", rfc822, text)
        return re.sub(r"\{\{iso_minutes_ago:(\d+)\}\}", iso, text)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                body = server.body(name)
                if body is None:
                    self.send_error(404)
                    return
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                suffix = Path(name).suffix
                self.send_header(
                    "Content-Type", CONTENT_TYPES.get(suffix, "application/xml") + "; charset=utf-8"
                )
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> DemoFeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


DEMO_SETTINGS = """# The demo's instance: written by `ingest demo`.
data_dir = "data"
feeds_file = "feeds.opml"
watchlist_file = "watchlist.toml"
log_level = "warning"

[polling]
jitter = 0

[parse]
workers = 1

[digest]
timezone = "Asia/Baghdad"
title = "ingest demo digest"

# The sample stories link to demo.invalid, which has no pages to fetch.
[fulltext]
mode = "never"
"""


@dataclass(frozen=True, slots=True)
class DemoInstance:
    root: Path
    config: Path


def write_instance(root: Path, server: DemoFeedServer, watchlist: Path) -> DemoInstance:
    """A complete instance directory: settings, the feeds file (the demo server), the watchlist."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "ingest.toml").write_text(DEMO_SETTINGS, encoding="utf-8")
    shutil.copyfile(watchlist, root / "watchlist.toml")
    instance = DemoInstance(root, root / "ingest.toml")
    write_feeds_file(instance, server, server.names(1))
    return instance


def write_feeds_file(instance: DemoInstance, server: DemoFeedServer, names: list[str]) -> None:
    outlines = "\n".join(
        # allowPrivate: the demo server is on loopback, which feeds are otherwise refused.
        f'    <outline type="rss" text="{name}" xmlUrl="{server.url(name)}" allowPrivate="true"/>'
        for name in names
    )
    (instance.root / "feeds.opml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">\n'
        "  <head><title>demo</title></head>\n"
        f"  <body>\n{outlines}\n  </body>\n</opml>\n",
        encoding="utf-8",
    )


@contextmanager
def demo_directory(directory: Path | None) -> Iterator[Path]:
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        yield directory
        return
    yield Path(tempfile.mkdtemp(prefix="ingest-demo-"))


def run_rounds(instance: DemoInstance, server: DemoFeedServer, rounds: int = 2) -> list[str]:
    """Poll every feed once per round, in-process, as `ingest run --once --all` would."""
    from ingest.daemon import Daemon
    from ingest.db import create_db_engine, upgrade
    from ingest.flagging import WatchlistFlaggers
    from ingest.settings import load_settings

    settings = load_settings(instance.config, env={})
    engine = create_db_engine(settings.database)
    upgrade(engine)
    engine.dispose()
    lines = []
    for number in range(1, rounds + 1):
        server.round = number
        # A feed that appears in a later round is added to the file, as a user would.
        write_feeds_file(instance, server, server.names(number))
        daemon = Daemon(settings, flagger_factory=WatchlistFlaggers.load)
        asyncio.run(daemon.run(once=True, everything=True))
        lines.append(f"round {number}: {daemon.last_stats.line()}")
    return lines


def now_utc() -> datetime:
    return datetime.now(UTC)
