"""The fast parser against feedparser: the same stored records, or a fallback to feedparser.

Every feed fixture in tests/data/feeds/ and a sample of the benchmark farm's feeds (all
three formats) is parsed both ways; where `parse_fast` takes a feed, every field that
is stored (title, link, guid, dates, author, text) must equal what the feedparser path
gives. Where it declines (returns None), `parse_feed` falls back to feedparser, and
the fixtures it declines are listed here so a change in coverage is a visible diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.feedfarm import FeedGenerator, load_vocabulary
from ingest.htmltext import html_to_text
from ingest.parse import parse_feed
from ingest.parse_fast import fast_html_to_text, parse_fast
from ingest.records import ParsedFeed

FEEDS = Path(__file__).parent / "data" / "feeds"
BASE_URL = "https://feeds.example.net/feeds/"
CONTENT_TYPES = {".xml": "application/xml", ".rdf": "application/rdf+xml"}
FIXTURES = sorted(p.name for p in FEEDS.iterdir() if p.suffix in CONTENT_TYPES)
# Fixtures the fast path leaves to feedparser, and why (DOCTYPE, broken XML, encodings,
# RSS 0.9x, Atom 0.3, elements feedparser maps onto stored fields...).
FALLBACK = {
    "atom03.xml",  # Atom 0.3
    "atom10.xml",  # links of other rels beside the alternate one
    "billion-laughs.xml",  # entity declarations
    "dates-weird.xml",  # dates only feedparser's date handlers read
    "empty.xml",  # not XML
    "invalid-utf8.xml",  # repaired by the feedparser path
    "malformed-partial.xml",  # broken XML
    "nul-bytes.xml",
    "relative-links.xml",  # xml:base
    "rss091.xml",  # RSS 0.91
    "rss092.xml",  # RSS 0.92
    "rss10.rdf",  # elements beyond the ones the fast path knows
    "rss20-latin1.xml",  # not UTF-8
    "rss20-windows1256.xml",
    "utf16-bom.xml",
    "wrong-charset.xml",
    "xxe-file.xml",  # DOCTYPE
    "xxe-http.xml",
}

ENTRY_FIELDS = (
    "guid",
    "link",
    "title",
    "summary_text",
    "content_text",
    "author",
    "published",
    "updated",
)


def assert_same_records(fast: ParsedFeed, reference: ParsedFeed) -> None:
    assert (fast.title, fast.link, fast.format, fast.language, fast.ttl_hint) == (
        reference.title,
        reference.link,
        reference.format,
        reference.language,
        reference.ttl_hint,
    )
    assert len(fast.entries) == len(reference.entries)
    for mine, theirs in zip(fast.entries, reference.entries, strict=True):
        for name in ENTRY_FIELDS:
            assert getattr(mine, name) == getattr(theirs, name), name
        # Display HTML: sanitized by the same allow-list, but not re-serialized.
        assert bool(mine.summary_html) == bool(theirs.summary_html)


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_same_records_or_fallback(name: str) -> None:
    body = (FEEDS / name).read_bytes()
    content_type = CONTENT_TYPES[Path(name).suffix]
    fast = parse_fast(body, url=BASE_URL + name, content_type=content_type)
    if fast is None:
        assert name in FALLBACK, f"{name}: the fast path now declines it; list it or fix it"
        return
    reference = parse_feed(
        body, url=BASE_URL + name, content_type=content_type, parser="feedparser"
    )
    assert_same_records(fast, reference)
    assert parse_feed(body, url=BASE_URL + name, content_type=content_type) == fast


def test_fallback_list_is_current() -> None:
    taken = [
        name
        for name in FALLBACK
        if parse_fast(
            (FEEDS / name).read_bytes(),
            url=BASE_URL + name,
            content_type=CONTENT_TYPES[Path(name).suffix],
        )
        is not None
    ]
    assert taken == [], "the fast path now reads these: compare them and drop them from FALLBACK"


@pytest.fixture(scope="module")
def farm() -> FeedGenerator:
    return FeedGenerator(feeds=60, seed=11, churn=0.1, vocabulary=load_vocabulary())


def test_farm_feeds_same_records(farm: FeedGenerator) -> None:
    formats: set[str] = set()
    for index in range(farm.feeds):
        body = farm.body(index, 1)
        url = f"http://127.0.0.1:8080/feeds/{index}.xml"
        fast = parse_fast(body, url=url, content_type="application/xml; charset=utf-8")
        assert fast is not None, f"farm feed {index} ({farm.shapes[index].format}) declined"
        reference = parse_feed(body, url=url, parser="feedparser")
        assert_same_records(fast, reference)
        formats.add(fast.format)
    assert formats == {"rss20", "atom10", "rss10"}


def test_links_in_html_made_absolute(farm: FeedGenerator) -> None:
    body = b"""<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>
<item><guid>g1</guid><title>One</title>
<description>&lt;p&gt;See &lt;a href="/world/x"&gt;x&lt;/a&gt;&lt;/p&gt;</description></item>
<item><guid>g2</guid><title>Two</title><description>&lt;p onclick="evil()"&gt;Hi&lt;/p&gt;
&lt;script&gt;alert(1)&lt;/script&gt;</description></item></channel></rss>"""
    fast = parse_fast(body, url="https://site.example/feed", content_type=None)
    assert fast is not None
    assert 'href="https://site.example/world/x"' in fast.entries[0].summary_html
    unsafe = fast.entries[1].summary_html
    assert "onclick" not in unsafe and "script" not in unsafe and "Hi" in unsafe
    reference = parse_feed(body, url="https://site.example/feed", parser="feedparser")
    assert_same_records(fast, reference)


def test_never_fetches_a_url_given_as_text() -> None:
    assert parse_fast(b"https://example.com/feed.xml", url="https://x.example/") is None


HTML_SAMPLES = [
    "<p>One &amp; two</p><p>three<br>four</p>",
    "plain &lt;text&gt; only",
    "<div><b>bold</b> and <i>italic</i></div>\n\n<ul><li>a</li><li>b</li></ul>",
    "<table><tr><td>1</td><td>2</td></tr></table>",
    "<p>a <!-- comment --> b</p>",
    "<script>var a = '<p>';</script><p>after</p>",
    '<a title="x>y" href="/p">link</a>',
    "<p>tail &amp",
    "a < b and c > d",
    "<p/>x<br/>y<hr/>z",
    "<P>Upper</P><BR>case",
]


@pytest.mark.parametrize("html", HTML_SAMPLES)
def test_fast_html_to_text_is_html_to_text(html: str) -> None:
    assert fast_html_to_text(html) == html_to_text(html)


def test_fast_html_to_text_on_farm_descriptions(farm: FeedGenerator) -> None:
    for index in range(0, farm.feeds, 5):
        for number in range(5):
            html = str(farm.item(index, number)["html"])
            assert fast_html_to_text(html) == html_to_text(html)
