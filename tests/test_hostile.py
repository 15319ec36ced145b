"""One daemon cycle over every hostile feed of issue 5, alongside healthy feeds.

`ingest run --once` runs as a real process against the real test server. Each hostile
feed must end with its own error in `ingest status --json` (the line an operator acts
on), the healthy feeds must store every article, and the process must stay within
memory while it refuses 2 GB bodies and gzip bombs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

import pytest

from tests.conftest import DATA, Instance, write_config
from tests.feedserver import SLOW_BODY, FeedServer
from tests.helpers import jsonl, query, rss, story

FEEDS = DATA / "feeds"
CAP = 16 * 2**20  # the default http.max_body_size
MAX_RSS_MB = 300
TOTAL_TIMEOUT = 5.0


@dataclass(frozen=True)
class Hostile:
    path: str
    error: str  # a substring of `last_error` in `ingest status --json`
    status: int | None = None  # http_status
    allow_private: bool = True  # operator-configured on 127.0.0.1 (allowPrivate in the OPML)


def expected_entries(name: str) -> int:
    golden = json.loads((FEEDS / f"{name}.expected.json").read_text(encoding="utf-8"))
    return len(golden.get("entries") or [])


def xxe_http(server: FeedServer) -> str:
    return (
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY remote SYSTEM '
        f'"{server.url("/xxe-target.dtd")}">]><rss version="2.0"><channel><title>x</title>'
        "<item><guid>x-1</guid><title>&remote;</title></item></channel></rss>"
    )


def twenty_thousand_items() -> str:
    return rss([story(i, minutes=i) for i in range(20_000)], title="Twenty thousand")


def megabyte_title() -> str:
    return rss([story(1, title="Convoy " * 150_000), story(2)], title="Big title")


def bare_items() -> str:
    """Items without guid, link, title or date, one of each, and one with none of them."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Bare</title>'
        "<link>https://bare.example/</link>"
        "<item><title>No guid</title><link>https://bare.example/1</link></item>"
        "<item><guid>b-2</guid><title>No link</title></item>"
        "<item><guid>b-3</guid><link>https://bare.example/3</link></item>"
        "<item><description>Nothing but a description.</description></item>"
        "</channel></rss>"
    )


def hostile_routes(server: FeedServer, now: datetime) -> list[Hostile]:
    """Install every misbehaving path; return what each must say in `ingest status`."""
    timeout = f"timeout: no complete response within {TOTAL_TIMEOUT:g}s"
    server.slow("/slow-headers.xml", header_delay=60.0)
    server.slow("/trickle.xml", trickle_bytes_per_s=1.0, body=SLOW_BODY)
    server.huge("/huge-length.xml", 2 * 2**30)
    server.huge("/huge-chunked.xml", 2 * 2**30, content_length=False)
    server.gzip("/gzip-bomb.xml", bomb_size=10 * 2**30)
    server.gzip("/deflate-bomb.xml", bomb_size=10 * 2**30, encoding="deflate")
    server.redirect("/loop-a.xml", "/loop-b.xml", status=302)
    server.redirect("/loop-b.xml", "/loop-a.xml", status=302)
    server.redirect("/to-file.xml", "file:///etc/passwd")
    server.redirect("/to-ftp.xml", "ftp://ftp.example.net/feed.xml", status=302)
    server.redirect("/to-metadata.xml", "http://169.254.169.254/latest/meta-data/", status=302)
    server.add("/loopback.xml", rss([story(1)]))  # configured without allowPrivate
    server.fail("/500.xml", 500, body="Internal error")
    server.fail("/503.xml", 503, headers={"Retry-After": "7200"})
    retry_at = format_datetime(now + timedelta(hours=3), usegmt=True)
    server.fail("/429.xml", 429, headers={"Retry-After": retry_at})
    server.fail("/404.xml", 404, body="not here")
    server.fail("/410.xml", 410)
    server.add_file("/page.html", FEEDS / "not-a-feed.html")
    server.add_file("/page-with-alternate.html", FEEDS / "html-with-alternate.html")
    server.add("/unreadable.xml", b"\x00\x9c\xff binary \x01\x02\x03 junk " * 40, "text/xml")
    server.add_file("/billion-laughs.xml", FEEDS / "billion-laughs.xml")
    server.add_file("/xxe-file.xml", FEEDS / "xxe-file.xml")
    server.add("/xxe-http.xml", xxe_http(server))
    server.add("/empty.xml", b"")
    return [
        Hostile("/slow-headers.xml", timeout),
        Hostile("/trickle.xml", timeout),
        Hostile("/huge-length.xml", f"too_large: body over the {CAP:,}-byte cap (Content-Length"),
        Hostile("/huge-chunked.xml", f"too_large: body over the {CAP:,}-byte cap"),
        Hostile("/gzip-bomb.xml", f"too_large: body over the {CAP:,}-byte cap (decoded)"),
        Hostile("/deflate-bomb.xml", f"too_large: body over the {CAP:,}-byte cap (decoded)"),
        Hostile("/loop-a.xml", "redirects: redirect loop back to"),
        Hostile("/to-file.xml", "scheme: refused redirect to 'file:///etc/passwd'"),
        Hostile("/to-ftp.xml", "scheme: refused redirect to 'ftp://ftp.example.net/feed.xml'"),
        Hostile("/to-metadata.xml", "blocked: refused to connect to 169.254.169.254: link-local"),
        Hostile(
            "/loopback.xml",
            "blocked: refused to connect to 127.0.0.1: loopback",
            allow_private=False,
        ),
        Hostile("/500.xml", "HTTP 500 Internal Server Error", 500),
        Hostile("/503.xml", "HTTP 503 Service Unavailable", 503),
        Hostile("/429.xml", "HTTP 429 Too Many Requests", 429),
        Hostile("/404.xml", "HTTP 404 Not Found", 404),
        Hostile("/410.xml", "HTTP 410 Gone", 410),
        Hostile("/page.html", "parse: not a feed: an HTML page", 200),
        # The page's relative <link rel="alternate"> resolved against where it was served.
        Hostile(
            "/page-with-alternate.html",
            "parse: not a feed: an HTML page; the page links its "
            f"feed at {server.url('/security/feed.xml')}",
            200,
        ),
        Hostile("/unreadable.xml", "parse: not a feed", 200),
        Hostile(
            "/billion-laughs.xml",
            "parse: refused: the feed declares a nested or long XML "
            "entity 'lol1', a known attack (entity expansion)",
            200,
        ),
        Hostile(
            "/xxe-file.xml",
            "parse: refused: the feed declares an external XML entity "
            "'passwd' (file:///etc/passwd), a known attack (XXE)",
            200,
        ),
        Hostile(
            "/xxe-http.xml",
            "parse: refused: the feed declares an external XML entity 'remote'",
            200,
        ),
        Hostile("/empty.xml", "parse: empty response body", 200),
    ]


