"""Matcher throughput: articles per second with 10, 1,000 and 10,000 aliases.

    .venv/bin/python bench/bench_match.py [--articles 20000] [--runs 3]

Synthetic ~1,000-character news articles (title + content) in English and in
Arabic. "no mention": the cost every article pays (normalization and the automaton
pass). "10% flagged": one article in ten mentions a watchlist alias next to a
logistics term, so the figure includes the checks, offsets, sentence splitting and
evidence of real hits. Aliases are generated transliterated names (Latin and
Arabic script) with the real variant expansion. Normalization is included: the
timed call is `matcher.match({"title": ..., "content": ...})`. Median of the runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from ingest.match import Matcher, compile_matcher
from ingest.watchlist import Entity, KeywordGroup, Rule, Watchlist

_LATIN = (
    "al as ad ba bar da dar ha har ja kha ma mar na qa ra sa sha ta tal wa ya za ri ru mi nu ki"
)
_ARABIC = "با تا سا كا لا ما نا ها را دي مي ري عا قا فا زا شا حا جا"
LATIN_SYLLABLES = _LATIN.split()
ARABIC_SYLLABLES = _ARABIC.split()
_ENGLISH_TEXT = (
    "the a officials said on monday that forces near the border were reported to have moved "
    "several positions after talks in the capital where ministers discussed security and "
    "reconstruction while local sources told reporters that the situation remained calm but "
    "tense with residents describing heavy traffic on the main highway and new checkpoints "
    "according to a statement released by the ministry of defense late on tuesday evening"
)
_ARABIC_TEXT = (
    "قالت مصادر محلية إن القوات المنتشرة قرب الحدود نقلت مواقعها بعد محادثات في العاصمة حيث "
    "ناقش الوزراء الأمن وإعادة الإعمار فيما أفاد سكان بأن الوضع هادئ لكنه متوتر مع حركة كثيفة "
    "على الطريق الرئيسي ونقاط تفتيش جديدة وفق بيان صادر عن وزارة الدفاع مساء الثلاثاء"
)
ENGLISH = _ENGLISH_TEXT.split()
ARABIC = _ARABIC_TEXT.split()
LOGISTICS = [
    "convoy",
    "truck",
    "cargo",
    "airlift",
    "shipment",
    "redeploy",
    "withdraw",
    "dispatch",
    "رتل",
    "شاحنة",
]


def make_aliases(count: int, rng: random.Random) -> list[str]:
    aliases: set[str] = set()
    while len(aliases) < count:
        if rng.random() < 0.8:
            words = [
                "".join(rng.choice(LATIN_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
                for _ in range(rng.randint(1, 3))
            ]
            if rng.random() < 0.3:
                words.insert(rng.randint(0, len(words) - 1), "al-")
            aliases.add(" ".join(words).replace("al- ", "al-"))
        else:
            words = [
                "".join(rng.choice(ARABIC_SYLLABLES) for _ in range(rng.randint(2, 3)))
                for _ in range(2)
            ]
            aliases.add(" ".join(words))
    return sorted(aliases)


def make_watchlist(aliases: list[str]) -> Watchlist:
    entities = [
        Entity(id=f"e{i}", name=aliases[i], aliases=aliases[i : i + 2], priority="off")
        for i in range(0, len(aliases), 2)
    ]
    groups = [KeywordGroup(id="logistics", name="Logistics", terms=LOGISTICS)]
    rules = [
        Rule(id=f"r{i}", name=f"rule {i}", all=[entities[i].id, "logistics"], priority="high")
        for i in range(min(50, len(entities)))
    ]
    return Watchlist(entities=entities, keywords=groups, rules=rules, version="bench")


def make_article(
    rng: random.Random, vocabulary: list[str], mention: str | None, term: str
) -> dict[str, str]:
    def sentence() -> str:
        words = [rng.choice(vocabulary) for _ in range(rng.randint(10, 22))]
        return " ".join(words).capitalize() + rng.choice([".", ".", ".", ",", ";"])

    title = " ".join(rng.choice(vocabulary) for _ in range(9)).capitalize()
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < 1000 - len(title):
        parts.append(sentence())
    if mention is not None:
        parts[len(parts) // 2] = f"A {term} left {mention} on Monday, sources said."
    content = " ".join(parts)[: 1000 - len(title)]
    return {"title": title, "content": content}


def make_articles(
    rng: random.Random,
    vocabulary: list[str],
    aliases: list[str],
    terms: list[str],
    share: float,
    number: int,
) -> list[dict[str, str]]:
    """`number` articles, a `share` of which mention an alias next to a term."""
    return [
        make_article(
            rng,
            vocabulary,
            rng.choice(aliases) if rng.random() < share else None,
            rng.choice(terms),
        )
        for _ in range(number)
    ]


def articles_per_second(matcher: Matcher, articles: list[dict[str, str]], runs: int) -> float:
    rates = []
    match: Callable[[dict[str, str]], object] = matcher.match
    for _ in range(runs):
        started = time.perf_counter()
        for article in articles:
            match(article)
        rates.append(len(articles) / (time.perf_counter() - started))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20_000, help="English articles per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (the median is shown)")
    args = parser.parse_args()
    rng = random.Random(7)
    columns = ("aliases", "keys", "compile s", "EN no mention", "EN 10% flagged", "AR 10% flagged")
    widths = (8, 8, 10, 14, 15, 15)
    print(" ".join(f"{name:>{width}}" for name, width in zip(columns, widths, strict=True)))
    for count in (10, 1_000, 10_000):
        aliases = make_aliases(count, rng)
        started = time.perf_counter()
        matcher = compile_matcher(make_watchlist(aliases))
        compile_seconds = time.perf_counter() - started

        sample = aliases[:100]
        plain = make_articles(rng, ENGLISH, sample, LOGISTICS[:8], 0.0, args.articles)
        english = make_articles(rng, ENGLISH, sample, LOGISTICS[:8], 0.1, args.articles)
        arabic = make_articles(rng, ARABIC, sample, LOGISTICS[8:], 0.1, args.articles // 4)
        flagged = sum(bool(matcher.match(a).flags) for a in english) / len(english)
        assert 0.05 < flagged < 0.2, (
            f"the synthetic articles should be ~10% flagged, not {flagged:.0%}"
        )
        rates = [
            articles_per_second(matcher, batch, args.runs) for batch in (plain, english, arabic)
        ]
        cells = (
            f"{count:,}",
            f"{matcher.keys:,}",
            f"{compile_seconds:.2f}",
            *(f"{rate:,.0f}/s" for rate in rates),
        )
        print(" ".join(f"{cell:>{width}}" for cell, width in zip(cells, widths, strict=True)))


if __name__ == "__main__":
    main()
