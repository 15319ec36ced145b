"""Disk full: the SQLite file on a real, small tmpfs. The daemon logs, retries with
backoff, and once there is room again stores everything, once, in an intact file."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Instance
from tests.feedserver import FeedServer
from tests.helpers import query, rss
from tests.test_crash import DaemonProcess, make_instance, wait_for
from tests.test_crash import daemon as daemon  # the fixture, shared

FEEDS = 8
ITEMS = 60
FILLER = "Officials described the road conditions along the route in some detail. " * 30


def _mount(path: Path, size: str, *, remount: bool = False) -> bool:
    options = f"remount,size={size}" if remount else f"size={size}"
    args = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)]
    return subprocess.run(args, capture_output=True).returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or not _mount(disk, "1m"):
        pytest.skip("needs root to mount a small tmpfs (CI runs as root)")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def instance_on(disk: Path, tmp_path: Path, feed_server: FeedServer) -> Instance:
    """An instance whose database is on `disk`, with more articles to store than fit."""
    instance = make_instance(tmp_path, feed_server, None)
    # The migrated database moves onto the 1 MiB disk: its schema fits, the articles do not.
    data = disk / "data"
    data.mkdir()
    shutil.move(tmp_path / "data" / "ingest.db", data / "ingest.db")
    config = instance.config.read_text(encoding="utf-8")
    instance.config.write_text(config.replace('data_dir = "../data"', f'data_dir = "{data}"'))
    paths = [f"/bulky-{n}.xml" for n in range(FEEDS)]
    for n, path in enumerate(paths):
        items = [
            {"guid": f"{path}-{k}", "title": f"Road report {n}-{k}", "description": FILLER}
            for k in range(ITEMS)
        ]
        feed_server.add(path, rss(items, title=f"Bulky {n}"))
    instance.write_feeds(*paths)
    return instance


@pytest.mark.slow
def test_a_full_disk_is_retried_and_loses_nothing(
    tmp_path: Path,
    feed_server: FeedServer,
    small_disk: Path,
    daemon: Callable[[Instance], DaemonProcess],
) -> None:
    instance = instance_on(small_disk, tmp_path, feed_server)
    proc = daemon(instance)
    proc.start()
    wait_for(lambda: "disk is full" in proc.output(), 30, "a disk-full error in the log")
    assert proc.proc is not None and proc.proc.poll() is None, "the daemon died of a full disk"

    assert _mount(small_disk, "64m", remount=True)
    db = instance.settings.database
    wait_for(
        lambda: query(db, "SELECT count(*) FROM articles")[0][0] == FEEDS * ITEMS,
        60,
        "every article stored once there was room",
    )
    assert proc.stop(signal.SIGTERM) == 0
    rows = query(db, "SELECT f.url, a.guid FROM articles a JOIN feeds f ON f.id = a.feed_id")
    assert len(rows) == len(set(rows)) == FEEDS * ITEMS
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    log = proc.output()
    assert "database or disk is full" in log
    assert "Traceback" not in log


@pytest.mark.slow
def test_run_once_on_a_full_disk_exits_1_and_the_next_run_stores_it(
    tmp_path: Path, feed_server: FeedServer, small_disk: Path
) -> None:
    instance = instance_on(small_disk, tmp_path, feed_server)
    failed = instance.cli("run", "--once", expect=1)
    assert "unstored=" in failed.output
    assert _mount(small_disk, "64m", remount=True)
    # The lost polls are given back (due now) if the full disk has room for that small
    # write; whether it has depends on how much of a page the failed write left. If not,
    # the log says so and they are due when their claim lease ends (3 s here).
    if "polls not given back=" in failed.output:
        assert "due again when their lease ends (3s)" in failed.output
        time.sleep(3.5)
    instance.cli("run", "--once", expect=0)
    db = instance.settings.database
    assert query(db, "SELECT count(*) FROM articles")[0][0] == FEEDS * ITEMS
