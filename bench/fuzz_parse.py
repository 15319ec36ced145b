"""Fuzz the parse path for a bounded time: any bytes give a feed or a ParseError, quickly.

    .venv/bin/python -m bench.fuzz_parse [--seconds 60] [--parser auto|feedparser]
    make fuzz FUZZ_SECONDS=300

Hypothesis generates bodies of four kinds: random bytes; the golden fixtures of
tests/data/feeds damaged at random places (splices, truncation, byte flips); XML-like
token soup built from the constructs that break parsers (entities, DOCTYPEs, CDATA,
unclosed tags, encodings, BOMs, NUL); and JSON-like soup. Each body goes through
`parse_feed` as the daemon calls it, with a random Content-Type.

A failure is an exception other than ParseError, a ParsedFeed whose records break their
own contract (a naive date, a non-http link), or one parse slower than --slow seconds.
Hypothesis shrinks it and prints the smallest body; the run exits 1. Not part of CI
(tests/test_parse.py runs a bounded 150-example version of the first two kinds).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ingest.errors import ParseError
from ingest.parse import parse_feed
from ingest.records import ParsedFeed

FEEDS = Path(__file__).resolve().parent.parent / "tests" / "data" / "feeds"
URL = "https://fuzz.example/feeds/feed.xml"
PER_ROUND = 200
CONTENT_TYPES = [
    None,
    "application/rss+xml",
    "application/atom+xml; charset=utf-8",
    "text/xml; charset=windows-1256",
    "text/html",
    "application/json",
    "application/feed+json",
    "text/plain; charset=utf-16",
    "application/octet-stream",
]
TOKENS = [
    b'<?xml version="1.0" encoding="UTF-8"?>',
    b'<?xml version="1.0" encoding="windows-1256"?>',
    b'<?xml version="1.0" encoding="UTF-16"?>',
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b'<rss version="2.0">',
    b"</rss>",
    b"<channel>",
    b"</channel>",
    b"<item>",
    b"</item>",
    b'<feed xmlns="http://www.w3.org/2005/Atom">',
    b"</feed>",
    b"<entry>",
    b"</entry>",
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
    b"<title>",
    b"</title>",
    b"<link>",
    b"</link>",
    b'<link href="/relative" rel="alternate"/>',
    b"<guid>",
    b"</guid>",
    b"<pubDate>",
    b"</pubDate>",
    b"Mon, 23 Nov 2026 06:00:00 GMT",
    b"31 Feb 1969 25:61:00 +9999",
    b"<description><![CDATA[<p>Ain al-Asad</p>",
    b"]]></description>",
    b"<content:encoded>",
    b"&amp;",
    b"&",
    b"&lol;",
    b"&#0;",
    b"&#x110000;",
    b'<!DOCTYPE rss [<!ENTITY lol "lol">]>',
    b'<!ENTITY xxe SYSTEM "file:///etc/passwd">',
    b'<!DOCTYPE rss SYSTEM "http://127.0.0.1:9/x.dtd">',
    b"\x00",
    b"\xc3\x28",
    b"\xd8\xb9\xd9\x8a\xd9\x86",
    b"<html><head>",
    b'<link rel="alternate" type="application/rss+xml" href="feed.xml">',
    b"<",
    b">",
    b" ",
    b"\n",
]
JSON_TOKENS = [
    b'{"version": "https://jsonfeed.org/version/1.1"',
    b'"items": [',
    b'{"id": 1, "url": "/a", "title": null, "date_published": "2026-99-99"}',
    b'"content_html": "<p>x</p>"',
    b"]",
    b"}",
    b",",
    b'"\\ud800"',
    b"1e999999",
    b"[" * 50,
]


def fixtures() -> list[bytes]:
    """The golden feed fixtures (not their .expected.json records)."""
    paths = sorted(FEEDS.iterdir())
    return [
        p.read_bytes()
        for p in paths
        if p.suffix in {".xml", ".rdf", ".json", ".html"} and ".expected." not in p.name
    ]


@st.composite
def damaged_fixture(draw: st.DrawFn, bodies: list[bytes]) -> bytes:
    body = bytearray(draw(st.sampled_from(bodies)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(body)))
        action = draw(st.sampled_from(["splice", "cut", "flip", "repeat"]))
        if action == "splice":
            body[at:at] = draw(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=16)))
        elif action == "cut":
            del body[at : at + draw(st.integers(1, 400))]
        elif action == "flip" and at < len(body):
            body[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "repeat":
            body[at:at] = bytes(body[at : at + 200]) * draw(st.integers(2, 50))
    return bytes(body)


def bodies() -> st.SearchStrategy[bytes]:
    corpus = fixtures()
    return st.one_of(
        st.binary(max_size=4_000),
        damaged_fixture(corpus),
        st.lists(st.sampled_from(TOKENS), max_size=80).map(b"".join),
        st.lists(st.sampled_from(JSON_TOKENS), max_size=40).map(b"".join),
    )


def check(body: bytes, content_type: str | None, parser: str, slow: float) -> None:
    started = time.perf_counter()
    try:
        feed = parse_feed(body, url=URL, content_type=content_type, parser=parser)
    except ParseError:
        feed = None
    elapsed = time.perf_counter() - started
    assert elapsed < slow, f"one parse took {elapsed:.2f}s ({len(body)} bytes)"
    if isinstance(feed, ParsedFeed):
        for entry in feed.entries:
            for when in (entry.published, entry.updated):
                assert when is None or when.utcoffset() is not None, f"naive date {when!r}"
            assert entry.link is None or entry.link.startswith(("http://", "https://")), entry.link


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--seconds", type=float, default=60.0, help="how long to fuzz")
    options.add_argument("--parser", default="auto", choices=["auto", "feedparser"])
    options.add_argument("--slow", type=float, default=5.0, help="a parse slower than this fails")
    args = options.parse_args(argv)

    examples = 0

    @settings(
        max_examples=PER_ROUND,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(bodies(), st.sampled_from(CONTENT_TYPES))
    def fuzz(body: bytes, content_type: str | None) -> None:
        nonlocal examples
        examples += 1
        check(body, content_type, args.parser, args.slow)

    started = time.monotonic()
    # Rounds of a few hundred examples, each with a fresh seed, until the time is up.
    while time.monotonic() - started < args.seconds:
        try:
            fuzz()
        except Exception as exc:  # Hypothesis has printed the shrunk body
            print(f"fuzz_parse: FAILED after {examples} bodies: {exc!r}", file=sys.stderr)
            return 1
    elapsed = time.monotonic() - started
    print(
        f"fuzz_parse: {examples} bodies in {elapsed:.0f}s (parser={args.parser}): "
        "each one a feed or a ParseError"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
