"""Small builders for test feeds and for reading an instance's database."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from typing import Any

from sqlalchemy import create_engine, text

BASE_TIME = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def rss(items: Sequence[dict[str, Any]], title: str = "Test feed", ttl: int | None = None) -> str:
    """An RSS 2.0 document; each item: guid, title, link, description, minutes (age)."""
    parts = []
    for i, item in enumerate(items):
        when = BASE_TIME - timedelta(minutes=item.get("minutes", i * 30))
        guid = (
            f'<guid isPermaLink="false">{escape(item["guid"])}</guid>' if item.get("guid") else ""
        )
        parts.append(
            "<item>"
            f"<title>{escape(item.get('title', f'Story {i}'))}</title>"
            f"<link>{escape(item.get('link', f'https://news.example/{i}'))}</link>{guid}"
            f"<description>{escape(item.get('description', 'Nothing to see.'))}</description>"
            f"<pubDate>{format_datetime(when)}</pubDate></item>"
        )
    ttl_tag = f"<ttl>{ttl}</ttl>" if ttl else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://news.example/</link>{ttl_tag}"
        + "".join(parts)
        + "</channel></rss>"
    )


def story(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "guid": f"story-{n}",
        "title": f"Story number {n}",
        "link": f"https://news.example/{n}",
    } | extra


def query(database_url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())
    finally:
        engine.dispose()


def jsonl(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip().startswith("{")]
