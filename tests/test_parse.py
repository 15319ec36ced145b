"""The parse stage: golden records for every fixture feed, and the quirks one by one."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import fcntl
import importlib.util
import io
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.dedupe import with_keys
from ingest.errors import NotAFeedError, ParseError
from ingest.parse import html_to_text, parse_feed
from ingest.parse_pool import PIPE_BYTES, ParserPool
from ingest.records import ParsedFeed

FEEDS = Path(__file__).resolve().parent / "data" / "feeds"
URL = "https://news.example.org/feeds/main.xml"


def _load_regen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("regen_expected", FEEDS / "regen_expected.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


regen = _load_regen()


def rss(items: str, channel: str = "", namespaces: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"{namespaces}><channel>'
        f"<title>T</title><link>https://news.example.org/</link>{channel}{items}</channel></rss>"
    ).encode()


def parse(body: bytes, content_type: str | None = "application/rss+xml") -> ParsedFeed:
    return parse_feed(body, url=URL, content_type=content_type)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Record (and refuse) every attempt to open a connection while parsing."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network used during parse")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield attempts


def test_the_network_guard_sees_a_fetch(no_network: list[object]) -> None:
    # Proof that the guard works: feedparser handed a URL string does try to fetch it.
    feedparser.parse("http://127.0.0.1:9/feed.xml")
    assert no_network


# --- golden fixtures --------------------------------------------------------------


def test_every_fixture_has_its_expected_records() -> None:
    goldens = {p.name.removesuffix(".expected.json") for p in FEEDS.glob("*.expected.json")}
    assert goldens == set(regen.FIXTURES)
    required = {
        "rss091.xml", "rss10.rdf", "rss20.xml", "atom03.xml", "atom10.xml", "jsonfeed10.json",
        "jsonfeed11.json", "rss20-latin1.xml", "rss20-windows1256.xml", "utf16-bom.xml",
        "no-guids.xml", "relative-links.xml", "malformed-partial.xml", "not-a-feed.html",
        "html-with-alternate.html", "billion-laughs.xml", "xxe-file.xml", "xxe-http.xml",
        "empty.xml", "dates-weird.xml", "dup-guids.xml", "ttl-hints.xml",
    }  # fmt: skip
    assert required <= goldens


@pytest.mark.parametrize("name", regen.FIXTURES)
def test_fixture_parses_to_its_golden_records(name: str, no_network: list[object]) -> None:
    expected = json.loads(regen.expected_path(name).read_text(encoding="utf-8"))
    assert regen.expected_for(name) == expected
    assert no_network == []


@pytest.mark.parametrize("name", regen.FIXTURES)
@pytest.mark.parametrize("content_type", [None, "text/xml", "application/octet-stream"])
def test_records_do_not_depend_on_the_served_content_type(
    name: str, content_type: str | None
) -> None:
    # Servers label feeds every which way; the records must come out the same.
    golden = json.loads(regen.expected_path(name).read_text(encoding="utf-8"))
    if name.endswith(".html"):
        content_type = None  # an HTML page labelled as XML is still recognised by its body
    got = regen.expected_for(name, content_type)
    if "error" in golden:
        assert got["error"] == golden["error"]
        return
    assert got["entries"] == golden["entries"]
    assert {k: v for k, v in got["feed"].items() if k != "warning"} == {
        k: v for k, v in golden["feed"].items() if k != "warning"
    }


def test_news_fixtures_carry_the_stories_other_tests_look_for() -> None:
    english = parse((FEEDS / "rss20.xml").read_bytes())
    arabic = parse((FEEDS / "rss20-windows1256.xml").read_bytes(), "text/xml")
    assert any("Ain al-Asad" in e.title for e in english.entries)
    assert any("Bashar al-Assad" in e.title for e in english.entries)
    assert any("قاعدة عين الأسد" in e.title for e in arabic.entries)
    assert any("بشار الأسد" in e.title for e in arabic.entries)


# --- html_to_text -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One</p><p>Two</p>", "One\n\nTwo"),
        ("<div>One<div>Two</div></div>Three", "One\n\nTwo\n\nThree"),
        ("line one<br>line two<br/>line three", "line one\nline two\nline three"),
        ("a<br><br>b", "a\n\nb"),
        ("<p>Q&amp;A &ndash; &#8220;quoted&#x201D; &nbsp;x</p>", "Q&A – “quoted” x"),
        ("<p>  lots \n\t of   space  </p>", "lots of space"),
        ("<script>var x = '<p>no</p>';</script><p>yes</p>", "yes"),
        ("<style>p { color: red }</style>text", "text"),
        ("<p>a<!-- hidden --> b</p>", "a b"),
        ("<ul><li>one</li><li>two</li></ul>", "one\n\ntwo"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\n\nc"),
        ("<h2>Title</h2>Body <b>bold</b> <i>it</i>", "Title\n\nBody bold it"),
        ("plain text, no tags", "plain text, no tags"),
        ("text with\nnewlines in the source", "text with newlines in the source"),
        ("AT&T and a < b", "AT&T and a < b"),
        ("<p>unclosed <b>bold", "unclosed bold"),
        ("<img src='x.jpg' alt='photo'>", ""),
        ("", ""),
        ("<p>شاحنات أمريكية</p><p>قاعدة عين الأسد</p>", "شاحنات أمريكية\n\nقاعدة عين الأسد"),
        ("<noscript><img src=x></noscript>visible", "visible"),
        ("<svg><text>chart</text></svg>caption", "caption"),
        ("<![if !supportLists]>·<![endif]>Item", "·Item"),  # Word's HTML
        ("<![bogus section]> text", "text"),  # the stdlib parser raises on this alone
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_html_to_text_never_fails_and_is_tidy(html: str) -> None:
    text = html_to_text(html)
    assert text == text.strip()
    assert "\n\n\n" not in text
    assert "  " not in text


# --- JSON Feed ----------------------------------------------------------------------


def json_feed(items: list[Any], **feed: Any) -> bytes:
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": items} | feed
    return json.dumps(doc).encode()


def test_json_feed_maps_items_to_entries() -> None:
    body = json_feed(
        [
            {
                "id": 42,
                "url": "/news/42",
                "title": "  Convoy\nleaves  ",
                "content_html": "<p>Trucks <script>x()</script>left <a href='/b'>base</a>.</p>",
                "summary": "Trucks left <base>.",
                "date_published": "2026-11-23T06:00:00+03:00",
                "date_modified": "2026-11-23T07:00:00Z",
                "authors": [{"name": "A"}, {"name": "B"}, {"url": "no name"}],
            }
        ],
        home_page_url="https://j.example/",
        language="ar",
    )
    feed = parse(body, "application/feed+json")
    (entry,) = feed.entries
    assert (feed.format, feed.title, feed.link, feed.language) == (
        "json11",
        "J",
        "https://j.example/",
        "ar",
    )
    assert entry.guid == "42"
    assert entry.link == "https://news.example.org/news/42"
    assert entry.title == "Convoy leaves"
    assert (
        "script" not in entry.content_html
        and 'href="https://news.example.org/b"' in entry.content_html
    )
    assert entry.content_text == "Trucks left base."
    assert entry.summary_html == "<p>Trucks left &lt;base&gt;.</p>"
    assert entry.summary_text == "Trucks left <base>."
    assert entry.published == datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    assert entry.updated == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert entry.author == "A, B"


def test_json_feed_10_author_and_feed_authors_fallback() -> None:
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1",
            "author": {"name": "Desk"},
            "items": [{"id": "a", "author": {"name": "Reporter"}}, {"id": "b"}],
        }
    ).encode()
    feed = parse(body, None)
    assert feed.format == "json10"
    assert [e.author for e in feed.entries] == ["Reporter", "Desk"]


def test_json_feed_text_only_item_gets_escaped_html() -> None:
    feed = parse(json_feed([{"id": "t", "content_text": "a < b\n\nsecond & last"}]), None)
    entry = feed.entries[0]
    assert entry.content_text == "a < b\n\nsecond & last"
    assert entry.content_html == "<p>a &lt; b</p><p>second &amp; last</p>"


def test_json_feed_tolerates_wrong_types_and_bad_values() -> None:
    items: list[Any] = [
        "not an object",
        {"id": True, "title": 7, "url": "javascript:alert(1)", "date_published": "soon"},
        {"id": None, "external_url": "https://elsewhere.example/x", "date_published": "2026-11-23"},
        {"id": "nul\u0000s and \ud800 lone surrogates", "title": "a\u0000b"},
    ]
    feed = parse(json_feed(items, language=5), "application/json")
    first, second, third = feed.entries
    assert (first.guid, first.title, first.link, first.published) == (None, "", None, None)
    assert second.link == "https://elsewhere.example/x"
    assert second.published == datetime(2026, 11, 23, tzinfo=UTC)
    assert third.guid == "nuls and \ufffd lone surrogates" and third.title == "ab"
    assert feed.language is None


def test_json_feed_in_utf16_with_bom() -> None:
    body = codecs.BOM_UTF16_LE + json_feed([{"id": "x", "title": "عين الأسد"}]).decode().encode(
        "utf-16-le"
    )
    assert parse(body, None).entries[0].title == "عين الأسد"


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', None, "invalid JSON"),
        (b'{"items": []}', "application/json", "without a jsonfeed.org version"),
        (b"[1, 2]", "application/json", "without a jsonfeed.org version"),
        (b'{"a":' * 50_000, "application/json", "invalid JSON"),
    ],
)
def test_json_that_is_not_a_json_feed(body: bytes, content_type: str | None, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse(body, content_type)


def test_xml_served_as_json_is_still_read_as_xml() -> None:
    assert parse(rss("<item><title>a</title></item>"), "application/json").format == "rss20"


# --- dates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Mon, 23 Nov 2026 09:30:00 +0300", datetime(2026, 11, 23, 6, 30, tzinfo=UTC)),
        ("Mon, 23 Nov 2026 09:30:00 -0500", datetime(2026, 11, 23, 14, 30, tzinfo=UTC)),
        ("Mon, 23 Nov 2026 09:30:00 GMT", datetime(2026, 11, 23, 9, 30, tzinfo=UTC)),
        ("Mon, 23 Nov 2026 09:30:00 PST", datetime(2026, 11, 23, 17, 30, tzinfo=UTC)),
        ("2026-11-23T09:30:00+03:00", datetime(2026, 11, 23, 6, 30, tzinfo=UTC)),
        ("2026-11-23T09:30:00Z", datetime(2026, 11, 23, 9, 30, tzinfo=UTC)),
        ("Wed, 31 Dec 2070 23:59:59 GMT", datetime(2070, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("Thu, 01 Jan 1920 00:00:00 GMT", datetime(1920, 1, 1, tzinfo=UTC)),
        ("last Tuesday", None),
        ("", None),
        ("Mon, 32 Nov 2026 09:30:00 GMT", None),
    ],
)
def test_dates_become_aware_utc(written: str, expected: datetime | None) -> None:
    entry = parse(rss(f"<item><title>d</title><pubDate>{written}</pubDate></item>")).entries[0]
    assert entry.published == expected
    if entry.published is not None:
        assert entry.published.utcoffset() is not None
        assert entry.published.tzinfo == UTC


def test_published_falls_back_to_updated_but_updated_never_to_published() -> None:
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
      <entry><id>u</id><title>u</title><updated>2026-11-20T12:00:00Z</updated></entry>
      <entry><id>p</id><title>p</title><published>2026-11-21T12:00:00Z</published></entry>
    </feed>"""
    only_updated, only_published = parse(atom, "application/atom+xml").entries
    assert only_updated.published == only_updated.updated == datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert only_published.published == datetime(2026, 11, 21, 12, tzinfo=UTC)
    assert only_published.updated is None


