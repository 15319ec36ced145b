"""Building the digest (pure): what goes first, what is collapsed, what stands out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from ingest.digest.build import build_digest
from ingest.digest.highlight import segments
from ingest.digest.inputs import DigestArticle, DigestFlag, EntityTrend
from ingest.digest.model import Digest, Item, Segment
from ingest.digest.similar import copy_clusters
from tests.digestdata import empty_day, load_inputs


def all_items(digest: Digest) -> list[Item]:
    return [item for s in digest.sections for g in s.groups for item in g.items]


def test_three_copies_of_one_story_from_three_feeds_are_one_item() -> None:
    digest = build_digest(load_inputs())
    trucks = [i for i in all_items(digest) if {1, 2, 3} & {i.article_id}]
    assert len(trucks) == 1
    item = trucks[0]
    # The wire's copy leads (first published); the others are "also reported by".
    assert item.outlet == "Demo Wire Service"
    assert [c.outlet for c in item.also_reported_by] == ["Regional Daily", "Conflict Monitor"]
    assert {c.article_id for c in item.also_reported_by} == {2, 3}


def test_another_story_about_the_same_base_is_not_collapsed() -> None:
    """Same base, same rule, other words: a separate item (fuel tankers, not the convoy)."""
    titles = [i.title for i in all_items(build_digest(load_inputs()))]
    assert "Fuel tankers reach Ain al-Asad after road reopens" in titles
    assert len(titles) == 6


def test_copies_are_found_by_text_not_by_title() -> None:
    inputs = load_inputs()
    wire = inputs.articles[1]
    retitled = replace(
        wire,
        id=99,
        title="Convoy heads west",
        feed_title="Another outlet",
        text="Convoy heads west. " + wire.text.split(". ", 1)[1],
    )
    same_title_other_story = replace(
        wire, id=98, feed_title="Third outlet", text=wire.title + ". " + inputs.articles[4].text
    )
    clusters = copy_clusters([wire.text, retitled.text, same_title_other_story.text])
    assert [0, 1] in clusters and [2] in clusters


def test_a_story_carried_by_dozens_of_outlets_is_one_cluster_beside_the_others() -> None:
    # More copies than a band bucket confirms pair by pair (CROWDED_BUCKET): they are
    # chained instead, and must still end up one story, with the other stories apart.
    wire = load_inputs().articles[1].text
    copies = [f"{wire} Reported by outlet {n}." for n in range(40)]
    others = [article.text for key, article in load_inputs().articles.items() if key >= 4]
    clusters = copy_clusters(copies + others)
    assert clusters[0] == list(range(40))
    assert all(len(cluster) == 1 for cluster in clusters[1:])
    assert len(clusters) == 1 + len(others)


def test_priorities_high_first_then_rule_then_newest_first() -> None:
    digest = build_digest(load_inputs())
    assert [s.priority for s in digest.sections] == ["high", "medium", "low"]
    high = digest.sections[0]
    assert [g.name for g in high.groups] == ["Logistics at a tracked base"]
    published = [i.published for i in high.groups[0].items]
    assert published == sorted(published, reverse=True)
    assert [g.name for g in digest.sections[1].groups] == ["Erbil air base", "Victoria base"]


def test_an_article_flagged_twice_is_one_item_under_its_most_important_flag() -> None:
    digest = build_digest(load_inputs())
    item = next(i for i in all_items(digest) if i.article_id == 1)
    assert item.priority == "high" and item.rule == "base-logistics"
    assert item.matched == ("Logistics at a tracked base", "Ain al-Asad Air Base")
    # Every flag still counts in the header, items are counted apart.
    assert dict(digest.header.flags_by_priority) == {"high": 5, "medium": 3, "low": 1}
    assert digest.header.stories == 6


def test_times_are_in_the_digest_time_zone() -> None:
    digest = build_digest(load_inputs())
    item = next(i for i in all_items(digest) if i.article_id == 1)
    assert item.published.utcoffset() == timedelta(hours=3)
    assert (item.published.hour, item.published.minute) == (13, 0)  # 10:00 UTC in Baghdad
    assert digest.header.day.isoformat() == "2026-11-24"
    assert digest.header.period_start.hour == 7 and digest.header.timezone == "Asia/Baghdad"


def test_matched_terms_are_marked_where_they_stand_in_the_evidence() -> None:
    # The evidence has its white space folded; a mention's text may not ("Ein\nal-Assad").
    pieces = segments("A convoy, then a CONVOY, left Ein al-Assad", ["convoy", "Ein\nal-Assad"])
    assert [p.text for p in pieces if p.marked] == ["convoy", "CONVOY", "Ein al-Assad"]
    assert "".join(p.text for p in pieces) == "A convoy, then a CONVOY, left Ein al-Assad"
    # Adjacent terms read as one phrase; a term missing from the evidence marks nothing.
    assert segments("Rocket attack near base", ["Rocket", "attack", "Erbil"]) == (
        Segment("Rocket attack", marked=True),
        Segment(" near base"),
    )


def test_trend_marks_a_spike_against_the_seven_day_average() -> None:
    digest = build_digest(load_inputs())
    trends = {t.id: t for t in digest.trends}
    assert trends["ain-al-asad"].spike and trends["ain-al-asad"].average == 0.7
    assert not trends["victoria"].spike and trends["victoria"].direction == "flat"
    assert trends["erbil"].direction == "down" and not trends["erbil"].spike
    assert digest.trends[0].id == "ain-al-asad"  # spikes lead


def test_a_steady_high_count_is_not_a_spike() -> None:
    inputs = replace(load_inputs(), trends=(EntityTrend("x", "X", 10, (9, 10, 11, 10, 9, 10, 11)),))
    assert not build_digest(inputs).trends[0].spike


def test_feeds_needing_attention_are_listed() -> None:
    digest = build_digest(load_inputs())
    assert [(f.title, f.consecutive_errors, f.last_error) for f in digest.attention] == [
        ("Broken <Outlet>", 48, "HTTP 404")
    ]
    assert digest.attention[0].failing_since.hour == 12  # 09:30 UTC in Baghdad


def test_an_empty_day_is_a_digest_not_an_error() -> None:
    digest = build_digest(empty_day())
    assert digest.empty and digest.sections == ()
    assert digest.header.articles_ingested == 1234
    assert dict(digest.header.flags_by_priority) == {"high": 0, "medium": 0, "low": 0}


def synthetic(n_flags: int) -> list[DigestFlag]:
    return [
        DigestFlag(i, i, "r", "rule", "R", "high", f"evidence {i}", "feed", (), datetime.now(UTC))
        for i in range(n_flags)
    ]


def test_unrelated_articles_stay_apart() -> None:
    """Distinct short reports sharing boilerplate words are not copies of one another."""
    inputs = load_inputs()
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    articles = {
        i: DigestArticle(
            i,
            f"Report {i}",
            None,
            f"Outlet {i}",
            f"https://o{i}.example/",
            now,
            f"Report {i}: the ministry said on Monday that {i * 7} people attended "
            f"meeting number {i} in district {i * 3} about topic {i * 11}.",
        )
        for i in range(50)
    }
    digest = build_digest(replace(inputs, flags=tuple(synthetic(50)), articles=articles, trends=()))
    assert digest.header.stories == 50
