"""Which entries are new, changed or already stored (pure, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ingest.dedupe import (
    StoredKey,
    _normalize_parsed_link,
    content_key,
    draft,
    lookup_keys,
    normalize_link,
    plan_articles,
    with_keys,
)
from ingest.records import ParsedEntry, ParsedFeed

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def entry(
    guid: str | None = "g1",
    link: str | None = "https://ex.com/a",
    title: str = "T",
    text: str = "body",
) -> ParsedEntry:
    return ParsedEntry(
        guid=guid,
        link=link,
        title=title,
        summary_html=text,
        summary_text=text,
        content_html="",
        content_text="",
        author=None,
        published=NOW - timedelta(hours=1),
        updated=None,
    )


def stored(e: ParsedEntry, article_id: int = 1) -> StoredKey:
    d = draft(e, NOW)
    return StoredKey(article_id, e.guid, d.url_key, d.content_key, d.fingerprint)


def test_normalize_link_drops_tracking_and_fragment() -> None:
    assert (
        normalize_link("HTTPS://Example.COM:443/News/1?utm_source=rss&id=7&fbclid=x#top")
        == "https://example.com/News/1?id=7"
    )
    assert normalize_link("http://example.com") == "http://example.com/"
    assert (
        normalize_link("http://example.com:8080/a?b=2&a=1") == "http://example.com:8080/a?a=1&b=2"
    )


def test_first_poll_inserts_everything_and_second_poll_nothing() -> None:
    entries = [entry("a", "https://ex.com/a"), entry("b", "https://ex.com/b", title="B")]
    plan = plan_articles(entries, [], NOW)
    assert len(plan.inserts) == 2 and not plan.updates
    again = plan_articles(entries, [stored(entries[0], 1), stored(entries[1], 2)], NOW)
    assert not again.inserts and not again.updates and again.unchanged == 2


def test_edited_entry_is_an_update_of_the_same_article() -> None:
    old = entry(text="first version")
    new = replace(old, summary_html="second version", summary_text="second version")
    plan = plan_articles([new], [stored(old, 42)], NOW)
    assert [article_id for article_id, _ in plan.updates] == [42]
    assert not plan.inserts


def test_without_guid_the_normalized_link_identifies() -> None:
    old = entry(guid=None, link="https://ex.com/a?utm_medium=rss")
    new = replace(old, link="https://EX.com/a#comments", title="Retitled")
    plan = plan_articles([new], [stored(old, 7)], NOW)
    assert plan.updates[0][0] == 7


def test_without_guid_or_link_title_and_text_identify() -> None:
    old = entry(guid=None, link=None)
    plan = plan_articles([old], [stored(old, 9)], NOW)
    assert plan.unchanged == 1 and not plan.inserts


def test_different_guids_sharing_a_link_are_different_articles() -> None:
    home = "https://ex.com/"
    plan = plan_articles([entry("g2", home, title="Second")], [stored(entry("g1", home), 1)], NOW)
    assert len(plan.inserts) == 1


def test_duplicate_guids_inside_one_document_store_once() -> None:
    plan = plan_articles([entry("dup", title="one"), entry("dup", title="two")], [], NOW)
    assert [a.entry.title for a in plan.inserts] == ["one"]


def test_dates_missing_or_far_future_become_first_seen() -> None:
    assert draft(replace(entry(), published=None), NOW).published_at == NOW
    assert draft(replace(entry(), published=NOW + timedelta(days=30)), NOW).published_at == NOW
    old = datetime(1969, 7, 20, tzinfo=UTC)
    assert draft(replace(entry(), published=old), NOW).published_at == old


def test_keys_computed_beside_the_parse_give_the_same_plan() -> None:
    # The parser's workers send each entry's keys along (with_keys); the daemon must
    # decide exactly as if it had computed them itself.
    entries = [entry("g1"), entry(None, "https://ex.com/b?utm_source=x"), entry(None, None)]
    feed = ParsedFeed(title=None, link=None, format="rss20", entries=tuple(entries))
    keys = with_keys(feed).keys
    known = [stored(entries[0], 1), stored(replace(entries[1], title="edited"), 2)]
    assert plan_articles(entries, known, NOW, keys=keys) == plan_articles(entries, known, NOW)
    assert lookup_keys(entries, keys) == lookup_keys(entries)


_URL_PARTS = st.text(alphabet="aZ09.-_~:/?#&=%@[] \t\n\x00\x7fé", max_size=12)


@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "ftp", ""]),
    host=st.sampled_from(["example.com", "a.b", "Example.COM", "127.0.0.1", "a..b", "", "[::1]"]),
    port=st.sampled_from(
        ["", ":", ":0", ":80", ":443", ":080", ":8080", ":65535", ":65536", ":99999"]
    ),
    path=_URL_PARTS,
    padding=st.sampled_from(["", " ", "\t", "\n "]),
)
def test_normalize_link_fast_path_gives_what_urlsplit_gives(
    scheme: str, host: str, port: str, path: str, padding: str
) -> None:
    # Plain links skip urlsplit/urlunsplit; any link must normalize as the full parse does.
    url = f"{padding}{scheme}://{host}{port}{path}{padding}"
    assert normalize_link(url) == _normalize_parsed_link(url)


def test_content_keys_are_the_ones_already_stored() -> None:
    # Stored articles are recognised by these digests: a change of how they are computed
    # would make every stored article look new or edited after an upgrade.
    entry = ParsedEntry(
        guid="g", link=None, title=" Convoy leaves Ain al-Asad ", summary_html="",
        summary_text="عين الأسد ", content_html="", content_text="", author=None,
        published=None, updated=None,
    )  # fmt: skip
    assert content_key(entry) == "7bf54ea124869b08f0b96d08f7dd5b83"