# --- links, guids, authors, titles ---------------------------------------------------------


def test_relative_links_resolve_against_the_feed_url() -> None:
    feed = parse(
        rss(
            "<item><title>a</title><link>/2026/11/a.html</link></item>"
            "<item><title>b</title><link>b.html</link></item>"
            '<item><title>c</title><description>&lt;a href="../c"&gt;c&lt;/a&gt;</description>'
            "</item>"
        )
    )
    a, b, c = feed.entries
    assert a.link == "https://news.example.org/2026/11/a.html"
    assert b.link == "https://news.example.org/feeds/b.html"
    assert 'href="https://news.example.org/c"' in c.summary_html


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "ftp://files.example/a",
        "mailto:desk@example.org",
        "data:text/html,x",
        "http://",
    ],
)
def test_only_http_links_are_kept(link: str) -> None:
    assert parse(rss(f"<item><title>x</title><link>{link}</link></item>")).entries[0].link is None


def test_guids_are_kept_as_written_not_resolved_as_urls() -> None:
    feed = parse(
        rss(
            "<item><title>a</title><guid>12345</guid></item>"
            "<item><title>b</title><guid>https://news.example.org/story/b</guid></item>"
            "<item><title>c</title><guid>  spaced  </guid><link>https://x.example/c</link></item>"
            '<item><title>d</title><guid isPermaLink="false">   </guid></item>'
        )
    )
    a, b, c, d = feed.entries
    assert (a.guid, a.link) == ("12345", None)  # a name, not a link relative to the feed
    assert (b.guid, b.link) == (
        "https://news.example.org/story/b",
        "https://news.example.org/story/b",
    )
    assert (c.guid, c.link) == ("spaced", "https://x.example/c")
    assert d.guid is None


