"""Digest inputs for tests, read from tests/data/digest/*.json (real files, easy to extend)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ingest.digest.inputs import DigestArticle, DigestFlag, DigestInputs, EntityTrend, FailingFeed

DATA = Path(__file__).resolve().parent / "data" / "digest"


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def load_inputs(name: str = "day.json") -> DigestInputs:
    raw: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    articles = {
        a["id"]: DigestArticle(
            id=a["id"],
            title=a["title"],
            url=a["url"],
            feed_title=a["feed_title"],
            feed_url=a["feed_url"],
            published_at=_time(a["published_at"]),
            text=a["text"],
        )
        for a in raw["articles"]
    }
    period_end = _time(raw["period_end"])
    flags = tuple(
        DigestFlag(
            flag_id=f["flag_id"],
            article_id=f["article_id"],
            rule=f["rule"],
            kind=f["kind"],
            name=f["name"],
            priority=f["priority"],
            evidence=f["evidence"],
            source=f.get("source", "feed"),
            mentions=tuple(f["mentions"]),
            raised_at=period_end,
        )
        for f in raw["flags"]
    )
    return DigestInputs(
        title=raw["title"],
        period_start=_time(raw["period_start"]),
        period_end=period_end,
        timezone=ZoneInfo(raw["timezone"]),
        articles_ingested=raw["articles_ingested"],
        feeds_polled=raw["feeds_polled"],
        feeds_failing=raw["feeds_failing"],
        flags=flags,
        articles=articles,
        trends=tuple(
            EntityTrend(t["id"], t["name"], t["period"], tuple(t["previous_days"]))
            for t in raw["trends"]
        ),
        attention=tuple(
            FailingFeed(
                f["url"],
                f["title"],
                _time(f["error_since"]),
                f["consecutive_errors"],
                f["last_error"],
            )
            for f in raw["attention"]
        ),
        generated_at=_time(raw["generated_at"]),
    )


def empty_day() -> DigestInputs:
    """The same day with nothing flagged (and nothing failing)."""
    return replace(load_inputs(), flags=(), articles={}, trends=(), attention=(), feeds_failing=0)
