"""The feeds file (OPML): reading, editing with comments kept, import/export round trip, errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ingest.errors import ConfigError
from ingest.feedsfile import add_feed, import_opml, read_feeds_file, remove_feed, write_opml

REPO = Path(__file__).resolve().parent.parent


def test_shipped_feeds_are_real_and_numerous() -> None:
    feeds = read_feeds_file(REPO / "config" / "feeds.opml")
    assert len(feeds) >= 20
    assert all(f.url.startswith("https://") and f.title for f in feeds)
    categories = {f.category for f in feeds}
    assert "Arabic-language outlets" in categories and "Defence press" in categories
    assert len({f.url for f in feeds}) == len(feeds)


def test_round_trip_keeps_titles_categories_and_intervals(tmp_path: Path) -> None:
    original = read_feeds_file(REPO / "config" / "feeds.opml")
    exported = tmp_path / "export.opml"
    exported.write_text(write_opml(original), encoding="utf-8")
    assert read_feeds_file(exported) == original


def test_add_and_remove_keep_comments(tmp_path: Path) -> None:
    path = tmp_path / "feeds.opml"
    path.write_text((REPO / "config" / "feeds.opml").read_text(encoding="utf-8"), encoding="utf-8")
    assert add_feed(
        path, "https://new.example/rss", title="New", interval=900, category="Defence press"
    )
    assert not add_feed(path, "https://new.example/rss")
    text = path.read_text(encoding="utf-8")
    assert "<!-- Feeds an analyst" in text
    added = [f for f in read_feeds_file(path) if f.url == "https://new.example/rss"]
    assert added[0].interval == 900 and added[0].category == "Defence press"
    assert remove_feed(path, "https://new.example/rss")
    assert not remove_feed(path, "https://new.example/rss")
    assert "<!-- Feeds an analyst" in path.read_text(encoding="utf-8")


def test_import_merges_another_readers_export(tmp_path: Path) -> None:
    target = tmp_path / "feeds.opml"
    add_feed(target, "https://a.example/rss")
    other = tmp_path / "other.opml"
    other.write_text(
        '<?xml version="1.0"?><opml version="1.0"><head/><body>'
        '<outline text="News"><outline text="A" xmlUrl="https://a.example/rss"/>'
        '<outline text="B" xmlUrl="https://b.example/atom" type="rss"/></outline></body></opml>',
        encoding="utf-8",
    )
    assert import_opml(target, other) == ["https://b.example/atom"]
    assert {f.url for f in read_feeds_file(target)} == {
        "https://a.example/rss",
        "https://b.example/atom",
    }


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        (
            '<opml version="2.0"><body>\n<outline xmlUrl="https://a/x"\n</body></opml>',
            3,
            "invalid XML",
        ),
        (
            '<opml version="2.0"><body>\n\n<outline xmlUrl="ftp://a/x"/></body></opml>',
            3,
            "http(s) URL",
        ),
        (
            '<opml version="2.0"><body>\n'
            '<outline xmlUrl="https://a/x" interval="often"/></body></opml>',
            2,
            "not a duration",
        ),
        ("<rss/>", 1, "not an OPML file"),
        (
            '<opml version="2.0"><body>\n<outline xmlUrl="https://a/x"/>\n'
            '<outline xmlUrl="https://b/x" allowPrivate="maybe"/></body></opml>',
            3,
            "allowPrivate must be true or false",
        ),
    ],
)
def test_errors_name_the_line(tmp_path: Path, body: str, line: int, words: str) -> None:
    path = tmp_path / "feeds.opml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        read_feeds_file(path)
    assert str(info.value).startswith(f"{path}:{line}:")
    assert words in str(info.value)


def test_entity_declarations_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "feeds.opml"
    path.write_text('<!DOCTYPE x [<!ENTITY a "aaaa">]><opml><body/></opml>', encoding="utf-8")
    with pytest.raises(ConfigError, match="ENTITY"):
        read_feeds_file(path)


def test_a_feed_listed_twice_is_polled_once_and_the_user_told_where(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "feeds.opml"
    path.write_text(
        '<opml version="2.0"><body>\n'
        '<outline text="News"><outline xmlUrl="https://a.example/rss" interval="15m"/>\n'
        '<outline xmlUrl="https://a.example/rss.xml"/></outline>\n'
        '<outline text="Wires"><outline xmlUrl="https://a.example/rss" interval="1h"/>'
        "</outline>\n</body></opml>",
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING, logger="ingest.feeds"):
        feeds = read_feeds_file(path)
    assert [(f.url, f.category, f.interval) for f in feeds] == [
        ("https://a.example/rss", "News", 900.0),
        ("https://a.example/rss.xml", "News", None),
    ]
    assert "https://a.example/rss more than once (lines 2, 4): the first is used" in caplog.text


def test_the_shipped_feeds_file_has_no_duplicates(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ingest.feeds"):
        read_feeds_file(REPO / "config" / "feeds.opml")
    assert caplog.text == ""