def test_an_atom_id_is_a_link_only_when_it_is_an_absolute_url() -> None:
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
      <entry><id>1</id><title>a</title><link rel="enclosure" href="https://x.example/a.mp3"/></entry>
      <entry><id>https://x.example/p/2</id><title>b</title></entry>
      <entry><id>3</id><title>c</title><link href="/c"/></entry>
    </feed>"""
    links = [(e.guid, e.link) for e in parse(atom, "application/atom+xml").entries]
    assert links == [
        ("1", None),
        ("https://x.example/p/2", "https://x.example/p/2"),
        ("3", "https://news.example.org/c"),
    ]


def test_elements_named_like_feedparser_keys_do_not_break_the_mapping() -> None:
    items = (
        "<item><title>a</title><links>x</links><content>y</content><authors>z</authors>"
        "<summary_detail>s</summary_detail><title_detail>t</title_detail></item>"
    )
    (entry,) = parse(rss(items)).entries
    assert entry.title == "a" and entry.link is None


def test_guid_does_not_change_when_the_feed_moves() -> None:
    body = rss("<item><title>a</title><guid>item-7</guid></item>")
    moved = parse_feed(body, url="https://elsewhere.example/new/feed.xml")
    assert moved.entries[0].guid == parse(body).entries[0].guid == "item-7"


@pytest.mark.parametrize(
    ("written", "author"),
    [
        ("desk@levant-monitor.example (Rana Haddad)", "Rana Haddad"),
        ("Rana Haddad &lt;desk@levant-monitor.example&gt;", "Rana Haddad"),
        ("Rana Haddad (desk@news.com)", "Rana Haddad"),
        ("desk@levant-monitor.example", "desk@levant-monitor.example"),
        ("  Omar   Saleh ", "Omar Saleh"),
    ],
)
def test_author_names(written: str, author: str) -> None:
    assert (
        parse(rss(f"<item><title>a</title><author>{written}</author></item>")).entries[0].author
        == author
    )


def test_titles_are_plain_one_line_text() -> None:
    feed = parse(
        rss(
            "<item><title>&lt;b&gt;Bold&lt;/b&gt; &amp;amp; news</title></item>"
            "<item><title>  two\n  lines  </title></item>"
            "<item><title><![CDATA[Q&A: <i>convoys</i>]]></title></item>"
        )
    )
    assert [e.title for e in feed.entries] == ["Bold & news", "two lines", "Q&A: convoys"]


def test_summary_equal_to_content_is_kept_in_both() -> None:
    html = "&lt;p&gt;Same text&lt;/p&gt;"
    items = (
        f"<item><title>a</title><description>{html}</description>"
        f"<content:encoded>{html}</content:encoded></item>"
    )
    ns = ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
    entry = parse(rss(items, namespaces=ns)).entries[0]
    assert entry.summary_html == entry.content_html == "<p>Same text</p>"
    assert entry.summary_text == entry.content_text == "Same text"


def test_content_is_the_longest_content_value() -> None:
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/">
      <title>A</title><entry><id>x</id><title>t</title>
      <content type="html">&lt;p&gt;short&lt;/p&gt;</content>
      <content:encoded>&lt;p&gt;the much longer full text&lt;/p&gt;</content:encoded>
    </entry></feed>"""
    assert (
        parse(atom, "application/atom+xml").entries[0].content_text == "the much longer full text"
    )


