"""The full-text stage's pure decisions and the extractor, without server or database."""

from __future__ import annotations

import pytest

from ingest.extract import ExtractedPage, ExtractionFailed, extract_outcome
from ingest.pagepolicy import (
    agent_token,
    effective_mode,
    is_html,
    looks_cut,
    needs_page,
    response_failure,
    robots_from_response,
    text_failure,
)
from tests.conftest import DATA

LONG = "Trucks left the base towards the border in the early hours of the morning. " * 10


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        ("US trucks were seen leaving the base…", True),
        ("US trucks were seen leaving the base...", True),
        ("US trucks were seen leaving the base […]", True),
        ("US trucks were seen leaving the base [...]", True),
        ("The convoy left at dawn. Read more »", True),
        ("The convoy left at dawn. Continue reading →", True),
        ("The convoy left at dawn. Read the full story", True),
        ("خرجت الشاحنات من القاعدة اقرأ المزيد", True),
        ("خرجت الشاحنات من القاعدة… قراءة المزيد", True),
        ("کامیون‌ها از پایگاه خارج شدند ادامه مطلب", True),
        ("The convoy left at dawn.", False),
        ("Music, films and more", False),
        ("", False),
    ],
)
def test_looks_cut(text: str, cut: bool) -> None:
    assert looks_cut(text) is cut


def test_needs_page_by_mode_length_and_link() -> None:
    link = "https://news.example/a"
    assert needs_page("auto", link, "Short teaser.", "", 500)
    assert not needs_page("auto", link, "", LONG, 500)
    assert needs_page("auto", link, "", LONG + " Read more", 500)
    assert needs_page("always", link, "", LONG, 500)
    assert not needs_page("never", link, "Short…", "", 500)
    assert not needs_page("always", None, "", "", 500)
    assert not needs_page("always", "mailto:desk@news.example", "", "", 500)
    assert effective_mode("never", "auto") == "never"
    assert effective_mode(None, "always") == "always"


@pytest.mark.parametrize(
    ("status", "content_type", "body", "kind"),
    [
        (200, "text/html; charset=utf-8", b"<html>", None),
        (200, "application/xhtml+xml", b"<html>", None),
        (200, None, b"  <!DOCTYPE html><html>", None),
        (200, "application/pdf", b"%PDF-1.7", "not_html"),
        (200, "text/plain", b"plain words", "not_html"),
        (403, "text/html", b"", "http_403"),
        (402, "text/html", b"", "http_402"),
        (404, "text/html", b"", "http_404"),
        (503, "text/html", b"", "http_503"),
    ],
)
def test_response_failure(
    status: int, content_type: str | None, body: bytes, kind: str | None
) -> None:
    failure = response_failure(status, content_type, body)
    assert (failure.kind if failure else None) == kind
    assert is_html(content_type, body) is (kind is None or kind.startswith("http_"))


def test_a_403_says_it_may_be_a_wall() -> None:
    failure = response_failure(403, "text/html", b"")
    assert failure is not None and "paywall" in failure.message


def test_robots_answers_per_rfc_9309() -> None:
    rules = robots_from_response(200, b"User-agent: *\nDisallow: /private/\n")
    assert rules.allows("ingest", "https://a.example/news/1")
    assert not rules.allows("ingest", "https://a.example/private/1")
    assert robots_from_response(404, b"").allows("ingest", "https://a.example/private/1")
    assert not robots_from_response(503, b"").allows("ingest", "https://a.example/news/1")
    assert not robots_from_response(None, b"").allows("ingest", "https://a.example/news/1")
    assert agent_token("ingest/0.1 (media-monitoring feed reader)") == "ingest"


def test_a_page_with_less_text_than_the_feed_is_a_wall() -> None:
    assert text_failure("Subscribe to read.", "A teaser") is not None
    assert text_failure(LONG, "A teaser") is None
    assert text_failure(LONG[:300], LONG * 3) is not None


def test_extraction_keeps_the_body_and_drops_the_boilerplate() -> None:
    html = (DATA / "pages" / "date-harvest-en.html").read_bytes()
    page = extract_outcome(html, "https://desertwire.example/x", "text/html; charset=utf-8")
    assert isinstance(page, ExtractedPage)
    assert "cold stores" in page.text
    assert "Ain al-Asad" not in page.text  # related stories and a comment mention it
    assert page.canonical_url == "https://desertwire.example/2026/11/20/date-harvest-hit"
    assert page.language == "en"

    arabic = extract_outcome((DATA / "pages" / "anbar-trucks-ar.html").read_bytes(), "https://s/x")
    assert isinstance(arabic, ExtractedPage) and arabic.language == "ar"
    assert "قاعدة عين الأسد" in arabic.text and "مباراة" not in arabic.text


def test_extraction_failures_are_values() -> None:
    assert isinstance(
        extract_outcome(b"<html><body></body></html>", "https://a/"), ExtractionFailed
    )
    assert isinstance(extract_outcome(b"\x00\xff\xfe", "https://a/"), ExtractionFailed)
