"""Digest build time: a pure `build_digest` over synthetic inputs (no database, no rendering).

    .venv/bin/python bench/bench_digest.py [--flags 5000] [--articles 100000] [--runs 5]

The inputs are what storage hands the digest for a heavy day: `--flags` flags on
flagged articles (about 1.3 flags per article, as when a rule and its entity both fire),
a third of the stories carried by two or three outlets as lightly edited copies, every
text ~120-250 words (the ~1,500-character summaries feeds carry), and `--articles`
articles ingested that day (only a count for the digest: storage passes the flagged
articles alone). Prints the median and worst build time of the runs, then the stories
and the collapsed copies found, so a change that stops collapsing shows up too.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ingest.digest.build import build_digest
from ingest.digest.inputs import DigestArticle, DigestFlag, DigestInputs, EntityTrend, FailingFeed

END = datetime(2026, 11, 24, 4, tzinfo=UTC)
PRIORITIES = ("high", "medium", "low")


def vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(size)]


def story(rng: random.Random, words: list[str]) -> str:
    # Zipf-like: common words recur across stories, as "said", "the", "on monday" do.
    weights = [1 / (rank + 1) for rank in range(len(words))]
    picked = rng.choices(words, weights=weights, k=rng.randint(120, 250))
    return " ".join(picked)


def copy_of(rng: random.Random, text: str) -> str:
    """Another outlet's version: a new lead, a credit line, the last part cut."""
    words = text.split()
    keep = words[: int(len(words) * rng.uniform(0.7, 0.95))]
    return "Another headline for it. " + " ".join(keep) + " local sources told the outlet."


def synthetic_inputs(n_flags: int, n_articles: int, seed: int = 7) -> DigestInputs:
    rng = random.Random(seed)
    words = vocabulary(rng)
    texts: list[str] = []
    while len(texts) * 1.3 < n_flags:
        text = story(rng, words)
        texts.append(text)
        if rng.random() < 0.33:
            texts.extend(copy_of(rng, text) for _ in range(rng.randint(1, 2)))
    articles = {}
    for i, text in enumerate(texts):
        articles[i] = DigestArticle(
            id=i,
            title=text[:80],
            url=f"https://outlet{i % 300}.example/{i}",
            feed_title=f"Outlet {i % 300}",
            feed_url=f"https://outlet{i % 300}.example/rss",
            published_at=END - timedelta(minutes=rng.randint(1, 1439)),
            text=text[:4000],
        )
    flags = []
    for flag_id in range(n_flags):
        article = articles[flag_id % len(articles)]
        evidence = article.text[:300]
        term = evidence.split()[5]
        flags.append(
            DigestFlag(
                flag_id=flag_id,
                article_id=article.id,
                rule=f"rule-{flag_id % 40}",
                kind="rule" if flag_id % 3 else "entity",
                name=f"Rule {flag_id % 40}",
                priority=PRIORITIES[flag_id % 3],
                evidence=evidence,
                source="feed",
                mentions=(
                    {
                        "id": "x",
                        "kind": "entity",
                        "field": "summary",
                        "start": 0,
                        "end": 0,
                        "text": term,
                    },
                ),
                raised_at=article.published_at,
            )
        )
    return DigestInputs(
        title="bench digest",
        period_start=END - timedelta(days=1),
        period_end=END,
        timezone=ZoneInfo("Asia/Baghdad"),
        articles_ingested=n_articles,
        feeds_polled=300,
        feeds_failing=3,
        flags=tuple(flags),
        articles=articles,
        trends=tuple(
            EntityTrend(f"e{i}", f"Entity {i}", i % 9, (1, 2, 0, 1, 3, 1, 2)) for i in range(200)
        ),
        attention=(
            FailingFeed(
                "https://dead.example/rss", "Dead", END - timedelta(days=3), 70, "HTTP 404"
            ),
        ),
        generated_at=END,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flags", type=int, default=5000)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    inputs = synthetic_inputs(args.flags, args.articles)
    timings = []
    for _ in range(args.runs):
        began = time.perf_counter()
        digest = build_digest(inputs)
        timings.append(time.perf_counter() - began)
    copies = sum(
        len(i.also_reported_by) for s in digest.sections for g in s.groups for i in g.items
    )
    print(
        f"flags={args.flags} flagged_articles={len(inputs.articles)} "
        f"articles_ingested={args.articles} stories={digest.header.stories} copies={copies}"
    )
    print(
        f"build_digest: median {statistics.median(timings):.3f} s, "
        f"worst {max(timings):.3f} s over {args.runs} runs"
    )


if __name__ == "__main__":
    main()
