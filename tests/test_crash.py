"""Crashes and restarts: the daemon as a real process, killed, stopped and starved of its database.

A publisher thread keeps adding stories to many feeds of the test server (every third
one a flaggable "trucks out of Ein al-Assad" story) while the daemon ingests them.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Instance, write_config
from tests.feedserver import FeedServer
from tests.helpers import jsonl, query, rss
from tests.tcpproxy import TcpProxy

FLAG_TEXT = (
    "A convoy of US trucks carried construction materials out of Ein al-Assad air base "
    "in al-Anbar towards the Syrian border."
)
# What config/watchlist.toml raises on FLAG_TEXT (see `ingest match --text`).
EXPECTED_RULES = {"base-logistics", "ain-al-asad"}
FAST_POLLING = (
    '[polling]\ninterval = "1s"\nmin_interval = "1s"\nmax_interval = "2s"\ntick = "0.2s"\n'
    'jitter = 0\nshutdown_deadline = "5s"\nclaim_lease = "3s"\nper_host = 32\n'
)

NO_FULLTEXT = "[fulltext]\nenabled = false\n"


class Publisher:
    """Feeds that keep publishing: every round adds one story to each feed (none removed)."""

    def __init__(self, server: FeedServer, feeds: int, every: float = 0.3) -> None:
        self.server = server
        self.paths = [f"/live-{n}.xml" for n in range(feeds)]
        self.items: dict[str, list[dict[str, Any]]] = {path: [] for path in self.paths}
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.publish_round()

    def publish_round(self) -> None:
        for feed, path in enumerate(self.paths):
            items = self.items[path]
            n = len(items)
            item = {
                "guid": f"live-{feed}-{n}",
                "title": f"Feed {feed} story {n}",
                "link": f"https://live.example/{feed}/{n}",
                "minutes": -n,
            }
            if n % 3 == 0:
                item["description"] = f"Story {feed}/{n}. {FLAG_TEXT}"
            else:
                item["description"] = f"Story {feed}/{n}: the weather in Ramadi was mild."
            items.insert(0, item)
            self.server.add(path, rss(items, title=f"Live {feed}"))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.publish_round()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def published(self) -> set[tuple[str, str]]:
        return {(self.server.url(p), i["guid"]) for p, items in self.items.items() for i in items}

    def flaggable(self) -> set[str]:
        return {
            i["guid"]
            for items in self.items.values()
            for i in items
            if FLAG_TEXT in i["description"]
        }


class DaemonProcess:
    """`python -m ingest run` in its own process group (the daemon and its parser workers)."""

    def __init__(self, instance: Instance, log: Path) -> None:
        self.instance = instance
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ingest", "run", "--config", str(self.instance.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "INGEST_CONFIG": ""},
            )
        return self.proc

    def kill(self) -> None:
        """kill -9 of the whole group, as the OOM killer or a power cut would."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(params=["sqlite", "postgresql"])
def live_instance(
    request: pytest.FixtureRequest, tmp_path: Path, feed_server: FeedServer
) -> Instance:
    url = None if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))
    return make_instance(tmp_path, feed_server, url)


def make_instance(tmp_path: Path, server: FeedServer, database_url: str | None) -> Instance:
    inst = Instance(tmp_path, server, database_url)
    # Article pages (full text) are not what these tests are about, and their links
    # point at names outside the machine.
    config = write_config(inst.config_dir, database_url, extra=NO_FULLTEXT)
    text = config.read_text(encoding="utf-8")
    start, end = text.index("[polling]"), text.index("[http]")
    config.write_text(text[:start] + FAST_POLLING + text[end:], encoding="utf-8")
    inst.write_feeds()
    inst.cli("db", "upgrade")
    return inst


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Callable[[Instance], DaemonProcess]]:
    made: list[DaemonProcess] = []

    def make(instance: Instance) -> DaemonProcess:
        made.append(DaemonProcess(instance, tmp_path / f"daemon-{len(made)}.log"))
        return made[-1]

    yield make
    for proc in made:
        proc.cleanup()