# --- feed-level hints ---------------------------------------------------------------------

SY = ' xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'


@pytest.mark.parametrize(
    ("channel", "seconds"),
    [
        ("<ttl>30</ttl>", 1800),
        ("<ttl> 5 </ttl>", 300),
        ("<ttl>0</ttl>", None),
        ("<ttl>-10</ttl>", None),
        ("<ttl>soon</ttl>", None),
        ("<ttl>99999999999</ttl>", 31536000),
        (
            "<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>",
            1800,
        ),
        ("<sy:updatePeriod>daily</sy:updatePeriod>", 86400),
        ("<sy:updateFrequency>4</sy:updateFrequency>", 21600),
        (
            "<sy:updatePeriod>weekly</sy:updatePeriod><sy:updateFrequency>7</sy:updateFrequency>",
            86400,
        ),
        ("<sy:updatePeriod>monthly</sy:updatePeriod>", 2592000),
        ("<sy:updatePeriod>yearly</sy:updatePeriod>", 31536000),
        ("<sy:updatePeriod>fortnightly</sy:updatePeriod>", None),
        ("<ttl>45</ttl><sy:updatePeriod>daily</sy:updatePeriod>", 2700),
        ("", None),
    ],
)
def test_ttl_hint(channel: str, seconds: int | None) -> None:
    assert parse(rss("", channel=channel, namespaces=SY)).ttl_hint == seconds


def test_an_empty_feed_is_a_feed() -> None:
    feed = parse(rss(""))
    assert (feed.format, feed.title, feed.entries) == ("rss20", "T", ())


# --- not a feed ---------------------------------------------------------------------


def alternate_link(kind: str, href: str) -> str:
    return f'<link rel="alternate" type="application/{kind}" href="{href}">'


@pytest.mark.parametrize(
    ("head", "alternate"),
    [
        (alternate_link("rss+xml", "/rss"), "https://news.example.org/rss"),
        (
            alternate_link("atom+xml", "feed.atom").replace("alternate", "Alternate"),
            "https://news.example.org/feeds/feed.atom",
        ),
        (alternate_link("feed+json", "https://j.example/f.json"), "https://j.example/f.json"),
        (
            '<base href="https://cdn.example/site/">' + alternate_link("rss+xml", "rss.xml"),
            "https://cdn.example/site/rss.xml",
        ),
        ('<link rel="alternate" hreflang="ar" href="/ar/"><link rel="stylesheet" href="/s">', None),
        (alternate_link("rss+xml", "javascript:alert(1)"), None),
    ],
)
def test_html_page_is_not_a_feed_and_names_its_feed(head: str, alternate: str | None) -> None:
    page = (
        f"<!DOCTYPE html><html><head><title>S</title>{head}</head><body><p>News</p></body></html>"
    )
    with pytest.raises(NotAFeedError) as caught:
        parse(page.encode(), "text/html")
    assert caught.value.alternate == alternate
    assert caught.value.feed_url == URL
    assert str(caught.value).startswith("not a feed: an HTML page")
    if alternate:
        assert str(caught.value).endswith(f"the page links its feed at {alternate}")


def test_html_served_as_xml_is_recognised_by_its_body() -> None:
    with pytest.raises(NotAFeedError):
        parse(b"<html><body><h1>Moved</h1></body></html>", "application/rss+xml")


