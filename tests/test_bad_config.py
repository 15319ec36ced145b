"""Bad configuration at the command line: `ingest run` refuses at start with exit code 2 and
one line naming the file, the line and the field; a running daemon keeps its last good
configuration when a file goes bad, and says why.

The loaders' own tests (test_settings, test_watchlist, test_feedsfile) check the error
objects; these check what an operator sees.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import DATA, Instance
from tests.helpers import query, rss, story
from tests.test_watchlist import INVALID as INVALID_WATCHLISTS

CONFIGS = DATA / "config"
WATCHLISTS = DATA / "watchlists"

# (fixture under tests/data/config, line, field or None, words the message must contain)
INVALID_SETTINGS = [
    ("ingest-type-error.toml", 7, "http.max_redirects", "valid integer"),
    ("ingest-unknown-key.toml", 8, "polling.intervall", "unknown key"),
    ("ingest-broken-toml.toml", 6, None, "invalid TOML"),
    ("ingest-bad-duration.toml", 7, "polling.interval", "not a duration"),
    ("ingest-bad-timezone.toml", 8, "digest.timezone", "not a time zone"),
]
INVALID_FEEDS = [
    ("feeds-broken-xml.opml", 6, None, "invalid XML"),
    ("feeds-not-http.opml", 6, "outline.xmlUrl", "must be an http(s) URL"),
    ("feeds-bad-interval.opml", 7, "outline.interval", "'often' is not a duration"),
    ("feeds-bad-fulltext.opml", 5, "outline.fullText", "auto, always or never"),
    ("feeds-not-opml.opml", 1, None, "not an OPML file"),
]


def assert_refused(output: str, path: Path, line: int, field: str | None, words: str) -> None:
    lines = [text for text in output.splitlines() if text.strip()]
    assert len(lines) == 1, output  # one line, no traceback
    where = f"error: {path}:{line}:"
    assert lines[0].startswith(where), output
    if field is not None:
        assert f"[{field}]" in lines[0], output
    assert words in lines[0], output


@pytest.mark.parametrize(("name", "line", "field", "words"), INVALID_SETTINGS)
def test_a_bad_ingest_toml_stops_run_with_exit_2(
    instance: Instance, name: str, line: int, field: str | None, words: str
) -> None:
    shutil.copyfile(CONFIGS / name, instance.config)
    result = instance.cli("run", "--once", expect=2)
    assert_refused(result.output, instance.config, line, field, words)


@pytest.mark.parametrize(("name", "line", "field", "words"), INVALID_WATCHLISTS)
def test_a_bad_watchlist_stops_run_with_exit_2(
    instance: Instance, name: str, line: int, field: str | None, words: str
) -> None:
    target = instance.config_dir / "watchlist.toml"
    shutil.copyfile(WATCHLISTS / name, target)
    result = instance.cli("run", "--once", expect=2)
    assert_refused(result.output, target.resolve(), line, field, words)


@pytest.mark.parametrize(("name", "line", "field", "words"), INVALID_FEEDS)
def test_a_bad_feeds_file_stops_run_with_exit_2(
    instance: Instance, name: str, line: int, field: str | None, words: str
) -> None:
    target = instance.config_dir / "feeds.opml"
    shutil.copyfile(CONFIGS / name, target)
    result = instance.cli("run", "--once", expect=2)
    assert_refused(result.output, target.resolve(), line, field, words)
    # Nothing was polled or retired on the strength of a broken file.
    assert query(instance.settings.database, "SELECT count(*) FROM fetch_log")[0][0] == 0


def start_daemon(instance: Instance, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ingest", "run", "--config", str(instance.config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "INGEST_CONFIG": ""},
        )


@pytest.fixture
def daemon(instance: Instance, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        procs.append(start_daemon(instance, tmp_path / "daemon.log"))
        return procs[-1]

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_daemon_itself_refuses_a_bad_watchlist_at_start(
    instance: Instance, daemon: Callable[[], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    target = instance.config_dir / "watchlist.toml"
    shutil.copyfile(WATCHLISTS / "unknown_reference.toml", target)
    proc = daemon()
    assert proc.wait(timeout=30) == 2
    out = (tmp_path / "daemon.log").read_text()
    assert f"{target.resolve()}:16: [rules[0].all[1]]" in out, out
    assert "daemon started" not in out


def wait_for(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not met within {timeout}s")


FLAGGABLE = (
    "A convoy of US trucks carried construction materials out of Ein al-Assad air base "
    "in al-Anbar towards the Syrian border."
)


def test_on_reload_a_broken_file_is_refused_and_the_last_good_config_stays(
    instance: Instance, daemon: Callable[[], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    server = instance.server
    db = instance.settings.database
    log = tmp_path / "daemon.log"
    config = instance.config.read_text().replace('interval = "30m"', 'interval = "1s"')
    instance.config.write_text(config.replace("[polling]\n", '[polling]\nmin_interval = "1s"\n'))
    items = [story(1, description=FLAGGABLE)]
    server.add("/a.xml", rss(items))
    instance.write_feeds("/a.xml")
    proc = daemon()

    def flags() -> int:
        return int(query(db, "SELECT count(*) FROM flags")[0][0])

    wait_for(lambda: flags() == 2, what="the first story flagged")

    # A watchlist rule naming an id that does not exist, then SIGHUP.
    watchlist = instance.config_dir / "watchlist.toml"
    good_watchlist = watchlist.read_text(encoding="utf-8")
    watchlist.write_text(
        good_watchlist + '\n[[rules]]\nid = "broken"\nname = "Broken"\nall = ["nowhere"]\n',
        encoding="utf-8",
    )
    # The feeds file loses its closing tags (an editor saved half of it).
    feeds = instance.config_dir / "feeds.opml"
    good_feeds = feeds.read_text(encoding="utf-8")
    feeds.write_text(good_feeds[: good_feeds.index("</body>")], encoding="utf-8")
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "feeds file rejected" in log.read_text(), what="feeds file rejected")
    wait_for(lambda: "watchlist rejected" in log.read_text(), what="watchlist rejected")
    out = log.read_text()
    assert f"{watchlist.resolve()}:" in out and "'nowhere' is not defined" in out, out
    assert f"{feeds.resolve()}:" in out and "invalid XML" in out, out
    assert "keeping the last good one" in out

    # Still polling the same feed with the same watchlist: a new story is stored and flagged.
    items.insert(0, story(2, description=FLAGGABLE))
    server.add("/a.xml", rss(items))
    wait_for(lambda: flags() == 4, what="the second story flagged by the last good watchlist")
    active = query(db, "SELECT url, active FROM feeds")
    assert active == [(server.url("/a.xml"), True)]  # not retired by the broken file

    # Fixed files are picked up by the file watch, without a signal.
    server.add("/b.xml", rss([story(10)]))
    instance.write_feeds("/a.xml", "/b.xml")
    watchlist.write_text(good_watchlist, encoding="utf-8")
    wait_for(lambda: query(db, "SELECT count(*) FROM articles")[0][0] == 3, what="feed b polled")

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert "Traceback" not in log.read_text()
