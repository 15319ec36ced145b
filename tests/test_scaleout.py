"""Several daemons on one PostgreSQL share the feeds: each feed is polled by one of them,
once, and every article is stored once. Real processes, a real feed server, a real PostgreSQL."""

from __future__ import annotations

import re
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from ingest.db import create_db_engine, upgrade
from ingest.feedstore import DeclaredFeed, SyncReport, sync_feeds
from tests.conftest import Instance, write_config
from tests.feedserver import FeedServer
from tests.helpers import query, rss, story
from tests.test_daemon import start_daemon

FEEDS = 24


def polled_feeds(log: str) -> list[str]:
    return re.findall(r"\bpoll feed=(\S+) ", log)


def test_two_daemons_on_postgres_poll_each_feed_once(
    tmp_path: Path, feed_server: FeedServer, pg_url: str
) -> None:
    paths = [f"/f{i}.xml" for i in range(FEEDS)]
    for n, path in enumerate(paths):
        # Slow answers keep each daemon's few slots busy, so both get a share of the feeds.
        body = rss([story(n * 10 + k, guid=f"{path}-{k}") for k in range(3)])
        feed_server.slow(path, header_delay=0.3, body=body)
    instance = Instance(tmp_path, feed_server)
    write_config(instance.config_dir, database_url=pg_url)
    text = instance.config.read_text().replace("[polling]\n", "[polling]\nconcurrency = 3\n")
    instance.config.write_text(text)
    instance.write_feeds(*paths)
    instance.cli("db", "upgrade")

    daemons = [start_daemon(instance), start_daemon(instance)]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = query(pg_url, "SELECT count(DISTINCT feed_id) FROM fetch_log")[0][0]
            if done >= FEEDS:
                break
            time.sleep(0.2)
        time.sleep(1.0)  # a double poll, if the claims were wrong, would show up by now
    finally:
        for proc in daemons:
            proc.send_signal(signal.SIGTERM)
        logs = [proc.communicate(timeout=30)[0] for proc in daemons]

    assert [proc.returncode for proc in daemons] == [0, 0], "\n----\n".join(logs)
    shares = [polled_feeds(log) for log in logs]
    assert all(shares), f"one daemon polled nothing: {[len(s) for s in shares]}"
    everything = shares[0] + shares[1]
    assert sorted(everything) == sorted(feed_server.url(p) for p in paths)
    assert all(feed_server.hits(p) == 1 for p in paths)
    assert query(pg_url, "SELECT count(*) FROM fetch_log")[0][0] == FEEDS
    articles = query(pg_url, "SELECT count(*), count(DISTINCT guid) FROM articles")[0]
    assert tuple(articles) == (FEEDS * 3, FEEDS * 3)


def test_daemons_starting_together_sync_the_feeds_file_once(pg_url: str) -> None:
    engine = create_db_engine(pg_url)
    upgrade(engine)
    declared = [DeclaredFeed(f"https://news{i}.example/feed") for i in range(300)]
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []
    reports: list[SyncReport] = []

    def sync() -> None:
        barrier.wait()
        try:
            reports.append(sync_feeds(engine, declared, datetime.now(UTC)))
        except BaseException as exc:  # reported below, whatever it is
            errors.append(exc)

    threads = [threading.Thread(target=sync) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(len(r.added) for r in reports) == [0, 0, 300]
    assert query(pg_url, "SELECT count(*) FROM feeds")[0][0] == 300
    engine.dispose()
