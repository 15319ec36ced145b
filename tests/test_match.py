"""Matching: what is found, what is not, rules in every scope, excludes, evidence.

The watchlist is tests/data/watchlists/tolerance.toml; each table row is a case an
analyst would check by hand ("does Ein al-Assad count as Ain al-Asad?").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.match import Hit, Matcher, MatchResult, compile_matcher
from ingest.match.sentences import paragraph_spans, sentence_spans
from ingest.watchlist import load_watchlist, parse_watchlist_text

DATA = Path(__file__).parent / "data" / "watchlists"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return compile_matcher(load_watchlist(DATA / "tolerance.toml"))


def found(matcher: Matcher, text: str) -> list[tuple[str, str]]:
    result = matcher.match({"text": text})
    for mention in result.mentions:
        assert text[mention.start : mention.end] == mention.text
    return [(m.id, m.text) for m in result.mentions]


def flags(result: MatchResult) -> dict[str, Hit]:
    return {hit.rule: hit for hit in result.flags}


# (text, id, the mention's exact text in it)
TOLERATED = [
    # case
    ("AIN AL-ASAD is closed", "ain-al-asad", "AIN AL-ASAD"),
    ("near ain al asad today", "ain-al-asad", "ain al asad"),
    # separators: hyphen, en dash, no-break space, line break, none
    ("Ain al–Asad base", "ain-al-asad", "Ain al–Asad"),
    ("Ain\u00a0al-Asad base", "ain-al-asad", "Ain\u00a0al-Asad"),
    ("the Ain al-\nAsad base", "ain-al-asad", "Ain al-\nAsad"),
    ("the Ain alAsad base", "ain-al-asad", "Ain alAsad"),
    ("the AinAlAsad base", "ain-al-asad", "AinAlAsad"),
    ("the Al-Asad airbase", "ain-al-asad", "Al-Asad airbase"),
    # Ain / Ein / Ayn / ʿAyn / 'Ayn / Aïn, al- / el- / Al
    ("from Ein al-Asad", "ain-al-asad", "Ein al-Asad"),
    ("from Ayn al-Asad", "ain-al-asad", "Ayn al-Asad"),
    ("from ʿAyn al-Asad", "ain-al-asad", "ʿAyn al-Asad"),
    ("from 'Ayn al-Asad", "ain-al-asad", "Ayn al-Asad"),
    ("from Aïn al-Asad", "ain-al-asad", "Aïn al-Asad"),
    ("from Ain el-Asad", "ain-al-asad", "Ain el-Asad"),
    ("from Ain Al Asad", "ain-al-asad", "Ain Al Asad"),
    # doubled consonants and vowels
    ("from Ein al-Assad base", "ain-al-asad", "Ein al-Assad"),
    ("from Ain al-Asaad", "ain-al-asad", "Ain al-Asaad"),
    ("in Shadadi", "shaddadi", "Shadadi"),
    # Latin diacritics
    ("from Ain al-Āsad", "ain-al-asad", "Ain al-Āsad"),
    # possessives and punctuation around
    ("Ain al-Asad's runway", "ain-al-asad", "Ain al-Asad"),
    ("Ain al-Asad’s runway", "ain-al-asad", "Ain al-Asad"),
    ("(Ain al-Asad)", "ain-al-asad", "Ain al-Asad"),
    ('"Ain al-Asad",', "ain-al-asad", "Ain al-Asad"),
    ("…at Ain al-Asad.", "ain-al-asad", "Ain al-Asad"),
    # the article before a sun letter, and digits
    ("At-Tanf garrison", "tanf", "At-Tanf"),
    ("the al Tanf base", "tanf", "al Tanf"),
    ("ash-Shaddadi", "shaddadi", "Shaddadi"),
    ("attack on Tower 22 in Jordan", "tower-22", "Tower 22"),
    ("the U.S. Army said", "us-army", "U.S. Army"),
    ("the US Army said", "us-army", "US Army"),
    # Arabic: harakat, tatweel, hamza/alef forms, maqsura, taa marbuta, proclitics
    ("غادر قاعدة عين الأسد", "ain-al-asad", "عين الأسد"),
    ("غادر عَيْنَ الأَسَدِ", "ain-al-asad", "عَيْنَ الأَسَدِ"),
    ("غادر عيـــن الاسد", "ain-al-asad", "عيـــن الاسد"),
    ("غادر عين الإسد", "ain-al-asad", "عين الإسد"),
    ("وعين الأسد", "ain-al-asad", "عين الأسد"),
    ("بعين الأسد", "ain-al-asad", "عين الأسد"),
    ("فبعين الأسد", "ain-al-asad", "عين الأسد"),
    ("قرب التنف", "tanf", "التنف"),
    ("وبالتنف", "tanf", "التنف"),
    ("للتنف", "tanf", "للتنف"),
    ("في البرج ٢٢", "tower-22", "البرج ٢٢"),
    ("بالشدادي", "shaddadi", "الشدادي"),
    # Persian: yeh, kaf, zero-width non-joiner, Persian digits
    ("پایگاه عین الاسد", "ain-al-asad", "عین الاسد"),
    ("پایگاه عین‌الاسد", "ain-al-asad", "عین‌الاسد"),
    ("در البرج ۲۲", "tower-22", "البرج ۲۲"),
    ("کاروان نظامی", "logistics", "کاروان"),
    ("کامیون‌ها", "logistics", "کامیون"),
    ("کامیونها", "logistics", "کامیونها"),
    ("پهپادها", "attacks", "پهپادها"),
]


@pytest.mark.parametrize(("text", "target", "mention"), TOLERATED)
def test_spellings_outlets_use_are_mentions(
    matcher: Matcher, text: str, target: str, mention: str
) -> None:
    assert (target, mention) in found(matcher, text)


# (a form in the text, the term's group, the mention: the whole word, proclitics apart)
INFLECTED = [
    ("trucks", "logistics", "trucks"),
    ("trucked", "logistics", "trucked"),
    ("trucking", "logistics", "trucking"),
    ("dispatched", "logistics", "dispatched"),
    ("dispatching", "logistics", "dispatching"),
    ("dispatches", "logistics", "dispatches"),
    ("airlifted", "logistics", "airlifted"),
    ("shipments", "logistics", "shipments"),
    ("redeployed", "logistics", "redeployed"),
    ("redeployment", "logistics", "redeployment"),
    ("withdrew", "logistics", "withdrew"),
    ("withdrawn", "logistics", "withdrawn"),
    ("withdrawal", "logistics", "withdrawal"),
    ("withdrawing", "logistics", "withdrawing"),
    ("supplies", "logistics", "supplies"),
    ("supplied", "logistics", "supplied"),
    ("moving", "logistics", "moving"),
    ("convoys", "logistics", "convoys"),
    ("IEDs", "attacks", "IEDs"),
    ("missiles", "attacks", "missiles"),
    ("رتلاً", "logistics", "رتلاً"),
    ("والرتل", "logistics", "رتل"),
    ("شاحنات", "logistics", "شاحنات"),
    ("بالشاحنات", "logistics", "شاحنات"),
    ("شاحنتين", "logistics", "شاحنتين"),
    ("قافلتين", "logistics", "قافلتين"),
    ("الإمدادات", "logistics", "إمدادات"),
    ("الانسحاب", "logistics", "انسحاب"),
    ("صاروخاً", "attacks", "صاروخاً"),
    ("طائرات مسيرة", "attacks", "طائرات مسيرة"),
    ("الطائرة المسيرة", "attacks", "طائرة المسيرة"),
    ("بطائرة مسيرة", "attacks", "طائرة مسيرة"),
]


@pytest.mark.parametrize(("form", "group", "mention"), INFLECTED)
def test_keyword_terms_match_their_inflections(
    matcher: Matcher, form: str, group: str, mention: str
) -> None:
    assert found(matcher, f"x {form} y") == [(group, mention)]


NOT_MENTIONS = [
    # a word of the alias dropped
    ("al-Assad said", "ain-al-asad"),
    ("Asad Air", "ain-al-asad"),
    ("الأسد", "ain-al-asad"),
    # inside a longer word
    ("Bahrain al-Asad", "ain-al-asad"),
    ("the Ain al-Asadi tribe", "ain-al-asad"),
    ("البحرين الأسد", "ain-al-asad"),
    ("عينالأسدية", "ain-al-asad"),
    ("Tower 2", "tower-22"),
    ("Tower 222", "tower-22"),
    ("truce", "logistics"),
    ("construct", "logistics"),
    ("truckload", "logistics"),
    ("misplaced", "attacks"),
    # across a sentence end, and across punctuation
    ("Trucks stopped at Ain. Al-Asad said nothing.", "ain-al-asad"),
    ("near Ain, al-Asad said", "ain-al-asad"),
    ("هل وصلوا إلى عين؟ الأسد لم يعلق", "ain-al-asad"),
    # excludes
    ("Bashar al-Assad met a delegation.", "ain-al-asad"),
    ("التقى بشار الأسد وفدا", "ain-al-asad"),
    ("the speech will drone on for hours", "attacks"),
]


@pytest.mark.parametrize(("text", "target"), NOT_MENTIONS)
def test_what_must_not_count_as_a_mention(matcher: Matcher, text: str, target: str) -> None:
    assert target not in {identifier for identifier, _ in found(matcher, text)}


def test_an_exclude_only_vetoes_where_it_stands(matcher: Matcher) -> None:
    text = "Bashar al-Assad spoke. Rockets hit Ain al-Asad."
    assert found(matcher, text).count(("ain-al-asad", "Ain al-Asad")) == 1


def test_the_exemplary_case_is_flagged_with_its_sentence(matcher: Matcher) -> None:
    sentence = (
        "US trucks that carried construction materials have arrived in Syria from "
        "Ein al-Assad base, local sources said."
    )
    content = f"DAMASCUS — {sentence} Nothing else happened."
    result = matcher.match({"title": "Trucks leave base", "content": content})
    hit = flags(result)["base-logistics"]
    assert hit.priority == "high" and hit.kind == "rule"
    assert hit.evidence == f"DAMASCUS — {sentence}"
    assert hit.field == "content"
    assert {(m.id, m.text) for m in hit.mentions} == {
        ("logistics", "trucks"),
        ("ain-al-asad", "Ein al-Assad"),
    }
    assert flags(result)["ain-al-asad"].priority == "medium"  # the entity's own flag
    assert [(m.field, m.text) for m in result.mentions] == [
        ("title", "Trucks"),
        ("content", "trucks"),
        ("content", "Ein al-Assad"),
    ]


def test_the_exemplary_arabic_case_is_flagged(matcher: Matcher) -> None:
    text = (
        "أفادت مصادر محلية بأن رتلاً يضم نحو أربعين شاحنة أمريكية غادر قاعدة عين الأسد غربي الأنبار."
    )
    hit = flags(matcher.match({"content": text}))["base-logistics"]
    assert hit.evidence == text
    assert {m.text for m in hit.mentions} == {"رتلاً", "شاحنة", "عين الأسد"}


def test_bashar_al_assad_raises_nothing(matcher: Matcher) -> None:
    result = matcher.match(
        {"title": "Bashar al-Assad meets visiting delegation", "content": "Trucks arrived."}
    )
    assert "ain-al-asad" not in flags(result) and "base-logistics" not in flags(result)


def test_a_priority_off_entity_raises_no_flag_of_its_own(matcher: Matcher) -> None:
    result = matcher.match({"text": "Troops stayed in Shaddadi."})
    assert [m.id for m in result.mentions] == ["shaddadi"]
    assert result.flags == ()


def test_title_evidence_is_preferred(matcher: Matcher) -> None:
    result = matcher.match(
        {"content": "Later, a convoy reached Ain al-Asad.", "title": "Convoy leaves Ain al-Asad"}
    )
    hit = flags(result)["base-logistics"]
    assert (hit.field, hit.evidence) == ("title", "Convoy leaves Ain al-Asad")


def test_nothing_matches_across_two_fields(matcher: Matcher) -> None:
    result = matcher.match({"title": "Drones over Ain", "summary": "al-Asad residents slept."})
    assert "ain-al-asad" not in {m.id for m in result.mentions}


def test_mentions_name_their_field_and_offsets_into_it(matcher: Matcher) -> None:
    fields = {
        "summary": "A convoy left.",
        "title": "Trucks at Tower 22",
        "content": "Ain al-Asad was quiet.",
    }
    result = matcher.match(fields)
    assert {(m.field, m.text) for m in result.mentions} == {
        ("title", "Trucks"),
        ("title", "Tower 22"),
        ("summary", "convoy"),
        ("content", "Ain al-Asad"),
    }
    for mention in result.mentions:
        assert fields[mention.field][mention.start : mention.end] == mention.text


def test_long_evidence_is_cut_around_the_mentions(matcher: Matcher) -> None:
    filler = " ".join(["the wind was calm and"] * 60)
    sentence = f"{filler} a convoy left Ain al-Asad at dawn while {filler} nothing else moved."
    hit = flags(matcher.match({"text": sentence}))["base-logistics"]
    assert len(hit.evidence) <= 402
    assert "a convoy left Ain al-Asad at dawn" in hit.evidence
    assert hit.evidence.startswith("…") and hit.evidence.endswith("…")


def test_regular_expression_terms_match_the_original_text(matcher: Matcher) -> None:
    assert ("attacks", "UAVs") in found(matcher, "Two UAVs were shot down.")
    assert ("attacks", "UAV") in found(matcher, "A UAV was shot down.")
    assert "attacks" not in {i for i, _ in found(matcher, "UAVX prototypes")}


# --- rules and their scopes ------------------------------------------------------------

RULES = """
[[entities]]
id = "erbil"
name = "Erbil air base"
aliases = ["Erbil air base"]
priority = "off"