def readable_routes(server: FeedServer) -> dict[str, int]:
    """Feeds that must be stored, odd or not: path -> articles expected."""
    files = {
        "/rss20.xml": "rss20.xml",
        "/atom10.xml": "atom10.xml",
        "/rss10.rdf": "rss10.rdf",
        "/jsonfeed11.json": "jsonfeed11.json",
        "/malformed-partial.xml": "malformed-partial.xml",
        "/wrong-charset.xml": "wrong-charset.xml",
        "/windows1256.xml": "rss20-windows1256.xml",
        "/utf16-bom.xml": "utf16-bom.xml",
        "/invalid-utf8.xml": "invalid-utf8.xml",
        "/nul-bytes.xml": "nul-bytes.xml",
        "/no-guids.xml": "no-guids.xml",
        "/dates-weird.xml": "dates-weird.xml",
    }
    expected: dict[str, int] = {}
    for path, name in files.items():
        server.add_file(path, FEEDS / name)
        expected[path] = expected_entries(name)
    # Two of the four items share guid conv-1: one article, updated in place.
    server.add_file("/dup-guids.xml", FEEDS / "dup-guids.xml")
    expected["/dup-guids.xml"] = expected_entries("dup-guids.xml") - 1
    server.add("/twenty-thousand.xml", twenty_thousand_items())
    expected["/twenty-thousand.xml"] = 20_000
    server.add("/megabyte-title.xml", megabyte_title())
    expected["/megabyte-title.xml"] = 2
    server.add("/bare-items.xml", bare_items())
    expected["/bare-items.xml"] = 4
    flagged = story(
        900,
        title="US trucks leave Ein al-Assad",
        description="A convoy of US trucks carried construction materials out of Ein al-Assad "
        "air base in al-Anbar towards the Syrian border on Sunday.",
    )
    server.add("/healthy.xml", rss([flagged, *[story(i) for i in range(1, 30)]]))
    expected["/healthy.xml"] = 30
    return expected


def write_opml(instance: Instance, feeds: list[tuple[str, bool]]) -> None:
    outlines = "\n".join(
        f'    <outline type="rss" text="{escape(path)}" '
        f'xmlUrl="{escape(instance.server.url(path))}"'
        + (' allowPrivate="true"' if private else "")
        + "/>"
        for path, private in feeds
    )
    (instance.config_dir / "feeds.opml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0"><head><title>h</title></head>'
        f"\n  <body>\n{outlines}\n  </body>\n</opml>\n",
        encoding="utf-8",
    )


