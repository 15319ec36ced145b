"""The daemon as an operator runs it: a real process, real signals, a real feed server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Instance
from tests.helpers import query, rss, story


def start_daemon(instance: Instance) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ingest", "run", "--config", str(instance.config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "INGEST_CONFIG": ""},
    )


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def count(instance: Instance, sql: str = "SELECT count(*) FROM articles") -> int:
    return int(query(instance.settings.database, sql)[0][0])


@pytest.fixture
def daemon(instance: Instance) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        proc = start_daemon(instance)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_daemon_polls_reloads_on_sighup_and_stops_on_sigterm(
    instance: Instance, daemon: Callable[[], subprocess.Popen[str]]
) -> None:
    instance.server.add("/a.xml", rss([story(1), story(2)]))
    instance.server.add("/b.xml", rss([story(10)]))
    instance.write_feeds("/a.xml")
    proc = daemon()
    wait_for(lambda: count(instance) == 2)

    instance.write_feeds("/a.xml", "/b.xml")
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: count(instance) == 3)

    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out
    assert "poll feed=" in out and "daemon stopped" in out
    assert "reloading why=SIGHUP" in out


def test_daemon_picks_up_an_edited_feeds_file_without_a_signal(
    instance: Instance, daemon: Callable[[], subprocess.Popen[str]]
) -> None:
    instance.server.add("/a.xml", rss([story(1)]))
    instance.write_feeds()
    proc = daemon()
    time.sleep(1.0)
    instance.write_feeds("/a.xml")
    wait_for(lambda: count(instance) == 1, timeout=30)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=15)
    assert proc.returncode == 0


def test_sigterm_lets_a_slow_poll_finish_or_abandons_it_cleanly(
    instance: Instance, daemon: Callable[[], subprocess.Popen[str]]
) -> None:
    instance.server.slow("/slow.xml", header_delay=30.0, body=rss([story(1)]).encode())
    instance.write_feeds("/slow.xml")
    config = instance.config.read_text().replace(
        'shutdown_deadline = "5s"', 'shutdown_deadline = "1s"'
    )
    instance.config.write_text(
        config.replace('total_timeout = "5s"', 'total_timeout = "60s"').replace(
            'read_timeout = "3s"', 'read_timeout = "60s"'
        )
    )
    proc = daemon()
    wait_for(lambda: instance.server.hits("/slow.xml") >= 1)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out
    assert time.monotonic() - started < 8
    assert "abandoned polls=1" in out
    # the abandoned feed is due again at once, not after its lease
    row = query(instance.settings.database, "SELECT next_poll_at, last_polled_at FROM feeds")[0]
    assert row[1] is None


def test_a_second_daemon_on_the_same_sqlite_file_refuses(
    instance: Instance, daemon: Callable[[], subprocess.Popen[str]]
) -> None:
    instance.server.add("/a.xml", rss([story(1)]))
    instance.write_feeds("/a.xml")
    first = daemon()
    wait_for(lambda: count(instance) == 1)
    second = daemon()
    out, _ = second.communicate(timeout=20)
    assert second.returncode == 1
    assert "another ingest daemon" in out and "already running" in out
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=15)
    assert first.returncode == 0


def test_make_run_style_start_creates_database(tmp_path: Path) -> None:
    """`ingest init` + `ingest db upgrade` on a fresh directory, as README's install says."""
    target = tmp_path / "inst"
    env = {**os.environ, "INGEST_CONFIG": ""}
    subprocess.run(
        [sys.executable, "-m", "ingest", "init", str(target)],
        check=True,
        env=env,
        capture_output=True,
    )
    assert (target / "ingest.toml").exists() and (target / "watchlist.toml").exists()
    assert 'data_dir = "data"' in (target / "ingest.toml").read_text()
    result = subprocess.run(
        [sys.executable, "-m", "ingest", "db", "upgrade", "--config", str(target / "ingest.toml")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (target / "data" / "ingest.db").exists()