def articles(instance: Instance) -> int:
    return int(query(instance.settings.database, "SELECT count(*) FROM articles")[0][0])


def wait_for(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not met within {timeout}s")


def started_times(proc: DaemonProcess, times: int) -> bool:
    return proc.output().count("daemon started") >= times


def assert_everything_stored_once(instance: Instance, publisher: Publisher) -> None:
    """Every published story once, every expected flag once, nothing dangling."""
    db = instance.settings.database
    rows = query(db, "SELECT f.url, a.guid FROM articles a JOIN feeds f ON f.id = a.feed_id")
    stored = [(str(url), str(guid)) for url, guid in rows]
    assert len(stored) == len(set(stored)), "an article was stored twice"
    published = publisher.published()
    assert set(stored) == published, (
        f"missing {sorted(published - set(stored))[:5]}, "
        f"extra {sorted(set(stored) - published)[:5]}"
    )
    flags = query(
        db, "SELECT a.guid, fl.rule FROM flags fl JOIN articles a ON a.id = fl.article_id"
    )
    pairs = [(str(guid), str(rule)) for guid, rule in flags]
    assert len(pairs) == len(set(pairs)), "a flag was raised twice"
    expected = {(guid, rule) for guid in publisher.flaggable() for rule in EXPECTED_RULES}
    assert set(pairs) == expected, f"missing flags {sorted(expected - set(pairs))[:5]}"
    orphans = query(
        db,
        "SELECT count(*) FROM flags fl LEFT JOIN articles a ON a.id = fl.article_id "
        "WHERE a.id IS NULL",
    )
    assert orphans[0][0] == 0
    if instance.settings.is_sqlite:
        assert query(db, "PRAGMA integrity_check") == [("ok",)]
        assert query(db, "PRAGMA foreign_key_check") == []


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_and_duplicates_nothing(
    live_instance: Instance, daemon: Callable[[Instance], DaemonProcess]
) -> None:
    instance = live_instance
    publisher = Publisher(instance.server, feeds=24)
    instance.write_feeds(*publisher.paths)
    publisher.start()
    proc = daemon(instance)
    rng = random.Random(os.environ.get("INGEST_CRASH_SEED", "5"))
    kills = 0
    progress = []
    started = time.monotonic()
    try:
        while kills < 22:
            before = articles(instance)
            proc.start()
            # Kill after start-up (imports, migrations check, parser processes), at a random
            # moment of claiming, fetching, parsing and writing.
            wait_for(partial(started_times, proc, kills + 1), what="start-up")
            time.sleep(rng.uniform(0.1, 2.0))
            proc.kill()
            kills += 1
            progress.append(articles(instance) - before)
    finally:
        publisher.stop()
    looped = time.monotonic() - started
    # The killed daemons did real work between kills, not just start-ups.
    assert sum(1 for stored in progress if stored > 0) >= kills // 3, progress
    assert "Traceback" not in proc.output(), proc.output()[-3000:]

    instance.cli("run", "--once", "--all")
    print(
        f"{kills} kills in {looped:.0f}s, {len(publisher.published())} articles, "
        f"stored per run {progress}"
    )
    assert_everything_stored_once(instance, publisher)


def test_sigterm_while_polls_are_in_flight_exits_0_and_writes_whole_polls(
    tmp_path: Path, feed_server: FeedServer, daemon: Callable[[Instance], DaemonProcess]
) -> None:
    """A poll that finishes within shutdown_deadline is stored whole; one that cannot is
    abandoned with nothing written and is due again. (test_daemon covers the abandon alone.)"""
    instance = make_instance(tmp_path, feed_server, None)
    server = instance.server
    quick = [
        {"guid": f"q-{i}", "title": f"Quick {i}", "link": f"https://q.example/{i}"}
        for i in range(50)
    ]
    server.slow("/finishes.xml", header_delay=1.5, body=rss(quick).encode())
    server.slow("/abandoned.xml", header_delay=60.0, body=rss(quick).encode())
    instance.write_feeds("/finishes.xml", "/abandoned.xml")
    config = instance.config.read_text()
    instance.config.write_text(
        config.replace('shutdown_deadline = "5s"', 'shutdown_deadline = "3s"')
        .replace('total_timeout = "5s"', 'total_timeout = "90s"')
        .replace('read_timeout = "3s"', 'read_timeout = "90s"')
    )
    proc = daemon(instance)
    proc.start()
    wait_for(
        lambda: server.hits("/finishes.xml") and server.hits("/abandoned.xml"),
        what="both polls in flight",
    )
    stopped = time.monotonic()
    code = proc.stop(signal.SIGTERM)
    took = time.monotonic() - stopped
    out = proc.output()
    assert code == 0, out
    assert took < 3 + 4, f"stopped in {took:.1f}s"
    assert "abandoned polls=1" in out and "daemon stopped" in out
    db = instance.settings.database
    counts = dict(
        query(
            db,
            "SELECT f.url, count(a.id) FROM feeds f LEFT JOIN articles a "
            "ON a.feed_id = f.id GROUP BY f.url",
        )
    )
    assert counts == {server.url("/finishes.xml"): 50, server.url("/abandoned.xml"): 0}
    logged = dict(
        query(
            db,
            "SELECT f.url, count(l.id) FROM feeds f LEFT JOIN fetch_log l "
            "ON l.feed_id = f.id GROUP BY f.url",
        )
    )
    assert logged == {server.url("/finishes.xml"): 1, server.url("/abandoned.xml"): 0}
    assert query(db, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_whole_process_group_stops_the_daemon_cleanly(
    tmp_path: Path,
    feed_server: FeedServer,
    daemon: Callable[[Instance], DaemonProcess],
    sig: signal.Signals,
) -> None:
    """Ctrl-C in a terminal (SIGINT) or a supervisor's group stop (SIGTERM) reaches the
    parser workers too: they leave the stop to the daemon, which finishes and exits 0
    with no worker traceback on the console."""
    instance = make_instance(tmp_path, feed_server, None)
    items = [{"guid": f"g-{i}", "title": f"Convoy {i}"} for i in range(20)]
    paths = [f"/group-{n}.xml" for n in range(20)]
    for path in paths:
        feed_server.add(path, rss(items, title=path))
    instance.write_feeds(*paths)
    proc = daemon(instance)
    proc.start()
    wait_for(lambda: articles(instance) == 20 * 20, what="every feed stored (by the workers)")
    assert proc.proc is not None
    os.killpg(proc.proc.pid, sig)
    code = proc.proc.wait(timeout=20)
    out = proc.output()
    assert code == 0, out
    assert "daemon stopped" in out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out


def back_up_sqlite(instance: Instance, directory: Path) -> list[Path]:
    """`sqlite3 FILE ".backup …"` and `VACUUM INTO`, as README's Operations section says."""
    directory.mkdir()
    live = instance.settings.data_dir / "ingest.db"
    dot_backup, vacuumed = directory / "dot-backup.db", directory / "vacuum-into.db"
    if shutil.which("sqlite3") is None:  # the same two through Python's sqlite3 module
        with contextlib.closing(sqlite3.connect(live, timeout=30)) as conn:
            with contextlib.closing(sqlite3.connect(dot_backup)) as target:
                conn.backup(target)
            conn.execute(f"VACUUM INTO '{vacuumed}'")
        return [dot_backup, vacuumed]
    for sql in (f".backup '{dot_backup}'", f"VACUUM INTO '{vacuumed}'"):
        done = subprocess.run(
            ["sqlite3", "-cmd", ".timeout 30000", str(live), sql], capture_output=True, text=True
        )
        assert done.returncode == 0 and not done.stderr, done.stderr
    return [dot_backup, vacuumed]


@pytest.mark.slow
def test_cli_reads_while_the_daemon_writes_never_see_a_locked_database(
    tmp_path: Path, feed_server: FeedServer, daemon: Callable[[Instance], DaemonProcess]
) -> None:
    instance = make_instance(tmp_path, feed_server, None)
    publisher = Publisher(feed_server, feeds=16, every=0.2)
    instance.write_feeds(*publisher.paths)
    publisher.start()
    proc = daemon(instance)
    proc.start()
    reads = 0
    try:
        wait_for(lambda: articles(instance) > 0, what="first articles")
        until = time.monotonic() + 12
        commands = [
            ("status", "--json"),
            ("export", "--format", "jsonl"),
            ("flags", "--json"),
            ("export", "--flagged", "--format", "csv"),
            ("digest", "--format", "json"),
            ("status",),
        ]
        while time.monotonic() < until:
            for command in commands:
                result = instance.cli(*command, expect=None)
                assert result.exit_code == 0, (command, result.output)
                assert "locked" not in result.output.lower(), (command, result.output)
                reads += 1
        seen = len(jsonl(instance.cli("export", "--format", "jsonl").output))
        # The backups the README shows, taken while the daemon writes.
        backups = back_up_sqlite(instance, tmp_path / "backups")
    finally:
        publisher.stop()
    code = proc.stop()
    out = proc.output()
    assert code == 0, out
    assert "locked" not in out.lower() and "Traceback" not in out, out[-3000:]
    assert reads >= 30 and seen > 0
    for backup in backups:
        copy = f"sqlite:///{backup}"
        assert query(copy, "PRAGMA integrity_check") == [("ok",)]
        assert query(copy, "SELECT count(*) FROM articles")[0][0] >= seen
    print(f"{reads} CLI reads while the daemon stored {articles(instance)} articles")


@pytest.mark.slow
@pytest.mark.postgres
def test_database_outage_is_logged_retried_with_backoff_and_loses_nothing(
    tmp_path: Path,
    feed_server: FeedServer,
    pg_url: str,
    daemon: Callable[[Instance], DaemonProcess],
) -> None:
    real_port = 5432
    with TcpProxy("127.0.0.1", real_port) as proxy:
        via_proxy = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}", 1)
        assert via_proxy != pg_url
        instance = make_instance(tmp_path, feed_server, via_proxy)
        # The default lease: polls the outage lost must come back when the database
        # does, not ten minutes later.
        instance.config.write_text(
            instance.config.read_text().replace('claim_lease = "3s"', 'claim_lease = "600s"')
        )
        publisher = Publisher(feed_server, feeds=8, every=0.3)
        instance.write_feeds(*publisher.paths)
        publisher.start()
        proc = daemon(instance)
        proc.start()
        try:
            wait_for(lambda: articles(instance) > 0, what="first articles")
            proxy.cut()
            stored_before = publisher.published()
            time.sleep(6)  # the daemon keeps ticking against a database that is gone
            during = proc.output()
            proxy.restore()
            # Within a few ticks of the database coming back, new stories are stored again
            # by the same daemon, without a restart.
            publisher.publish_round()
            wanted = publisher.published()
            wait_for(lambda: articles(instance) >= len(wanted), timeout=40, what="catch-up")
        finally:
            publisher.stop()
        code = proc.stop()
        out = proc.output()
        assert code == 0, out[-3000:]
        assert "database unavailable" in during, during[-3000:]
        # Backoff: the retries space out (1 s, 2 s, 4 s ...) instead of every 0.2 s tick.
        retries = [line for line in during.splitlines() if "database unavailable, retry" in line]
        assert 2 <= len(retries) <= 6, retries
        assert "retrying in 1s" in retries[0] and "retrying in 2s" in retries[1]
        assert "database available again" in out
        assert "poll crashed" not in out and "Traceback" not in out, out[-3000:]
        instance.cli("run", "--once", "--all")
        assert_everything_stored_once(instance, publisher)
        assert stored_before <= publisher.published()