@pytest.fixture
def hostile_instance(tmp_path: Path, feed_server: FeedServer) -> Instance:
    inst = Instance(tmp_path, feed_server)
    # Article pages (full text) would be fetched from the fixtures' public links.
    config = write_config(inst.config_dir, extra="[fulltext]\nenabled = false\n")
    text = config.read_text(encoding="utf-8")
    text = text.replace("allow_private_networks = true", "allow_private_networks = false")
    text = text.replace('total_timeout = "5s"', f'total_timeout = "{TOTAL_TIMEOUT:g}s"')
    text = text.replace('read_timeout = "3s"', 'read_timeout = "30s"')
    text = text.replace("[polling]\n", "[polling]\nper_host = 64\nconcurrency = 64\n")
    config.write_text(text.replace("workers = 1", "workers = 2"), encoding="utf-8")
    inst.write_feeds()
    inst.cli("db", "upgrade")
    return inst


def run_measured(instance: Instance, log: Path) -> tuple[int, float, float]:
    """`ingest run --once` as a process: (exit code, peak RSS in MB, seconds)."""
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingest", "run", "--once", "--config", str(instance.config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "INGEST_CONFIG": ""},
        )
        # wait4 reports the child's own peak RSS, and that of the parser processes it reaped.
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024, time.monotonic() - started


def test_one_cycle_over_every_hostile_feed_alongside_healthy_ones(
    hostile_instance: Instance, tmp_path: Path
) -> None:
    instance = hostile_instance
    server = instance.server
    now = datetime.now(UTC)
    hostile = hostile_routes(server, now)
    readable = readable_routes(server)
    write_opml(
        instance, [(h.path, h.allow_private) for h in hostile] + [(path, True) for path in readable]
    )

    log = tmp_path / "run.log"
    code, peak_mb, seconds = run_measured(instance, log)
    output = log.read_text()
    assert code == 0, output
    assert "Traceback" not in output, output
    print(
        f"hostile cycle: {len(hostile) + len(readable)} feeds, "
        f"peak RSS {peak_mb:.0f} MB, {seconds:.1f}s"
    )
    assert peak_mb < MAX_RSS_MB, f"peak RSS {peak_mb:.0f} MB"
    # The 60 s header delay and the trickle are cut by the total deadline, not waited out.
    assert seconds < 45

    status = {row["url"]: row for row in jsonl(instance.cli("status", "--json").output)}
    failures = []
    for feed in hostile:
        row = status[server.url(feed.path)]
        error = row["last_error"] or ""
        if feed.error not in error or row["consecutive_errors"] != 1 or row["articles"] != 0:
            failures.append(f"{feed.path}: {row}")
        if feed.status is not None and row["http_status"] != feed.status:
            failures.append(f"{feed.path}: http_status {row['http_status']} != {feed.status}")
    for path, articles in readable.items():
        row = status[server.url(path)]
        if row["last_error"] or row["consecutive_errors"] or row["articles"] != articles:
            failures.append(f"{path}: expected {articles} articles and no error: {row}")
    assert not failures, "\n".join(failures)

    # Each error is also the poll's log line, bound to its feed.
    assert f'feed={server.url("/gzip-bomb.xml")} status=- outcome=error error="too_large' in output
    # 410 retires the feed (its articles would stay); the others stay active and back off.
    gone = status[server.url("/410.xml")]
    assert gone["active"] is False and gone["retired"] and gone["next_poll"] is None
    assert "retired" in gone["last_error"]

    # Retry-After, in seconds and as an HTTP-date, pushes the next poll out.
    def next_poll(path: str) -> datetime:
        return datetime.fromisoformat(status[server.url(path)]["next_poll"].replace("Z", "+00:00"))

    assert abs((next_poll("/503.xml") - now).total_seconds() - 7200) < 120
    assert abs((next_poll("/429.xml") - now).total_seconds() - 3 * 3600) < 120

    # Nothing was expanded or read: no request for the external DTD, no /etc/passwd.
    assert server.hits("/xxe-target.dtd") == 0
    db = instance.settings.database
    assert (
        query(
            db,
            "SELECT count(*) FROM articles WHERE summary LIKE '%root:%' "
            "OR title LIKE '%root:%' OR title LIKE '%lollol%'",
        )[0][0]
        == 0
    )
    # The redirect to the metadata service never left the machine; the loop stopped.
    assert server.hits("/loop-a.xml") + server.hits("/loop-b.xml") <= 3

    # The malformed feed kept its readable items and says what was wrong in the fetch log.
    partial = query(
        db,
        "SELECT f.error FROM fetch_log f JOIN feeds d ON d.id = f.feed_id WHERE d.url = :url",
        url=server.url("/malformed-partial.xml"),
    )
    assert partial[0][0].startswith("warning: line 22, column 54: mismatched tag")
    # A 1 MB title is stored capped, not whole.
    longest = query(db, "SELECT max(length(title)) FROM articles")[0][0]
    assert longest <= 1_000
    # The healthy feed's flag was raised in the same cycle.
    flags = instance.cli("flags", "--json").output
    assert "Ein al-Assad" in flags