NOT_XML = "not a feed: the body is not XML, HTML or JSON; it starts"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty response body"),
        (b"  \r\n\t ", "empty response body"),
        (b"Service Unavailable", f"{NOT_XML} 'Service Unavailable'"),
        (bytes(range(256)) * 8, "not a feed: binary data, not XML, HTML or JSON"),
        (
            b"<?xml version='1.0'?><error>403</error>",
            "not a feed: no RSS, Atom or JSON Feed elements",
        ),
        (b"<?xml version='1.0'?>", "not a feed: no element found"),
    ],
)
def test_bodies_that_are_not_feeds(body: bytes, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(body)
    assert not isinstance(caught.value, NotAFeedError)
    assert caught.value.message == message
    assert caught.value.feed_url == URL


def test_a_body_that_names_a_file_is_not_read(no_network: list[object]) -> None:
    # feedparser opens a string or bytes that name an existing file; parse_feed never lets it.
    for body in (b"/etc/passwd", b"file:///etc/passwd", b"http://127.0.0.1:9/feed.xml"):
        with pytest.raises(ParseError) as caught:
            parse(body, None)
        assert "root:" not in str(caught.value)
    assert no_network == []


# --- hostile XML: entities ------------------------------------------------------------------


def _passwd_lines() -> list[str]:
    lines = Path("/etc/passwd").read_text().splitlines() if Path("/etc/passwd").exists() else []
    return [line for line in lines if line.strip()][:3] or ["root:x:0:0"]


@pytest.mark.parametrize(
    ("name", "kind"),
    [("billion-laughs.xml", "entity expansion"), ("xxe-file.xml", "XXE"), ("xxe-http.xml", "XXE")],
)
def test_entity_attacks_are_refused_fast_and_read_nothing(
    name: str, kind: str, no_network: list[object]
) -> None:
    started = time.monotonic()
    with pytest.raises(ParseError) as caught:
        parse((FEEDS / name).read_bytes(), "application/xml")
    assert time.monotonic() - started < 2
    assert f"known attack ({kind})" in str(caught.value)
    assert not any(line in str(caught.value) for line in _passwd_lines())
    assert no_network == []


def hostile(
    dtd: bytes, title: bytes = b"&x;", declaration: bytes = b'<?xml version="1.0"?>'
) -> bytes:
    channel = b"<channel><title>" + title + b"</title><item><title>i</title></item></channel>"
    return declaration + b"<!DOCTYPE rss [" + dtd + b']><rss version="2.0">' + channel + b"</rss>"


XXE = b'<!ENTITY x SYSTEM "file:///etc/passwd">'
LAUGHS = b'<!ENTITY a "aaaaaaaaaa">' + b"".join(
    b'<!ENTITY a%d "%s">' % (i, (b"&a%d;" % (i - 1) if i > 1 else b"&a;") * 10) for i in range(1, 9)
)
UTF16_DECLARATION = b'<?xml version="1.0" encoding="UTF-16"?>'
UTF7_DECLARATION = b'<?xml version="1.0" encoding="UTF-7"?>'


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(hostile(LAUGHS, b"&a8;"), id="laughs-on-one-line"),
        pytest.param(hostile(XXE), id="xxe-on-one-line"),
        pytest.param(
            hostile(b'\n<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd">\n%p;\n', b"t"),
            id="parameter-entity",
        ),
        pytest.param(hostile(b'\n<!ENTITY x "' + b"x" * 10_000 + b'">\n', b"&x;&x;"), id="long"),
        pytest.param(hostile(b'\n<!ENTITY x "&#38;lol;">\n'), id="escaped-nesting"),
        pytest.param(
            hostile(XXE, declaration=UTF16_DECLARATION).decode().encode("utf-16"), id="utf16"
        ),
        pytest.param(
            UTF7_DECLARATION + hostile(XXE, declaration=b"").decode().encode("utf-7"), id="utf7"
        ),
    ],
)
def test_disguised_entity_attacks_are_refused(body: bytes, no_network: list[object]) -> None:
    started = time.monotonic()
    with pytest.raises(ParseError, match=r"^refused: the feed declares"):
        parse(body, None)
    assert time.monotonic() - started < 2
    assert no_network == []


def test_feedparser_alone_never_reads_external_entities(no_network: list[object]) -> None:
    # What the guard stands in front of: feedparser's own handling, which reads nothing
    # either, but leaves the entity names in the text and lets a one-line billion laughs
    # reach expat (stopped only by expat's amplification limit, after seconds of CPU).
    for name in ("xxe-file.xml", "xxe-http.xml"):
        result = feedparser.parse(io.BytesIO((FEEDS / name).read_bytes()))
        text = json.dumps(result, default=str)
        assert not any(line in text for line in _passwd_lines())
    assert no_network == []


def test_short_declared_entities_and_external_dtds_still_read() -> None:
    # On its own line, as feeds write it: feedparser keeps short entities only then.
    declaration = b'<?xml version="1.0"?>\n'
    dtd = b'\n<!ENTITY nbsp "&#160;">\n<!ENTITY co "ACME Wire">\n'
    safe = hostile(dtd, b"A&nbsp;B &co;", declaration)
    assert parse(safe, None).title == "A B ACME Wire"
    netscape = parse((FEEDS / "rss091.xml").read_bytes(), None)
    assert netscape.format == "rss091n" and len(netscape.entries) == 3 and netscape.warning is None


# --- encodings and broken bytes --------------------------------------------------------------

ARABIC_ITEM = "<item><title>رتل أمريكي قرب قاعدة عين الأسد</title><guid>a1</guid></item>"
ARABIC_TITLE = "رتل أمريكي قرب قاعدة عين الأسد"


def arabic_feed(encoding: str, declared: str | None = None) -> bytes:
    decl = f' encoding="{declared or encoding}"' if declared != "" else ""
    channel = f"<channel><title>ت</title>{ARABIC_ITEM}</channel>"
    return f'<?xml version="1.0"{decl}?><rss version="2.0">{channel}</rss>'.encode(encoding)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (arabic_feed("utf-8"), "application/rss+xml"),
        (arabic_feed("utf-8", declared=""), None),  # no declaration, no header: UTF-8
        (arabic_feed("utf-8", declared=""), "text/xml"),  # text/xml defaults to US-ASCII
        (arabic_feed("utf-8"), "text/xml; charset=ISO-8859-1"),  # a server's wrong default
        (arabic_feed("utf-8", declared="windows-1252"), "application/xml"),  # a wrong declaration
        (codecs.BOM_UTF8 + arabic_feed("utf-8"), "application/xml"),
        (arabic_feed("windows-1256"), "text/xml"),
        (arabic_feed("windows-1256"), "application/xml; charset=utf-8"),
        (arabic_feed("iso-8859-6"), None),
        (arabic_feed("utf-16", declared="utf-16"), None),
        (codecs.BOM_UTF16_BE + arabic_feed("utf-16-be", declared="utf-16"), "application/xml"),
        (arabic_feed("utf-16-le", declared="utf-16"), None),  # no BOM: sniffed from "<?"
        (arabic_feed("utf-32", declared="utf-32"), None),
    ],
)
def test_encodings_decode_to_the_same_text(body: bytes, content_type: str | None) -> None:
    feed = parse(body, content_type)
    assert feed.title == "ت"
    assert feed.entries[0].title == ARABIC_TITLE