[[entities]]
id = "harir"
name = "Harir"
aliases = ["Harir"]
priority = "off"

[[keywords]]
id = "logistics"
name = "Logistics"
terms = ["convoy", "truck"]

[[keywords]]
id = "attacks"
name = "Attacks"
terms = ["drone", "rocket"]

[[keywords]]
id = "exercise"
name = "Exercises"
terms = ["exercise", "drill"]

[[rules]]
id = "same-sentence"
name = "Logistics at Erbil, one sentence"
all = ["erbil", "logistics"]
none = ["exercise"]
within = "sentence"
priority = "high"

[[rules]]
id = "same-paragraph"
name = "Logistics at Erbil, one paragraph"
all = ["erbil", "logistics"]
within = "paragraph"
priority = "medium"

[[rules]]
id = "anywhere"
name = "Erbil and an attack, anywhere in the article"
all = ["attacks"]
any = ["erbil", "harir"]
none = ["exercise"]
within = "article"
priority = "low"

[[rules]]
id = "near"
name = "Harir within 6 words of a convoy"
all = ["harir", "logistics"]
none = ["exercise"]
within = 6
priority = "high"
"""


@pytest.fixture(scope="module")
def rules() -> Matcher:
    return compile_matcher(parse_watchlist_text(RULES, file="rules.toml"))


SCOPES = [
    # (text, rules that fire)
    ("A convoy reached Erbil air base.", {"same-sentence", "same-paragraph"}),
    ("A convoy was seen. It reached Erbil air base.", {"same-paragraph"}),
    ("A convoy was seen.\n\nIt reached Erbil air base.", set()),
    (
        "A convoy was seen.\nIt reached Erbil air base.",
        set(),
    ),  # a line break after a sentence: new paragraph
    (
        "A convoy was seen on the road\nto Erbil air base.",
        {"same-sentence", "same-paragraph"},
    ),  # wrapped line
    (
        "A convoy reached Erbil air base for an exercise.",
        {"same-paragraph"},
    ),  # none vetoes the sentence
    ("Erbil air base was calm.\n\nLater a drone fell.", {"anywhere"}),
    (
        "Harir was calm.\n\nLater a drone fell during a drill.",
        set(),
    ),  # none vetoes the whole article
    ("A convoy left Harir at dawn.", {"near"}),
    ("A convoy of about forty old trucks left Harir.", {"near"}),  # truck…Harir within 6 words
    ("A convoy of about forty old white vehicles left Harir.", set()),  # 9 words apart
    ("Harir. A convoy came.", {"near"}),  # a window may cross a sentence end
    ("A convoy left Harir after a drill.", set()),  # the drill is within the window
]


@pytest.mark.parametrize(("text", "expected"), SCOPES)
def test_rules_fire_in_their_scope(rules: Matcher, text: str, expected: set[str]) -> None:
    assert {hit.rule for hit in rules.match({"text": text}).flags} == expected


def test_a_rule_flags_once_per_article_with_the_first_sentence(rules: Matcher) -> None:
    text = (
        "A convoy reached Erbil air base. Another truck left Erbil air base. "
        "A convoy again at Erbil air base."
    )
    hits = [hit for hit in rules.match({"text": text}).flags if hit.rule == "same-sentence"]
    assert len(hits) == 1
    assert hits[0].evidence == "A convoy reached Erbil air base."


def test_the_first_sentence_that_satisfies_the_rule_is_the_evidence(rules: Matcher) -> None:
    text = "A convoy was seen. Erbil air base was calm. Then a truck reached Erbil air base."
    hit = flags(rules.match({"text": text}))["same-sentence"]
    assert hit.evidence == "Then a truck reached Erbil air base."
    assert [(m.text, m.start) for m in hit.mentions] == [("truck", 51), ("Erbil air base", 65)]


def test_article_scope_evidence_is_the_sentence_with_the_most(rules: Matcher) -> None:
    text = "Harir was quiet. Erbil air base was not: a drone hit Erbil air base. People slept."
    hit = flags(rules.match({"text": text}))["anywhere"]
    assert hit.evidence == "Erbil air base was not: a drone hit Erbil air base."
    assert {m.id for m in hit.mentions} == {"harir", "erbil", "attacks"}


def test_window_evidence_covers_the_mentions(rules: Matcher) -> None:
    hit = flags(rules.match({"text": "Harir. A convoy came. Nothing else."}))["near"]
    assert hit.evidence == "Harir. A convoy came."


def test_flags_come_most_urgent_first(rules: Matcher) -> None:
    result = rules.match(
        {"text": "A convoy left Harir. A convoy reached Erbil air base. A drone fell."}
    )
    priorities = [hit.priority for hit in result.flags]
    assert priorities == sorted(priorities, key=["high", "medium", "low"].index)


# --- sentences -------------------------------------------------------------------------

SENTENCES = [
    (
        "The U.S. Army said on Jan. 5 that Lt. Gen. Smith arrived. Trucks left the base!",
        ["The U.S. Army said on Jan. 5 that Lt. Gen. Smith arrived.", "Trucks left the base!"],
    ),
    (
        '"Was it hit?" he asked. "The base was hit." Then silence.',
        ['"Was it hit?" he asked.', '"The base was hit."', "Then silence."],
    ),
    (
        "Mr. Smith met Dr. Jones at 3.5 km from the U.N. compound. They left.",
        ["Mr. Smith met Dr. Jones at 3.5 km from the U.N. compound.", "They left."],
    ),
    (
        "غادر الرتل قاعدة عين الأسد، ودخل الأراضي السورية. هل وصل؟ نعم۔ تمام",
        ["غادر الرتل قاعدة عين الأسد، ودخل الأراضي السورية.", "هل وصل؟", "نعم۔", "تمام"],
    ),
    (
        "کاروان رسید. آیا پایگاه هدف قرار گرفت؟ بله",
        ["کاروان رسید.", "آیا پایگاه هدف قرار گرفت؟", "بله"],
    ),
    ("Headline\n\nFirst paragraph.", ["Headline", "First paragraph."]),
]


@pytest.mark.parametrize(("text", "expected"), SENTENCES)
def test_sentences_split_where_a_reader_would(text: str, expected: list[str]) -> None:
    assert [text[start:end] for start, end in sentence_spans(text)] == expected


def test_paragraphs_are_blank_line_or_line_break_after_a_sentence() -> None:
    text = "One. Two.\nThree is\nwrapped.\n\nFour."
    assert [text[a:b] for a, b in paragraph_spans(text)] == [
        "One. Two.",
        "Three is\nwrapped.",
        "Four.",
    ]
