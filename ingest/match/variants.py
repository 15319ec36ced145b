"""The few word-level alternations the skeleton cannot fold, expanded into keys.

Letters fold in the skeleton (normalize.py); whole-word alternations of Arabic
names in Latin script do not, because rewriting words in every article would cost
more than the automaton itself. They are few and bounded, so each alias gets a
handful of extra keys instead:

- Ain / Ein / Ayn (ʿAyn and Aïn already fold to these);
- the article: al / el, written apart or joined to its noun (al-Asad, Al Asad,
  Alasad), assimilated before a sun letter (At-Tanf, ash-Shaddadi). An alias
  without an article ("Tanf") needs no key for "al-Tanf": the name is a word of it;
- words written apart or joined (Air Base, Airbase; AinAlAsad; U.S. Army, US Army).

Keyword terms also get their inflections (truck → trucks, trucked, trucking;
withdraw → withdrew, withdrawn, withdrawal), matched as allowed word endings.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from itertools import islice, product

from ingest.match.normalize import is_arabic_letter, normalize

MAX_VARIANTS = 64

_AIN = ("ain", "ein", "ayn")
_ARTICLES = ("al", "el")
# Sun letters assimilate the article's l: al-Tanf is pronounced, and often written, at-Tanf.
_SUN = ("th", "sh", "dh", "t", "d", "r", "z", "s", "n")
_ASSIMILATED = {"a" + letters: letters for letters in _SUN}

# Endings a keyword may carry, on the skeleton (where "shipped" is already "shiped").
LATIN_ENDINGS = frozenset(
    {"", "s", "es", "ed", "d", "ing", "ings", "er", "ers", "ment", "ments", "al", "als"}
)
# A final silent e drops before these (move → moving, evacuate → evacuation, arrive → arrival).
_E_DROP_ENDINGS = frozenset({"ing", "ings", "ion", "ions", "al", "als", "ation", "ations"})
# Consonant + y: supply → supplies, supplied.
_Y_ENDINGS = frozenset({"es", "ed", "er", "ers"})
# Pronoun and plural suffixes, and the alef of the accusative (رتلاً).
ARABIC_ENDINGS = frozenset(
    {"", "ا", "ه", "ها", "هم", "هما", "ات", "ان", "ين", "ون", "ي", "يه", "يا", "ك", "نا", "يات"}
)
# A word ending in taa marbuta (folded to ه) takes its suffixes on a t: شاحنة → شاحنات, قافلتين.
_TAA_ENDINGS = frozenset({"ات", "تين", "تان", "ته", "تها", "تهم", "تي", "تنا", "يات"})

IRREGULAR = {
    "withdraw": ("withdrew", "withdrawn"),
    "fly": ("flew", "flown"),
    "airlift": (),
    "send": ("sent",),
    "leave": ("left",),
    "bring": ("brought",),
    "take": ("took", "taken"),
    "drive": ("drove", "driven"),
    "ride": ("rode", "ridden"),
    "go": ("went", "gone"),
    "shoot": ("shot",),
    "strike": ("struck", "stricken"),
    "fight": ("fought",),
    "build": ("built",),
    "lead": ("led",),
    "hold": ("held",),
    "break": ("broke", "broken"),
    "blow": ("blew", "blown"),
    "begin": ("began", "begun"),
    "come": ("came",),
    "seek": ("sought",),
    "buy": ("bought",),
    "sell": ("sold",),
    "hit": (),
    "shut": (),
    "set": (),
    "put": (),
    "spread": (),
    "beat": ("beaten",),
    "undertake": ("undertook", "undertaken"),
    "overrun": ("overran",),
}


def _arabic(word: str) -> bool:
    return bool(word) and is_arabic_letter(word[0])


def name_variants(skeleton: str) -> list[str]:
    """The skeletons an alias may appear as, itself first (see the module docstring)."""
    words = skeleton.split(" ")
    last = words[-1]
    if any(_arabic(word) for word in words):
        heads = _heads(_arabic_choices(words, keyword=False))
        variants = _unique(head + last for head in heads)
        if skeleton.startswith("ال"):
            # li + al- contracts to لل, which the skeleton's run collapse makes a single ل:
            # للأسد → لاسد, i.e. the alias without its alef after a ل proclitic.
            variants.append(skeleton[1:])
        return variants
    lasts = _AIN if last in _AIN else (last,)
    return _unique(head + form for head in _heads(_latin_choices(words)) for form in lasts)


def term_variants(skeleton: str) -> list[tuple[str, frozenset[str]]]:
    """Keyword stems and the word endings each may carry (a frozenset with "" = the bare stem)."""
    words = skeleton.split(" ")
    last = words[-1]
    stems: list[tuple[str, frozenset[str]]] = []
    if _arabic(last):
        stems.append((last, ARABIC_ENDINGS))
        if last.endswith("ه") and len(last) > 2:
            stems.append((last[:-1], _TAA_ENDINGS))
        if len(words) > 1 and not last.startswith("ال"):
            stems += [("ال" + stem, endings) for stem, endings in stems]
        heads = _heads(_arabic_choices(words, keyword=True))
    else:
        heads = _heads(_latin_choices(words))
        if not last.isalpha():
            stems.append((last, frozenset({""})))
        else:
            stems.append((last, LATIN_ENDINGS))
            if last.endswith("e") and len(last) > 3:
                stems.append((last[:-1], _E_DROP_ENDINGS))
            if len(last) > 2 and last.endswith("y") and last[-2] not in "aeiou":
                stems.append((last[:-1] + "i", _Y_ENDINGS))
            stems += [(form, frozenset({""})) for form in _irregular().get(last, ())]
    found: dict[str, frozenset[str]] = {}
    for head in heads:
        for stem, endings in stems:
            key = normalize(head + stem)
            found[key] = found.get(key, frozenset()) | endings
    return list(found.items())


def _latin_choices(words: list[str]) -> list[tuple[str, ...]]:
    """For each word but the last: its forms, each followed by a space or joined to the next."""
    choices: list[tuple[str, ...]] = []
    for index, word in enumerate(words[:-1]):
        if word in _ARTICLES or word in _ASSIMILATED:
            choices.append(_article_forms(words[index + 1]))
            continue
        forms = _AIN if word in _AIN else (word,)
        choices.append(tuple(form + gap for gap in (" ", "") for form in forms))
    return choices


def _arabic_choices(words: list[str], keyword: bool) -> list[tuple[str, ...]]:
    choices: list[tuple[str, ...]] = []
    for index, word in enumerate(words[:-1]):
        forms = [word]
        if keyword:
            # A noun phrase agrees: طائرة مسيرة, طائرات مسيرة, الطائرة المسيرة.
            if word.endswith("ه"):
                forms.append(word[:-1] + "ات")
            if index > 0 and not word.startswith("ال"):
                forms += ["ال" + form for form in forms]
        choices.append(tuple(form + gap for gap in (" ", "") for form in forms))
    return choices


def _heads(choices: list[tuple[str, ...]]) -> list[str]:
    """Every combination of the words before the last (the written form first)."""
    return ["".join(parts) for parts in islice(product(*choices), MAX_VARIANTS * 4)]


def _unique(candidates: Iterable[str]) -> list[str]:
    found: list[str] = []
    seen: set[str] = set()
    for candidate in candidates:
        variant = normalize(candidate)
        if variant and variant not in seen:
            seen.add(variant)
            found.append(variant)
            if len(found) >= MAX_VARIANTS:
                break
    return found


def _article_forms(following: str) -> tuple[str, ...]:
    """al / el, apart or joined, and assimilated to a following sun letter (at-Tanf)."""
    forms = ["al ", "el ", "al", "el"]
    for letters in _SUN:
        if following.startswith(letters):
            forms += ["a" + letters + " ", "a" + letters]
            break
    return tuple(forms)


@cache
def _irregular() -> dict[str, tuple[str, ...]]:
    """IRREGULAR keyed and valued by skeletons (where "shoot" is "shot")."""
    return {
        normalize(base): tuple(normalize(form) for form in forms)
        for base, forms in IRREGULAR.items()
    }
