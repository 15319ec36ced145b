"""Rendering the digest: text for a 100-column terminal, Markdown, HTML, JSON, and files."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ingest.deliver import write_digest_files
from ingest.digest.build import build_digest
from ingest.digest.model import Digest
from ingest.digest.render import render, safe_url, subject
from tests.digestdata import empty_day, load_inputs

HOSTILE = "<script>document.title='PWNED-SCRIPT'</script>"


@pytest.fixture(scope="module")
def digest() -> Digest:
    return build_digest(load_inputs())


class Elements(HTMLParser):
    """Every element and attribute the browser would create from the markup."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    return parser


def test_text_reads_in_100_columns(digest: Digest) -> None:
    text = render(digest, "text")
    long_lines = [line for line in text.splitlines() if len(line) > 100]
    assert all(
        line.strip().startswith(("http://", "https://", "javascript:")) for line in long_lines
    )
    assert "also reported by: Regional Daily, Conflict Monitor (2)" in text
    assert "*Ein al-Assad*" in text
    assert text.index("==== HIGH") < text.index("==== MEDIUM") < text.index("==== LOW")
    assert "Ain al-Asad Air Base" in text and "SPIKE" in text
    assert "Broken <Outlet>: failing since Sat 21 Nov 12:30, 48 errors: HTTP 404" in text


def test_html_escapes_every_feed_string(digest: Digest) -> None:
    html = render(digest, "html")
    elements = parsed(html)
    tags = [tag for tag, _ in elements.tags]
    assert "script" not in tags and "img" not in tags and "b" not in tags
    assert not any(name.startswith("on") for _, attrs in elements.tags for name in attrs)
    # The hostile title is shown as text, intact.
    assert HOSTILE in "".join(elements.text)
    # A javascript: link is not a link.
    assert not any("javascript:" in (attrs.get("href") or "") for _, attrs in elements.tags)


def test_html_marks_the_matched_terms(digest: Digest) -> None:
    html = render(digest, "html")
    marked = re.findall(r"<mark>(.*?)</mark>", html)
    assert "Ein al-Assad" in marked and "عين الاسد" in marked
    # A term that looks like markup is marked and still escaped.
    assert "&lt;img src=x" in marked


def test_html_is_self_contained_light_and_dark(digest: Digest) -> None:
    html = render(digest, "html")
    assert "@media (prefers-color-scheme: dark)" in html and "<style>" in html
    elements = parsed(html)
    external = [a for tag, a in elements.tags if tag in ("link", "script", "img", "iframe")]
    assert external == []
    links = [a["href"] for tag, a in elements.tags if tag == "a"]
    assert "https://wire.example/2026/11/us-trucks" in links
    assert "https://monitor.example/31" in links  # the copies link to their outlets too


def test_markdown_escapes_html_and_markdown(digest: Digest) -> None:
    md = render(digest, "md")
    assert "<script>" not in md and "<img" not in md and "<b>" not in md
    assert "&lt;script&gt;" in md
    assert "](<javascript:" not in md and "(javascript:" not in md
    assert "**Ein al-Assad**" in md
    assert "also reported by: Regional Daily, Conflict Monitor (2)" in md


def test_json_is_the_documented_contract(digest: Digest) -> None:
    data = json.loads(render(digest, "json"))
    assert data["version"] == 1
    assert set(data) == {"version", "digest", "sections", "trends", "attention"}
    header = data["digest"]
    assert header["counts"] == {
        "articles": 1234,
        "feeds_polled": 42,
        "feeds_failing": 2,
        "flags": {"high": 5, "medium": 3, "low": 1},
        "stories": 6,
    }
    assert header["period"] == {"start": "2026-11-23T04:00:00Z", "end": "2026-11-24T04:00:00Z"}
    assert header["timezone"] == "Asia/Baghdad" and header["empty"] is False
    item = data["sections"][0]["groups"][0]["items"][1]
    assert item["published"] == "2026-11-23T10:00:00Z"
    assert [c["outlet"] for c in item["also_reported_by"]] == ["Regional Daily", "Conflict Monitor"]
    marked = [item["evidence"][start:end] for start, end in item["highlights"]]
    assert marked == ["convoy", "trucks", "Ein al-Assad"]
    assert data["trends"][0] == {
        "id": "ain-al-asad",
        "name": "Ain al-Asad Air Base",
        "period": 5,
        "average_7d": 0.7,
        "spike": True,
    }
    # Stable: the same digest gives the same bytes.
    assert render(digest, "json") == render(build_digest(load_inputs()), "json")


@pytest.mark.parametrize("fmt", ["text", "md", "html"])
def test_an_empty_day_says_so(fmt: str) -> None:
    out = render(build_digest(empty_day()), fmt)
    assert "No flags in this period" in out and "1,234 articles read" in out


def test_subject_names_the_day_and_the_counts(digest: Digest) -> None:
    assert subject(digest) == "ingest daily digest 2026-11-24: 5 high, 3 medium, 1 low"
    assert subject(build_digest(empty_day())) == "ingest daily digest 2026-11-24: no flags"


def test_only_web_links_are_kept() -> None:
    assert safe_url("https://a.example/x") == "https://a.example/x"
    assert safe_url(" JavaScript:alert(1)") is None
    assert safe_url("data:text/html,<script>") is None
    assert safe_url(None) is None


def test_unknown_format_is_refused(digest: Digest) -> None:
    with pytest.raises(ValueError, match="unknown digest format"):
        render(digest, "pdf")


def test_digest_files_are_named_by_day_and_replaced_whole(digest: Digest, tmp_path: Path) -> None:
    out = tmp_path / "digests"
    paths = write_digest_files(digest, out, ("md", "html", "json"))
    assert [p.name for p in paths] == ["2026-11-24.md", "2026-11-24.html", "2026-11-24.json"]
    paths[0].write_text("stale", encoding="utf-8")
    write_digest_files(digest, out, ("md",))
    assert paths[0].read_text(encoding="utf-8").startswith("# ingest daily digest")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)  # no temp files


def test_evidence_found_on_the_article_page_says_so() -> None:
    inputs = load_inputs()
    first = inputs.flags[0]
    page_flag = replace(first, source="page")
    built = build_digest(replace(inputs, flags=(page_flag, *inputs.flags[1:])))
    items = [i for s in built.sections for g in s.groups for i in g.items]
    labelled = [i for i in items if i.evidence_from == "page"]
    assert [i.flag_id for i in labelled] == [first.flag_id]
    for fmt in ("text", "md", "html"):
        assert render(built, fmt).count("from the article page") == 1, fmt
        assert "from the article page" not in render(build_digest(inputs), fmt)
    data = json.loads(render(built, "json"))
    sources = [
        i["evidence_from"] for s in data["sections"] for g in s["groups"] for i in g["items"]
    ]
    assert sources.count("page") == 1 and set(sources) == {"feed", "page"}