def test_invalid_utf8_keeps_the_readable_text() -> None:
    body = arabic_feed("utf-8").replace("قرب".encode(), b"\xff\xfe\xc3")
    feed = parse(body, "application/xml")
    assert feed.entries[0].title == "رتل أمريكي \ufffd\ufffd\ufffd قاعدة عين الأسد"
    assert feed.warning and "invalid UTF-8" in feed.warning


def test_latin1_without_a_declaration_is_not_taken_for_broken_utf8() -> None:
    body = (
        "<rss version='2.0'><channel><title>Défense à Aïn al-Asad</title></channel></rss>".encode(
            "latin-1"
        )
    )
    assert parse(body, None).title == "Défense à Aïn al-Asad"


def test_nul_and_control_bytes_are_dropped() -> None:
    body = rss("<item><title>Con\x00voy\x0b leaves</title><guid>g\x00</guid></item>")
    feed = parse(body)
    assert (feed.entries[0].title, feed.entries[0].guid) == ("Convoy leaves", "g")
    assert feed.warning and "control character" in feed.warning


def test_bare_ampersands_do_not_degrade_the_parse() -> None:
    body = rss(
        "<item><title>Q&A with a driver</title><link>https://x.example/?a=1&b=2</link></item>"
        "<item><title><![CDATA[R&D & logistics]]></title></item>"
    )
    first, second = parse(body).entries
    assert (first.title, first.link) == ("Q&A with a driver", "https://x.example/?a=1&b=2")
    assert second.title == "R&D & logistics"


def test_a_crash_inside_feedparser_falls_back_to_its_lenient_parser() -> None:
    # A no-break space in a namespace URI: the SAX reader splits the element name on it
    # and feedparser's strict parser raises ValueError instead of a parse error.
    namespace = ' xmlns:dc="http://purl.org/dc/\u00a0elements/1.1/"'
    body = rss("<item><title>a</title><dc:creator>Rana</dc:creator></item>", namespaces=namespace)
    feed = parse(body)
    assert [e.title for e in feed.entries] == ["a"]
    assert feed.warning and "read leniently" in feed.warning


def test_malformed_feed_keeps_what_is_readable() -> None:
    body = rss("<item><title>one</title></item><item><title>two</title><description>cut off")
    feed = parse(body)
    assert [e.title for e in feed.entries] == ["one", "two"]
    assert feed.warning


# --- size -----------------------------------------------------------------------------------


def test_twenty_thousand_items() -> None:
    items = "".join(
        f"<item><title>Convoy {i}</title><guid>c-{i}</guid>"
        f"<pubDate>Mon, 23 Nov 2026 06:00:00 GMT</pubDate></item>"
        for i in range(20_000)
    )
    feed = parse(rss(items))
    assert len(feed.entries) == 20_000
    assert (feed.entries[0].guid, feed.entries[-1].guid) == ("c-0", "c-19999")
    assert feed.entries[-1].title == "Convoy 19999"


def test_megabyte_title_and_text_are_capped() -> None:
    title = "Convoy " * 150_000  # ~1 MB
    description = "<p>" + "word " * 60_000 + "</p>"
    body = rss(
        f"<item><title>{title}</title><description><![CDATA[{description}]]></description></item>"
    )
    entry = parse(body).entries[0]
    assert len(entry.title) <= 1_000 and entry.title.startswith("Convoy Convoy")
    assert len(entry.summary_text) <= 200_000 and entry.summary_text.startswith("word word")


# --- the worker pool ---------------------------------------------------------------------------


