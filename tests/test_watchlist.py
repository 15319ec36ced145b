"""watchlist.toml: validation errors a user can act on, edits that keep the file, the default."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.errors import ConfigError
from ingest.match import compile_matcher
from ingest.watchlist import load_watchlist, parse_watchlist_text
from ingest.watchlist_edit import add_alias, add_entity, add_keywords, remove_item, slugify

DATA = Path(__file__).parent / "data" / "watchlists"
DEFAULT = Path(__file__).resolve().parent.parent / "config" / "watchlist.toml"

INVALID = [
    # (fixture, line, field, words the message must contain)
    ("broken_toml.toml", 4, None, "invalid TOML"),
    ("unknown_key.toml", 9, "entities[1].alias", "unknown key"),
    ("unknown_table.toml", 2, "entity", "unknown key"),
    ("wrong_type.toml", 4, "entities[0].aliases", "valid list"),
    ("bad_priority.toml", 5, "keywords[0].priority", "urgent"),
    ("duplicate_id.toml", 12, "keywords[1].id", "duplicate id 'erbil'"),
    ("unknown_reference.toml", 16, "rules[0].all[1]", "'logistic' is not defined"),
    ("bad_regex.toml", 6, "keywords[0].terms[1]", "invalid regular expression"),
    ("empty_alias.toml", 4, "entities[0].aliases[1]", "empty"),
    ("bad_within.toml", 15, "rules[0].within", "sentense"),
]


@pytest.mark.parametrize(("name", "line", "field", "words"), INVALID)
def test_errors_name_the_file_line_and_field(
    name: str, line: int, field: str | None, words: str
) -> None:
    path = DATA / name
    with pytest.raises(ConfigError) as caught:
        load_watchlist(path)
    error = caught.value
    assert (error.file, error.line, error.field) == (str(path), line, field)
    assert words in error.message
    assert str(error).startswith(f"{path}:{line}:")  # the one line the CLI prints


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_watchlist(tmp_path / "watchlist.toml")


def test_a_rule_needs_something_to_look_for() -> None:
    text = '[[rules]]\nid = "r"\nname = "R"\nnone = []\n'
    with pytest.raises(ConfigError, match="needs `all` or `any`") as caught:
        parse_watchlist_text(text, file="w.toml")
    assert caught.value.line == 2


def test_a_rule_cannot_combine_rules() -> None:
    text = (
        '[[keywords]]\nid = "k"\nname = "K"\nterms = ["convoy"]\n'
        '[[rules]]\nid = "r1"\nname = "R"\nall = ["k"]\n'
        '[[rules]]\nid = "r2"\nname = "R"\nall = ["r1"]\n'
    )
    with pytest.raises(ConfigError, match="'r1' is a rule") as caught:
        parse_watchlist_text(text, file="w.toml")
    assert (caught.value.line, caught.value.field) == (12, "rules[1].all[0]")


def test_defaults_and_version(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    shutil.copy(DATA / "editable.toml", path)
    first = load_watchlist(path)
    assert first.path == path
    assert first.entities[0].priority == "medium" and first.keywords[0].priority == "off"
    assert first.rules[0].within == "sentence"
    assert load_watchlist(path).version == first.version
    path.write_text(
        path.read_text(encoding="utf-8") + "\n# a comment changes the version\n", encoding="utf-8"
    )
    assert load_watchlist(path).version != first.version
    assert compile_matcher(first).version == first.version


# --- editing keeps comments and layout ------------------------------------------------


@pytest.fixture
def editable(tmp_path: Path) -> Path:
    path = tmp_path / "watchlist.toml"
    shutil.copy(DATA / "editable.toml", path)
    return path


def test_adding_an_entity_keeps_every_comment_and_line(editable: Path) -> None:
    before = editable.read_text(encoding="utf-8")
    new_id = add_entity(editable, "Harir air base", ["قاعدة حرير"], priority="medium")
    after = editable.read_text(encoding="utf-8")
    assert new_id == "harir-air-base"
    block = (
        '[[entities]]\nid = "harir-air-base"\nname = "Harir air base"\n'
        'aliases = ["Harir air base", "قاعدة حرير"]\npriority = "medium"\n'
    )
    # The new table goes after the last entity, before the keyword groups' banner.
    assert after == before.replace(
        "\n# ---- keyword groups ----", "\n" + block + "\n# ---- keyword groups ----"
    )
    matcher = compile_matcher(load_watchlist(editable))
    assert [m.id for m in matcher.match({"text": "Drones hit قاعدة حرير."}).mentions] == [
        "harir-air-base"
    ]


def test_adding_a_keyword_group_and_aliases(editable: Path) -> None:
    assert add_keywords(editable, "Attacks", ["drone", "rocket"]) == "attacks"
    assert add_alias(editable, "erbil", "Hawler airport") is True
    assert add_alias(editable, "erbil", "Hawler airport") is False  # already there: unchanged
    assert add_alias(editable, "logistics", "airlift") is True
    text = editable.read_text(encoding="utf-8")
    assert '  "مطار أربيل",       # Arabic\n  "Hawler airport",\n]\n# reviewed 2026-11\n' in text
    assert 'terms = ["convoy", "truck", "airlift"]' in text
    assert text.index('[[keywords]]\nid = "attacks"') < text.index("# ---- rules ----")
    watchlist = load_watchlist(editable)
    assert watchlist.entities[0].aliases[-1] == "Hawler airport"
    assert [group.id for group in watchlist.keywords] == ["logistics", "attacks"]


def test_removing_takes_the_comment_above_and_nothing_else(editable: Path) -> None:
    before = editable.read_text(encoding="utf-8")
    assert remove_item(editable, "tanf") == "entity"
    after = editable.read_text(encoding="utf-8")
    removed = (
        '# Al-Tanf garrison.\n[[entities]]\nid = "tanf"\nname = "Al-Tanf"\n'
        'aliases = ["Al-Tanf"]\npriority = "low"\n\n'
    )
    assert after == before.replace(removed, "")


def test_an_id_a_rule_uses_is_not_removed(editable: Path) -> None:
    before = editable.read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="used by rule erbil-logistics") as caught:
        remove_item(editable, "erbil")
    assert caught.value.line == 7
    assert editable.read_text(encoding="utf-8") == before
    assert remove_item(editable, "erbil-logistics") == "rule"
    assert remove_item(editable, "erbil") == "entity"
    assert "# Erbil: the coalition base" not in editable.read_text(encoding="utf-8")
    assert "# Team watchlist: keep this header." in editable.read_text(encoding="utf-8")


def test_an_edit_that_would_break_the_file_is_not_written(editable: Path) -> None:
    before = editable.read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="urgent"):
        add_entity(editable, "Qasrak", ["Qasrak"], priority="urgent")
    with pytest.raises(ConfigError, match="already used"):
        add_entity(editable, "Erbil again", ["Erbil"], id="erbil")
    with pytest.raises(ConfigError, match="no entity, keyword group or rule has id 'nowhere'"):
        add_alias(editable, "nowhere", "x")
    with pytest.raises(ConfigError, match="has no letters or digits"):
        add_alias(editable, "tanf", "--")
    assert editable.read_text(encoding="utf-8") == before
    assert [p.name for p in editable.parent.iterdir()] == [
        "watchlist.toml"
    ]  # no temporary left behind


def test_ids_are_made_from_names(editable: Path) -> None:
    assert slugify("Ain al-Asad Air Base") == "ain-al-asad-air-base"
    assert slugify("Aïn  Érbil!") == "ain-erbil"
    assert slugify("قاعدة حرير") == "قاعدة-حرير"
    assert add_entity(editable, "Al-Tanf", ["At-Tanf"]) == "al-tanf"
    assert add_entity(editable, "Al Tanf", ["Tanf garrison"]) == "al-tanf-2"


def test_adding_to_a_file_without_that_kind_of_entry(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    path.write_text("# only a comment\n", encoding="utf-8")
    assert add_keywords(path, "Logistics", ["convoy"]) == "logistics"
    assert add_entity(path, "Tower 22", []) == "tower-22"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# only a comment\n")
    assert text.index("[[entities]]") < text.index("[[keywords]]")
    assert load_watchlist(path).entities[0].aliases == ["Tower 22"]


# --- the default watchlist -------------------------------------------------------------


def test_the_default_watchlist_validates_and_covers_the_mission() -> None:
    watchlist = load_watchlist(DEFAULT)
    ids = {entity.id for entity in watchlist.entities}
    for base in (
        "ain-al-asad",
        "erbil-air-base",
        "harir",
        "al-tanf",
        "baghdad-airport",
        "conoco",
        "al-omar",
        "rumeilan",
        "tal-baydar",
        "shaddadi",
        "kharab-al-jir",
        "qasrak",
        "tower-22",
    ):
        assert base in ids
    assert {group.id for group in watchlist.keywords} >= {"logistics", "attacks"}
    for entity in watchlist.entities:
        assert any(any("\u0600" <= c <= "\u06ff" for c in alias) for alias in entity.aliases), (
            entity.id
        )


DEFAULT_CASES = [
    # (title, content, flags that must be raised, flags that must not)
    (
        "Trucks leave base",
        "US trucks that carried construction materials have arrived in Syria from "
        "Ein al-Assad base, local sources said.",
        {"base-logistics": "high"},
        set(),
    ),
    (
        "رتل من الشاحنات الأمريكية يغادر قاعدة عين الاسد باتجاه الأراضي السورية",
        "أفادت مصادر محلية بأن رتلاً يضم نحو أربعين شاحنة أمريكية محملة بمواد إنشائية غادر قاعدة "
        "عين الأسد غربي الأنبار، ودخل الأراضي السورية عبر منفذ الوليد.",
        {"base-logistics": "high", "crossing-logistics": "medium"},
        set(),
    ),
    (
        "Drone attack targets Erbil air base, no casualties reported",
        "A drone was shot down near Erbil airport late on Tuesday.",
        {"base-attack": "high"},
        set(),
    ),
    (
        "Bashar al-Assad meets visiting delegation in Damascus",
        "Bashar al-Assad received a visiting delegation and discussed reconstruction.",
        {},
        {"ain-al-asad", "base-logistics", "base-attack"},
    ),
    ("Weather", "Sunny in Baghdad; flights on schedule.", {}, {"baghdad-airport"}),
    (
        "أسعار النفط",
        "نقلت وكالة الأنباء عن مسؤولين أن حقل العمر عاد إلى الإنتاج.",  # "quoted": not transport
        {"al-omar": "medium"},
        {"base-logistics"},
    ),
]


@pytest.mark.parametrize(("title", "content", "raised", "not_raised"), DEFAULT_CASES)
def test_the_default_watchlist_flags_the_exemplary_articles(
    title: str, content: str, raised: dict[str, str], not_raised: set[str]
) -> None:
    result = compile_matcher(load_watchlist(DEFAULT)).match({"title": title, "content": content})
    got = {hit.rule: hit.priority for hit in result.flags}
    for rule, priority in raised.items():
        assert got.get(rule) == priority, got
    assert not_raised.isdisjoint(got)
