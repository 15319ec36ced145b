"""The whole pipeline over real HTTP: `ingest run --once` against the test feed server."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.conftest import DATA, Instance, write_config
from tests.helpers import jsonl, query, rss, story


def db(instance: Instance) -> str:
    return instance.settings.database


def status_of(instance: Instance) -> dict[str, dict[str, object]]:
    return {row["url"]: row for row in jsonl(instance.cli("status", "--json").output)}


def test_first_poll_stores_all_then_304_stores_none(instance: Instance) -> None:
    instance.server.add("/a.xml", rss([story(i) for i in range(5)]))
    instance.write_feeds("/a.xml")
    instance.run_once()
    assert query(db(instance), "SELECT count(*) FROM articles")[0][0] == 5

    instance.run_once("--all")
    assert query(db(instance), "SELECT count(*) FROM articles")[0][0] == 5
    last = instance.server.requests("/a.xml")[-1]
    assert "if-none-match" in {k.lower() for k in last}
    outcomes = [r[0] for r in query(db(instance), "SELECT outcome FROM fetch_log ORDER BY id")]
    assert outcomes == ["stored", "not_modified"]


def test_unchanged_body_without_validators_costs_no_parse(instance: Instance) -> None:
    instance.server.add("/plain.xml", rss([story(1)]), etag=False, last_modified=False)
    instance.write_feeds("/plain.xml")
    instance.run_once()
    instance.run_once("--all")
    outcomes = [r[0] for r in query(db(instance), "SELECT outcome FROM fetch_log ORDER BY id")]
    assert outcomes == ["stored", "unchanged"]


def test_new_entry_appears_once_and_edit_updates_in_place(instance: Instance) -> None:
    instance.server.add("/a.xml", rss([story(1), story(2)]))
    instance.write_feeds("/a.xml")
    instance.run_once()
    before = {r["guid"]: r for r in jsonl(instance.cli("export", "--format", "jsonl").output)}

    instance.server.add(
        "/a.xml", rss([story(3), story(1, title="Story number 1, updated"), story(2)])
    )
    instance.run_once("--all")
    instance.run_once("--all")
    after = {r["guid"]: r for r in jsonl(instance.cli("export", "--format", "jsonl").output)}
    assert sorted(after) == ["story-1", "story-2", "story-3"]
    assert after["story-1"]["title"] == "Story number 1, updated"
    assert after["story-1"]["id"] == before["story-1"]["id"]
    assert after["story-1"]["first_seen"] == before["story-1"]["first_seen"]
    assert set(after["story-3"]) == {
        "id",
        "feed_url",
        "guid",
        "url",
        "title",
        "summary",
        "published",
        "first_seen",
    }


def test_export_csv_has_the_contract_columns(instance: Instance) -> None:
    instance.server.add("/a.xml", rss([story(1, description="A <b>bold</b> claim")]))
    instance.write_feeds("/a.xml")
    instance.run_once()
    rows = list(csv.DictReader(io.StringIO(instance.cli("export", "--format", "csv").output)))
    assert list(rows[0]) == [
        "id",
        "feed_url",
        "guid",
        "url",
        "title",
        "summary",
        "published",
        "first_seen",
    ]
    assert rows[0]["summary"] == "A bold claim"
    assert rows[0]["published"] == "2026-11-20T08:00:00Z"
    assert rows[0]["feed_url"] == instance.server.url("/a.xml")


def test_permanent_redirect_moves_the_feed_temporary_does_not(instance: Instance) -> None:
    instance.server.add("/new.xml", rss([story(1)]))
    instance.server.redirect("/old.xml", "/new.xml", status=301)
    instance.server.add("/other.xml", rss([story(2)]))
    instance.server.redirect("/temp.xml", "/other.xml", status=302)
    instance.write_feeds("/old.xml", "/temp.xml")
    instance.run_once()
    urls = {r[0]: r[1] for r in query(db(instance), "SELECT source_url, url FROM feeds")}
    assert urls[instance.server.url("/old.xml")] == instance.server.url("/new.xml")
    assert urls[instance.server.url("/temp.xml")] == instance.server.url("/temp.xml")
    instance.run_once("--all")
    assert instance.server.hits("/old.xml") == 1


def test_410_retires_the_feed_and_keeps_its_articles(instance: Instance) -> None:
    instance.server.add("/a.xml", rss([story(1)]))
    instance.write_feeds("/a.xml")
    instance.run_once()
    instance.server.fail("/a.xml", 410)
    instance.run_once("--all")
    instance.run_once("--all")
    assert instance.server.hits("/a.xml") == 2
    row = status_of(instance)[instance.server.url("/a.xml")]
    assert row["active"] is False and "410" in str(row["retired"])
    assert row["articles"] == 1


@pytest.mark.parametrize("retry_after", ["120", "Wed, 21 Oct 2099 07:28:00 GMT"])
def test_429_with_retry_after_is_honoured_and_visible(instance: Instance, retry_after: str) -> None:
    instance.server.fail("/busy.xml", 429, headers={"Retry-After": retry_after})
    instance.server.add("/ok.xml", rss([story(1)]))
    instance.write_feeds("/busy.xml", "/ok.xml")
    instance.run_once()
    rows = status_of(instance)
    busy = rows[instance.server.url("/busy.xml")]
    assert busy["consecutive_errors"] == 1 and busy["http_status"] == 429
    assert "429" in str(busy["last_error"])
    assert busy["active"] is True
    assert rows[instance.server.url("/ok.xml")]["articles"] == 1
    delay = query(
        db(instance),
        "SELECT next_poll_at, last_polled_at FROM feeds WHERE source_url = :u",
        u=instance.server.url("/busy.xml"),
    )[0]
    from datetime import datetime

    gap = (
        datetime.fromisoformat(str(delay[0])) - datetime.fromisoformat(str(delay[1]))
    ).total_seconds()
    assert gap >= 119


def test_failing_feed_backs_off_but_is_never_dropped(instance: Instance) -> None:
    instance.server.fail("/down.xml", 500)
    instance.write_feeds("/down.xml")
    for _ in range(5):
        instance.run_once("--all")
    row = status_of(instance)[instance.server.url("/down.xml")]
    assert row["consecutive_errors"] == 5 and row["active"] is True and row["next_poll"]
    assert instance.server.hits("/down.xml") == 5


def test_timeout_and_oversized_body_fail_only_their_feed(
    tmp_path: Path, feed_server: object
) -> None:
    from tests.feedserver import FeedServer

    assert isinstance(feed_server, FeedServer)
    inst = Instance(tmp_path, feed_server)
    write_config(inst.config_dir, extra="")
    text = inst.config.read_text().replace('total_timeout = "5s"', 'total_timeout = "1s"')
    inst.config.write_text(text.replace("[http]\n", '[http]\nmax_body_size = "64KiB"\n'))
    feed_server.slow("/slow.xml", header_delay=5.0, body=rss([story(1)]).encode())
    feed_server.huge("/huge.xml", 50 * 2**20)
    feed_server.add("/ok.xml", rss([story(2)]))
    inst.write_feeds("/slow.xml", "/huge.xml", "/ok.xml")
    inst.cli("db", "upgrade")
    inst.run_once()
    rows = status_of(inst)
    assert "timeout" in str(rows[feed_server.url("/slow.xml")]["last_error"])
    assert "too_large" in str(rows[feed_server.url("/huge.xml")]["last_error"])
    assert rows[feed_server.url("/ok.xml")]["articles"] == 1


FORMATS = [
    "rss091.xml",
    "rss10.rdf",
    "rss20.xml",
    "atom03.xml",
    "atom10.xml",
    "jsonfeed10.json",
    "jsonfeed11.json",
    "rss20-latin1.xml",
    "rss20-windows1256.xml",
    "no-guids.xml",
]


def test_every_format_and_encoding_is_stored_once(instance: Instance) -> None:
    available = [name for name in FORMATS if (DATA / "feeds" / name).exists()]
    assert len(available) == len(FORMATS), "fixture feeds missing from tests/data/feeds"
    for name in available:
        instance.server.add_file(f"/{name}", DATA / "feeds" / name)
    instance.write_feeds(*(f"/{n}" for n in available))
    instance.run_once()
    rows = status_of(instance)
    for name in available:
        row = rows[instance.server.url(f"/{name}")]
        assert row["consecutive_errors"] == 0, (name, row["last_error"])
        assert int(str(row["articles"])) >= 1, name
    count = query(db(instance), "SELECT count(*) FROM articles")[0][0]
    instance.run_once("--all")
    assert query(db(instance), "SELECT count(*) FROM articles")[0][0] == count


def test_unmigrated_database_refuses_with_the_command_to_run(
    tmp_path: Path, feed_server: object
) -> None:
    from tests.feedserver import FeedServer

    assert isinstance(feed_server, FeedServer)
    inst = Instance(tmp_path, feed_server)
    write_config(inst.config_dir)
    inst.write_feeds()
    result = inst.cli("run", "--once", expect=1)
    assert "ingest db upgrade" in result.output


def test_bad_config_exits_2_naming_file_line_and_key(instance: Instance) -> None:
    text = instance.config.read_text().replace("[http]\n", "[http]\nmax_redirects = -3\n")
    instance.config.write_text(text)
    result = instance.cli("run", "--once", expect=2)
    assert "ingest.toml:" in result.output and "max_redirects" in result.output
    line = text.splitlines().index("max_redirects = -3") + 1
    assert f"ingest.toml:{line}:" in result.output


def test_feeds_add_list_remove_and_status(instance: Instance) -> None:
    instance.server.add("/a.xml", rss([story(1)]))
    instance.cli("feeds", "add", instance.server.url("/a.xml"), "--interval", "15m")
    listed = instance.cli("feeds", "list").output.splitlines()
    assert [line.split("\t")[::3] for line in listed] == [[instance.server.url("/a.xml"), "15m"]]
    instance.run_once()
    assert (
        "1 articles" in instance.cli("status").output.replace("\n", " ")
        or status_of(instance)[instance.server.url("/a.xml")]["articles"] == 1
    )
    instance.cli("feeds", "remove", instance.server.url("/a.xml"))
    row = status_of(instance)[instance.server.url("/a.xml")]
    assert row["active"] is False and row["articles"] == 1


def test_postgres_runs_the_same_pipeline(tmp_path: Path, feed_server: object, pg_url: str) -> None:
    from tests.feedserver import FeedServer

    assert isinstance(feed_server, FeedServer)
    inst = Instance(tmp_path, feed_server)
    write_config(inst.config_dir, database_url=pg_url)
    feed_server.add("/a.xml", rss([story(i) for i in range(3)]))
    inst.write_feeds("/a.xml")
    inst.cli("db", "upgrade")
    inst.run_once()
    inst.run_once("--all")
    assert (
        query(
            pg_url.replace("postgresql+psycopg", "postgresql+psycopg"),
            "SELECT count(*) FROM articles",
        )[0][0]
        == 3
    )
