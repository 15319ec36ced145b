"""The fast parser against feedparser: the same stored records, or a fallback to feedparser.

Every feed fixture in tests/data/feeds/ and a sample of the benchmark farm's feeds (all
three formats) is parsed both ways; where `parse_fast` takes a feed, every field that
is stored (title, link, guid, dates, author, text) must equal what the feedparser path
gives. Where it declines (returns None), `parse_feed` falls back to feedparser, and
the fixtures it declines are listed here so a change in coverage is a visible diff.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urljoin

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bench.feedfarm import FeedGenerator, load_vocabulary
from ingest.htmltext import capped, html_to_text, http_url, one_line, storable
from ingest.parse import parse_feed
from ingest.parse_fast import fast_html_to_text, parse_fast
from ingest.parse_fast_fields import link_url, plain_http_url, rfc822_date
from ingest.parse_fast_html import html_fields
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


@pytest.mark.parametrize(
    "bad",
    [
        b"\xff",
        b"\xc0\xaf",
        b"\xed\xa0\x80",
        b"\xe2\x82",
        b"\xf4\x90\x80\x80",
        b"\xf8\x88\x80\x80\x80",
    ],
    ids=["stray", "overlong", "surrogate", "truncated", "beyond-unicode", "five-bytes"],
)
@pytest.mark.parametrize("where", ["title", "description", "comment"])
def test_any_byte_sequence_that_is_not_utf8_goes_to_feedparser(bad: bytes, where: str) -> None:
    # The fast path leaves the UTF-8 check to libxml2: each of these must still make it
    # decline, so that feedparser's repair reads the feed (and the feed is not lost).
    title = b"Caf" + bad if where == "title" else b"Cafe"
    description = b"Beside " + bad + b" it" if where == "description" else b"Beside it"
    comment = b"<!-- " + bad + b" -->" if where == "comment" else b""
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>'
        + comment
        + b"<item><guid>g1</guid><title>" + title + b"</title><description>" + description
        + b"</description></item></channel></rss>"
    )  # fmt: skip
    url = "https://site.example/feed"
    assert parse_fast(body, url=url, content_type="application/rss+xml") is None
    repaired = parse_feed(body, url=url, content_type="application/rss+xml")
    assert [entry.guid for entry in repaired.entries] == ["g1"]
    assert repaired.entries[0].title.startswith("Caf")


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


# --- the short ways, against the general ones they stand in for ---------------------

quick = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MARKUP_TOKENS = [
    *("<p>", "</p>", "<P>", "<br>", "<br/>", "<br />", "</br>", "<b>", "</b>", "<div>", "</div>"),
    *("<td>", "</td>", "<table>", "<li>", "<pre>", "<em/>", "<noscript>", "<script>", "<style>"),
    *('<a href="/x">', "<a href='/y z'>", '<a href="https://e.example/a?b=1">', "</a>"),
    *(
        '<a href="x" title="t">',
        '<a href="/x" onclick="e()">',
        "<a href=x>",
        '<a  href = "../up" />',
    ),
    *('<a title="x>y" href="/p">', '<p class="c" >', "</p >", '</a href="/q">', "<a href='/q\"'>"),
    *('<img src="/i.png" alt="">', '<a href="#f">', '<a href="&x">', '<a href="http://[::1/">'),
    *("<!-- c -->", "<![CDATA[x]]>", "<?pi?>", "<", ">", "&", "&amp;", "&amp", "&#10;", "&nbsp;"),
    *(" ", "  ", "\n", "\t", "\r\n", "\xa0", "\u2028", '"', "word", "Ünïcode", "قالت"),
]
markup = st.lists(st.sampled_from(MARKUP_TOKENS) | st.text(max_size=3), max_size=25).map("".join)
BASES = ["https://feeds.example.net/feeds/a.xml", "http://127.0.0.1:8080/site/x/", "", "ftp://f/x"]


@quick
@given(markup)
@example("&amp</br>;")  # an entity cut by a tag that leaves nothing: "&;", not "&"
def test_fast_html_to_text_is_html_to_text_on_any_markup(html: str) -> None:
    assert fast_html_to_text(html) == html_to_text(html)


@quick
@given(markup.filter(lambda v: "\x00" not in v), st.sampled_from([*BASES, "https://h/<b>/"]))
def test_html_fields_text_is_the_text_of_the_kept_html(value: str, base: str) -> None:
    # The text is read from the tags of the description as it was checked, patched where
    # links were rewritten: it must be what the kept HTML itself reads as.
    try:
        safe, text = html_fields(value, base)
    except ValueError:
        return  # a link urljoin refuses ("http://[::1/"): parse_fast declines the feed
    assert text == capped(html_to_text(safe))


absolute_urls = st.from_regex(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]*)?(?:[/?#][!-~]*)?", fullmatch=True
)
any_links = (
    absolute_urls | st.text(max_size=30) | st.sampled_from(["HTTP://H/", " http://h/x ", "//h/p"])
)


@quick
@given(absolute_urls | any_links, st.sampled_from([*BASES, "https://h/a/b?q#f", "rel/only"]))
def test_plain_http_url_is_what_urljoin_and_http_url_keep(url: str, base: str) -> None:
    if plain_http_url(url):
        assert urljoin(base, url) == url
        assert http_url(url, base) == url


def _outcome(read: Callable[..., object], *args: str) -> object:
    """What `read` gives, or the type of error it raises (parse_fast declines on those)."""
    try:
        return read(*args)
    except (ValueError, OverflowError) as error:
        return type(error)


@quick
@given(any_links, st.sampled_from([*BASES, "https://h/a/b?q#f"]))
def test_link_url_is_http_url(link: str, base: str) -> None:
    assert _outcome(link_url, link, base) == _outcome(http_url, link, base)


_RFC822_FORMS = (
    r"(?:[A-Z][a-z]{2}, )?\d{1,2} (?:[A-Z][a-z]{2}|Jan|Feb|Mar|Sep|Dec) \d{4} \d{2}:\d{2}"
    r"(?::\d{2})? (?:[+-]\d{4}|GMT|UTC|UT|Z)"
)


def _parsedate_way(value: str) -> datetime:
    """How the fast path read RFC 822 dates before, with email.utils."""
    parsed = parsedate_to_datetime(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(microsecond=0)


@quick
@given(st.from_regex(_RFC822_FORMS, fullmatch=True))
def test_rfc822_date_reads_as_parsedate_to_datetime(value: str) -> None:
    got = _outcome(rfc822_date, value)
    assert got == _outcome(_parsedate_way, value)
    if isinstance(got, datetime):
        assert got.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        "Fri, 01 Mar 2024 19:40:00 GMT",
        "1 Mar 2024 19:40 +0530",
        "Sun, 31 Dec 2023 23:59:59 -0800",
        "01 Jan 0068 00:00:00 -0000",  # parsedate reads a year below 100 as 19xx or 20xx
        "01 Jan 0069 00:00:00 +0099",  # and minutes of 60 or more in the zone as minutes
        "01 Jan 0001 00:30:00 +0100",  # before year 1 in UTC
        "31 Feb 2024 00:00:00 GMT",
        "01 Foo 2024 00:00:00 GMT",
        "01 Jan 2024 00:00:00 +2400",
        "01 Jan 2024 24:00:00 GMT",
    ],
)
def test_rfc822_date_edges(value: str) -> None:
    assert _outcome(rfc822_date, value) == _outcome(_parsedate_way, value)


_ANY_SPACE = re.compile(r"\s+")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


@quick
@given(
    st.text(alphabet=st.characters(), max_size=60)
    | st.sampled_from(["a\x00b", "x\ud800", " \u3000"])
)
def test_one_line_and_storable_are_their_regexes(text: str) -> None:
    # htmltext's quick forms: str.split for re's \s+, and the UTF-8 test for lone surrogates.
    expected = _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)
    assert storable(text) == expected
    assert one_line(text, 20) == storable(_ANY_SPACE.sub(" ", text[:80]).strip()[:20].rstrip())


def test_html_that_needs_sanitizing_still_gets_absolute_links() -> None:
    # Not on the allow-list (a script): feedparser's sanitizer rewrites it, after the
    # links are made absolute as feedparser does (both parsers use html_fields).
    html, text = html_fields(
        '<p>Convoy <a href="/maps/1">map</a><script>steal()</script></p>',
        "https://news.example/world/story",
    )
    assert "<script" not in html and "steal" not in html
    assert 'href="https://news.example/maps/1"' in html
    assert text == "Convoy map"