def fixture_body(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def test_inline_pool_returns_errors_as_values() -> None:
    async def run() -> list[ParsedFeed | ParseError]:
        pool = ParserPool(workers=0)
        try:
            return [
                await pool.parse(
                    fixture_body("rss20.xml"), url=URL, content_type="application/xml"
                ),
                await pool.parse(b"", url=URL, content_type=None),
                await pool.parse(
                    fixture_body("html-with-alternate.html"), url=URL, content_type="text/html"
                ),
            ]
        finally:
            pool.close()

    feed, empty, html = asyncio.run(run())
    assert isinstance(feed, ParsedFeed) and len(feed.entries) == 6
    assert isinstance(empty, ParseError) and empty.message == "empty response body"
    assert (
        isinstance(html, NotAFeedError)
        and html.alternate == "https://news.example.org/security/feed.xml"
    )


def test_process_pool_parses_in_other_processes_and_returns_errors_as_values() -> None:
    names = [
        "rss20.xml",
        "atom10.xml",
        "jsonfeed11.json",
        "rss20-windows1256.xml",
        "xxe-file.xml",
        "not-a-feed.html",
    ]

    async def run() -> list[ParsedFeed | ParseError]:
        pool = ParserPool(workers=2)
        try:
            jobs = [pool.parse(fixture_body(n), url=URL, content_type=None) for n in names]
            return list(await asyncio.gather(*jobs))
        finally:
            pool.close()

    results = asyncio.run(run())
    for name, result in zip(names, results, strict=True):
        try:
            expected: ParsedFeed | ParseError = parse_feed(fixture_body(name), url=URL)
        except ParseError as exc:
            expected = exc
        if isinstance(expected, ParseError):
            assert type(result) is type(expected) and isinstance(result, ParseError)
            assert (result.message, result.feed_url) == (expected.message, URL)
        else:
            assert result == with_keys(expected)  # the worker adds the dedupe keys


def test_a_crashed_worker_costs_one_parse_and_the_pool_recovers() -> None:
    async def run() -> tuple[
        ParsedFeed | ParseError, ParsedFeed | ParseError, ParsedFeed | ParseError
    ]:
        # feedparser for every feed: the fast path parses well-formed feeds inline.
        pool = ParserPool(workers=1, parser="feedparser")
        try:
            first = await pool.parse(fixture_body("rss20.xml"), url=URL, content_type=None)
            assert pool._first is not None
            executor = pool._first.executor
            for process in list(executor._processes.values()):  # type: ignore[attr-defined]
                assert process.pid is not None
                os.kill(process.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while not executor._broken and time.monotonic() < deadline:  # type: ignore[attr-defined]
                await asyncio.sleep(0.05)
            crashed = await pool.parse(fixture_body("rss20.xml"), url=URL, content_type=None)
            after = await pool.parse(fixture_body("atom10.xml"), url=URL, content_type=None)
            return first, crashed, after
        finally:
            pool.close()

    first, crashed, after = asyncio.run(run())
    assert isinstance(first, ParsedFeed)
    assert isinstance(crashed, ParseError) and "parser process died" in crashed.message
    assert isinstance(after, ParsedFeed) and after.format == "atom10"


def test_the_pool_starts_its_other_workers_only_when_work_calls_for_them() -> None:
    # A trickle of parses (a steady cycle's few changed feeds) is served by the first
    # worker alone; a backlog behind it starts the others, and so does news of many
    # feeds never parsed (a first cycle). Every worker parses.
    body = fixture_body("rss20.xml")

    async def run(pool: ParserPool, announced: int, burst: int) -> tuple[int, int, bool]:
        try:
            pool.start()
            for _ in range(10):
                assert isinstance(await pool.parse(body, url=URL, content_type=None), ParsedFeed)
            trickle = pool.started
            pool.expect(announced)
            jobs = [pool.parse(body, url=URL, content_type=None) for _ in range(burst)]
            results = await asyncio.gather(*jobs)
            parsed = all(isinstance(r, ParsedFeed) and len(r.entries) == 6 for r in results)
            return trickle, pool.started, parsed
        finally:
            pool.close()

    assert asyncio.run(run(ParserPool(workers=3, backlog=8), 0, 6)) == (1, 1, True)
    assert asyncio.run(run(ParserPool(workers=3, backlog=8), 0, 40)) == (1, 3, True)
    assert asyncio.run(run(ParserPool(workers=3, backlog=100), 15, 4)) == (1, 1, True)
    assert asyncio.run(run(ParserPool(workers=3, backlog=100), 16, 4)) == (1, 3, True)


def test_the_other_workers_stop_after_a_while_without_work_and_start_again_on_a_backlog() -> None:
    # After a first cycle the workers beyond the first hold their memory (the parser,
    # the compiled watchlist) for nothing: a trickle of parses keeps to the first one,
    # and the others exit once idle for `retire_after`. A new backlog brings them back.
    body = fixture_body("rss20.xml")

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    async def run() -> None:
        pool = ParserPool(workers=3, backlog=8, retire_after=0.5)
        try:
            pool.expect(20)
            burst = await asyncio.gather(
                *(pool.parse(body, url=URL, content_type=None) for _ in range(30))
            )
            assert all(isinstance(r, ParsedFeed) for r in burst) and pool.started == 3
            assert pool._rest is not None
            others = [p.pid for p in pool._rest.executor._processes.values()]  # type: ignore[attr-defined]
            assert not pool.retire_idle()  # busy a moment ago
            await asyncio.sleep(0.6)
            for _ in range(5):  # one at a time: the first worker's
                assert isinstance(await pool.parse(body, url=URL, content_type=None), ParsedFeed)
            assert pool.retire_idle() and pool.started == 1
            deadline = time.monotonic() + 10
            while any(alive(pid) for pid in others) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert not any(alive(pid) for pid in others)
            assert isinstance(await pool.parse(body, url=URL, content_type=None), ParsedFeed)
            again = await asyncio.gather(
                *(pool.parse(body, url=URL, content_type=None) for _ in range(40))
            )
            assert all(isinstance(r, ParsedFeed) for r in again) and pool.started == 3
        finally:
            pool.close()

    asyncio.run(run())


def test_closed_pool_answers_with_an_error() -> None:
    pool = ParserPool(workers=0)
    pool.close()
    result = asyncio.run(pool.parse(b"<rss/>", url=URL, content_type=None))
    assert isinstance(result, ParseError) and "closed" in result.message


def test_pool_size_defaults_to_the_cores() -> None:
    pool = ParserPool()
    try:
        assert pool.workers == (os.cpu_count() or 1)
    finally:
        pool.close()
    with pytest.raises(ValueError):
        ParserPool(-1)


def test_the_pipes_to_and_from_a_worker_hold_several_feeds() -> None:
    """A cold cycle's workers waited a third of their time on 64 KB pipes (a parsed feed is
    60-160 KB): the pool widens them. The executor's queues are private to
    concurrent.futures, so a Python release that renames them would undo this silently;
    this test is where that shows."""
    limit = Path("/proc/sys/fs/pipe-max-size")
    if not hasattr(fcntl, "F_GETPIPE_SZ") or not limit.exists():
        pytest.skip("pipe sizes are a Linux setting")
    if int(limit.read_text()) < PIPE_BYTES:
        pytest.skip(f"this machine caps pipes below {PIPE_BYTES} bytes (fs.pipe-max-size)")
    pool = ParserPool(workers=1)
    try:
        body = fixture_body("rss20.xml")
        assert isinstance(asyncio.run(pool.parse(body, url=URL, content_type=None)), ParsedFeed)
        executor = pool._first.executor if pool._first is not None else None
        assert executor is not None
        for queue in (executor._call_queue, executor._result_queue):  # type: ignore[attr-defined]
            for end in (queue._reader, queue._writer):
                assert fcntl.fcntl(end.fileno(), fcntl.F_GETPIPE_SZ) >= PIPE_BYTES
    finally:
        pool.close()


# --- fuzz (bounded) -------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2_000))
def test_random_bytes_only_ever_raise_parse_error(body: bytes) -> None:
    with contextlib.suppress(ParseError):
        parse_feed(body, url=URL, content_type=None)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(regen.FIXTURES)),
    st.integers(min_value=0),
    st.binary(min_size=1, max_size=8),
)
def test_damaged_fixtures_only_ever_raise_parse_error(name: str, at: int, junk: bytes) -> None:
    body = fixture_body(name)
    position = at % (len(body) + 1)
    damaged = body[:position] + junk + body[position + len(junk) :]
    with contextlib.suppress(ParseError):
        parse_feed(damaged, url=URL, content_type=None)


