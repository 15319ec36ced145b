"""The skeleton: how spellings outlets vary fold to one form, and offsets back to the text."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from ingest.match.normalize import DELETE, _byte_table, _general, fold_char, normalize, skeletonize

# The module itself (ingest.match exports a function of the same name).
normalize_module = importlib.import_module("ingest.match.normalize")

SAME = [
    # (a spelling, another spelling that must have the same skeleton)
    ("Ain al-Asad", "AIN AL-ASAD"),
    ("Ain al-Asad", "ain al asad"),
    ("Ain al-Asad", "Ain al–Asad"),  # en dash
    ("Ain al-Asad", "Ain al—Asad"),  # em dash
    ("Ain al-Asad", "Ain\u00a0al-Asad"),  # no-break space
    ("Ain al-Asad", "Ain al-\nAsad"),  # line break
    ("Ain al-Asad", "Ain   al -  Asad"),
    ("Asad", "Assad"),
    ("Asad", "Asaad"),
    ("Shadadi", "Shaddadi"),
    ("Ayn", "ʿAyn"),
    ("Ayn", "'Ayn"),
    ("Ain", "Aïn"),
    ("Qaim", "Qa'im"),
    ("Qaim", "Qa’im"),
    ("Erbil air base", "Érbil air base"),
    ("Asad", "Asad's"),
    ("Asad", "Asad’s"),
    ("Asad", "(Asad),"),
    ("Asad", '"Asad."'),
    # Arabic script
    ("عين الأسد", "عَيْنُ الأَسَدِ"),  # harakat
    ("عين الأسد", "عيـــن الأســد"),  # tatweel
    ("الأسد", "الاسد"),  # hamza on alef
    ("إمدادات", "امدادات"),  # hamza under alef
    ("آليات", "اليات"),  # madda
    ("ٱلأسد", "الاسد"),  # alef wasla
    ("مصطفى", "مصطفي"),  # alef maqsura / ya
    ("قاعدة", "قاعده"),  # taa marbuta / ha
    ("عين", "عین"),  # Persian yeh
    ("كاروان", "کاروان"),  # Persian kaf
    ("البرج 22", "البرج ٢٢"),  # Arabic-Indic digits
    ("البرج 22", "البرج ۲۲"),  # Persian digits
    ("عين الاسد", "عين\u200cالاسد"),  # zero-width non-joiner separates
]


@pytest.mark.parametrize(("one", "other"), SAME)
def test_spellings_share_a_skeleton(one: str, other: str) -> None:
    assert normalize(one) == normalize(other)


DIFFERENT = [
    ("Ain al-Asad", "Bahrain al-Asad"),
    ("Tower 22", "Tower 23"),
    ("al-Asad", "Ain al-Asad"),
    ("Asad", "Asadi"),
    ("عين", "غين"),
]


@pytest.mark.parametrize(("one", "other"), DIFFERENT)
def test_different_names_keep_different_skeletons(one: str, other: str) -> None:
    assert normalize(one) != normalize(other)


def test_the_skeleton_is_lower_case_words_and_single_spaces() -> None:
    assert (
        normalize("  Ein al-Assad’s runway,\n\tsaid Lt. Gen. Smith  ")
        == "ein al asad runway said lt gen smith"
    )


@pytest.mark.parametrize(
    "text",
    [
        "US trucks that carried construction materials arrived in Syria from Ein al-Assad base.",
        "“Ein al-Assad” – the base’s runway…\u00a0closed",
        "Aïn el-Asad, Érbil, Straße, İstanbul",
        "أفادت مصادر محلية بأن رتلاً يضم نحو أربعين شاحنة غادر قاعدة عين الأسد",
        "پایگاه هوایی عین‌الاسد و کامیون‌ها ۲۲",
        "mixed عين الأسد and ʿAyn al-Asad with emoji 🚚🚚 and 中文 text",
        "Konwój ciężarówek opuścił bazę Ain al-Asad, à la française",
        "Askeri kamyon konvoyu Ain al-Asad üssünden ayrıldı",
        "شمس قوي عين",
        "",
        "’’’",
    ],
)
def test_every_skeleton_character_comes_from_the_same_character_of_the_text(text: str) -> None:
    skeleton = skeletonize(text)
    for index, char in enumerate(skeleton.text):
        offset = skeleton.offset(index)
        if offset < 0 or offset >= len(text):
            assert char == " ", "only the padding lies outside the text"
            continue
        assert fold_char(text[offset]) == char or char == " ", (index, char, text[offset])
    offsets = [skeleton.offset(i) for i in range(len(skeleton.text))]
    assert offsets == sorted(offsets)


@pytest.mark.parametrize(
    "text",
    [
        "plain ascii with doubled letters: Assad, Shaddadi, committee",
        "typography “quotes” – dashes — and no-break\u00a0spaces’",
        "Latin-1 accents: Aïn, Érbil, naïve, Straße",
        "عَيْنُ الأَسَدِ وبالأسد للأسد رتلاً",
        "پایگاه عین‌الاسد کامیون‌ها ۲۲ ی ک",
        "Ḥasakah, ʿAyn, Ł ódź, Türkçe ış",  # characters no fast code page has
        "emoji 🚚 and 中文",
        "Konwój ciężarówek opuścił bazę Ain al-Asad; źródła: żołnierze, à la française",
        "Askeri kamyon konvoyu Ain al-Asad üssünden ayrıldı, şoförler ağır yük taşıyor",
        "Kolona sunkvežimių išvyko iš Ain al-Asad bazės į šiaurę",
        "قوي شمس عين: Arabic script with no alef or lam",
    ],
)
def test_the_fast_paths_and_the_general_path_agree(text: str) -> None:
    assert skeletonize(text).text == _general(" " + text + " ").text


def test_folding_twice_changes_nothing() -> None:
    for code in range(0x10000):
        folded = fold_char(chr(code))
        if folded != DELETE:
            assert fold_char(folded) == folded, hex(code)


@pytest.mark.parametrize("codec", ["ascii", "cp1252", "cp1256", "cp1250", "cp1254", "cp1257"])
def test_code_page_tables_fold_like_the_general_table(codec: str) -> None:
    table = _byte_table(codec)
    for value in range(128 if codec == "ascii" else 256):
        try:
            char = bytes([value]).decode(codec)
        except UnicodeDecodeError:
            continue
        assert bytes([table[value]]).decode(codec) == fold_char(char), (codec, hex(value))


def test_the_fold_table_is_kept_on_disk_and_rebuilt_when_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    normalize_module._fold_table.cache_clear()
    built = normalize_module._fold_table()  # nothing on disk: built and written
    [kept] = (tmp_path / "ingest").glob("fold-table-*.bin")
    assert built == "".join(normalize_module.fold_char(chr(c)) for c in range(0x10000))
    normalize_module._fold_table.cache_clear()
    assert normalize_module._fold_table() == built  # read back from disk
    data = bytearray(kept.read_bytes())
    data[ord("A")] = ord("Z")  # "A" would fold to "Z": the digest no longer matches
    kept.write_bytes(bytes(data))
    normalize_module._fold_table.cache_clear()
    assert normalize_module._fold_table() == built
    assert normalize("Ain al-Asad") == "ain al asad"
    normalize_module._fold_table.cache_clear()
