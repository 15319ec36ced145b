"""Write `<fixture>.expected.json` beside each feed fixture: the records `parse_feed` must give.

    .venv/bin/python tests/data/feeds/regen_expected.py            # every fixture
    .venv/bin/python tests/data/feeds/regen_expected.py rss20.xml  # some

The output is a proposal, not the truth: read every changed file (git diff) and keep it
only when it is what a reader of that feed would expect. tests/test_parse.py imports
`FIXTURES` and `expected_for` from here, so the test and the files agree on the mapping.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from ingest.errors import NotAFeedError, ParseError  # noqa: E402
from ingest.parse import parse_feed  # noqa: E402
from ingest.records import ParsedEntry, ParsedFeed  # noqa: E402

# The URL each fixture is parsed as if fetched from: relative links resolve against it.
BASE_URL = "https://feeds.example.net/feeds/"
CONTENT_TYPES = {
    ".xml": "application/xml",
    ".rdf": "application/rdf+xml",
    ".json": "application/feed+json",
    ".html": "text/html; charset=utf-8",
}
FIXTURES = sorted(
    p.name
    for p in HERE.iterdir()
    if p.suffix in CONTENT_TYPES and not p.name.endswith(".expected.json")
)


def expected_path(name: str) -> Path:
    return HERE / f"{name}.expected.json"


def expected_for(name: str, content_type: str | None = "") -> dict[str, Any]:
    """What parse_feed gives for one fixture, as plain JSON data; served with the usual
    content type for its extension unless `content_type` is given (None: no header)."""
    path = HERE / name
    if content_type == "":
        content_type = CONTENT_TYPES[path.suffix]
    url = BASE_URL + name
    out: dict[str, Any] = {"url": url, "content_type": content_type}
    try:
        parsed = parse_feed(path.read_bytes(), url=url, content_type=content_type)
    except ParseError as exc:
        error: dict[str, Any] = {"type": type(exc).__name__, "message": exc.message}
        if isinstance(exc, NotAFeedError):
            error["alternate"] = exc.alternate
        return out | {"error": error}
    return out | {"feed": feed_fields(parsed), "entries": [entry_fields(e) for e in parsed.entries]}


def feed_fields(feed: ParsedFeed) -> dict[str, Any]:
    return {
        "title": feed.title,
        "link": feed.link,
        "format": feed.format,
        "language": feed.language,
        "ttl_hint": feed.ttl_hint,
        "warning": feed.warning,
    }


def entry_fields(entry: ParsedEntry) -> dict[str, Any]:
    return {
        "guid": entry.guid,
        "link": entry.link,
        "title": entry.title,
        "author": entry.author,
        "published": entry.published.isoformat() if entry.published else None,
        "updated": entry.updated.isoformat() if entry.updated else None,
        "summary_text": entry.summary_text,
        "content_text": entry.content_text,
        "summary_html": entry.summary_html,
        "content_html": entry.content_html,
    }


def main(names: list[str]) -> None:
    for name in names or FIXTURES:
        text = json.dumps(expected_for(name), ensure_ascii=False, indent=2) + "\n"
        path = expected_path(name)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.name}: read it before keeping it")


if __name__ == "__main__":
    main(sys.argv[1:])