def _every_feed_through_feedparser() -> list[object]:
    """Every fixture (xml:base, relative links, javascript: URIs, broken XML) and farm
    feeds of all three formats, parsed with `--parser feedparser`: records or errors."""
    from bench.feedfarm import FeedGenerator, load_vocabulary

    generator = FeedGenerator(12, 7, 0.1, load_vocabulary())
    bodies = [(p.name, p.read_bytes()) for p in sorted(FEEDS.iterdir()) if p.is_file()]
    bodies += [(f"farm-{i}", generator.body(i, 0)) for i in range(12)]
    base = "https://feeds.example.net/dir/feed.xml"
    out: list[object] = []
    for name, body in bodies:
        try:
            out.append(parse_feed(body, url=base, content_type=None, parser="feedparser"))
        except ParseError as exc:
            out.append((name, str(exc)))
    return out


def test_remembered_url_joins_leave_every_parse_as_feedparser_makes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ingest.feedparser_urls caches two of feedparser's URL functions; every feed must
    # parse to the same records with feedparser's own functions.
    import feedparser.urls

    from ingest.feedparser_urls import _USERS

    cached = feedparser.urls.make_safe_absolute_uri
    assert hasattr(cached, "cache_info"), "the cache is not installed"
    remembered = _every_feed_through_feedparser()
    assert cached.cache_info().hits > 0  # type: ignore[attr-defined]
    for name, modules in _USERS.items():
        for module in modules:
            monkeypatch.setattr(module, name, getattr(module, name).__wrapped__)
    assert _every_feed_through_feedparser() == remembered


def test_plain_key_lookups_leave_every_parse_as_feedparser_makes_it() -> None:
    from feedparser.util import FeedParserDict

    from ingest import feedparser_dict

    assert FeedParserDict.get is feedparser_dict._get, "the shortcut is not installed"
    shortcut = _every_feed_through_feedparser()
    feedparser_dict.restore_originals()
    try:
        original = _every_feed_through_feedparser()
    finally:
        feedparser_dict.skip_detour_for_plain_keys()
    assert shortcut == original


@pytest.mark.parametrize(
    "content",
    [
        {},
        {"summary": "s", "href": "h", "id": "i", "updated": "u", "published": "p"},
        {"subtitle": "t", "published": "p", "published_parsed": (2026,), "tags": []},
        {"tags": [{"term": "war"}], "links": [{"rel": "license", "href": "l"}]},
        {"links": [{"rel": "enclosure", "href": "e"}], "value": "", "type": "text/html"},
    ],
)
def test_plain_key_lookups_answer_as_feedparser_does(content: dict[str, object]) -> None:
    # Every key feedparser treats specially (legacy keys, aliases) and plain ones,
    # present or not: .get, `in` and has_key give what feedparser's own methods give.
    import warnings

    from feedparser.util import FeedParserDict

    from ingest import feedparser_dict

    legacy = ["category", "enclosures", "license", "updated", "updated_parsed"]
    keys = [*legacy, *FeedParserDict.keymap, *content, "value", "type", "missing", "base64"]
    data = FeedParserDict(content)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # updated -> published
        for key in keys:
            for default in (None, 0, "fallback"):
                expected = feedparser_dict._original_get(data, key, default)
                assert data.get(key, default) == expected, key
            assert (key in data) is feedparser_dict._original_contains(data, key), key
            assert data.has_key(key) is feedparser_dict._original_contains(data, key), key


def test_a_prestarted_worker_is_adopted_by_the_next_pool() -> None:
    # `ingest run` spawns its first worker before importing the daemon; the daemon's pool
    # must take that one over (one process, not two) and parse with it.
    from ingest import parse_pool

    parse_pool.prestart()
    prestarted = parse_pool._prestarted[0]

    async def run() -> tuple[bool, int, ParsedFeed | ParseError]:
        pool = ParserPool(workers=2)
        try:
            pool.start()
            result = await pool.parse(fixture_body("rss20.xml"), url=URL, content_type=None)
            return pool._first is prestarted, pool.started, result
        finally:
            pool.close()

    adopted, started, result = asyncio.run(run())
    assert adopted and started == 1 and not parse_pool._prestarted
    assert isinstance(result, ParsedFeed) and len(result.entries) == 6
