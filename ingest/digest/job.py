"""Producing the daily digest and sending alerts: storage → build → render → deliver.

Thin orchestration; the decisions live in build (pure) and the claims in storage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from ingest.db import Database
from ingest.deliver import (
    Alert,
    SmtpSettings,
    alert_payload,
    post_webhook,
    render_alert_text,
    send_email,
    write_digest_files,
)
from ingest.digest.build import build_digest
from ingest.digest.model import Digest
from ingest.digest.period import digest_period
from ingest.digest.render import render, subject
from ingest.digeststore import (
    DAILY,
    alerts_sent_since,
    claim_alerts,
    claim_digest,
    digest_inputs,
    finish_digest,
    release_alerts,
)
from ingest.errors import ConfigError
from ingest.flagstore import PRIORITY_ORDER, StoredFlag
from ingest.settings import EmailSettings, Settings, alerts_configured
from ingest.watchlist import load_watchlist

log = logging.getLogger("ingest.digest")


def entity_names(settings: Settings) -> dict[str, str]:
    """Tracked entities for the trend lines (from the current watchlist, if readable)."""
    try:
        watchlist = load_watchlist(settings.watchlist_file)
    except (ConfigError, OSError):
        return {}
    return {entity.id: entity.name for entity in watchlist.entities}


def build_for_period(
    engine: Engine, settings: Settings, start: datetime, end: datetime, now: datetime
) -> Digest:
    inputs = digest_inputs(
        engine,
        title=settings.digest.title,
        start=start,
        end=end,
        timezone=ZoneInfo(settings.digest.timezone),
        now=now,
        entity_names=entity_names(settings),
    )
    return build_digest(inputs)


def build_for_day(engine: Engine, settings: Settings, day: date, now: datetime) -> Digest:
    start, end = digest_period(day, settings.digest.time, ZoneInfo(settings.digest.timezone))
    return build_for_period(engine, settings, start, end, now)


@dataclass(frozen=True, slots=True)
class DigestRun:
    day: date
    files: tuple[Path, ...]
    emailed: bool
    flags: int


def produce_daily_digest(
    engine: Engine, settings: Settings, day: date, now: datetime, *, force: bool = False
) -> DigestRun | None:
    """Build, write and mail the digest of `day` once; None when it was already built."""
    tz = ZoneInfo(settings.digest.timezone)
    start, end = digest_period(day, settings.digest.time, tz)
    if not claim_digest(engine, DAILY, day.isoformat(), start, end, now, force=force):
        return None
    files: list[Path] = []
    try:
        digest = build_for_period(engine, settings, start, end, now)
        files = write_digest_files(digest, settings.digest_dir, tuple(settings.digest.formats))
        emailed = False
        if settings.digest.email is not None:
            send_email(
                smtp_settings(settings.digest.email),
                subject(digest),
                render(digest, "text"),
                render(digest, "html"),
            )
            emailed = True
    except Exception as exc:
        finish_digest(
            engine, DAILY, day.isoformat(), now, [str(f) for f in files], 0, error=str(exc)
        )
        raise
    flags = sum(digest.header.flags_by_priority.values())
    finish_digest(
        engine, DAILY, day.isoformat(), now, [str(f) for f in files], flags, emailed=emailed
    )
    log.info(
        "digest day=%s flags=%d files=%s emailed=%s",
        day,
        flags,
        ",".join(f.name for f in files),
        emailed,
    )
    return DigestRun(day, tuple(files), emailed, flags)


def smtp_settings(email: EmailSettings) -> SmtpSettings:
    return SmtpSettings(
        host=email.host,
        port=email.port,
        username=email.username,
        password=email.resolved_password(),
        starttls=email.starttls,
        ssl=email.ssl,
        sender=email.sender,
        recipients=tuple(email.recipients),
        timeout=email.timeout,
    )


# --- alerts ---------------------------------------------------------------------------------

ALERT_LOOKBACK = timedelta(days=1)


def alert_priorities(min_priority: str) -> list[str]:
    if min_priority == "off":
        return []
    return [p for p, rank in PRIORITY_ORDER.items() if rank <= PRIORITY_ORDER[min_priority]]


def to_alert(flag: StoredFlag) -> Alert:
    return Alert(
        flag_id=flag.id,
        priority=flag.priority,
        rule_name=flag.name,
        title=flag.title,
        url=flag.url,
        outlet=flag.feed_title or flag.feed_url,
        evidence=flag.evidence,
        published=flag.published_at,
    )


async def send_alerts(db: Database, settings: Settings, now: datetime) -> int:
    """One batch: flags at or above min_priority not alerted yet, within the hourly limit."""
    if not alerts_configured(settings):
        return 0
    budget = settings.alerts.max_per_hour - await db.run(
        alerts_sent_since, now - timedelta(hours=1)
    )
    priorities = alert_priorities(settings.alerts.min_priority)
    flags = await db.run(claim_alerts, priorities, now - ALERT_LOOKBACK, budget, now)
    if not flags:
        return 0
    alerts = [to_alert(flag) for flag in flags]
    try:
        await deliver_alerts(settings, alerts)
    except Exception:
        await db.run(release_alerts, [flag.id for flag in flags])
        raise
    log.info("alerts sent=%d", len(alerts))
    return len(alerts)


async def deliver_alerts(settings: Settings, alerts: Sequence[Alert]) -> None:
    if settings.alerts.webhook_url:
        await post_webhook(settings.alerts.webhook_url, alert_payload(list(alerts)))
    if settings.alerts.email and settings.digest.email is not None:
        top = alerts[0]
        title = f"ingest alert: {top.priority} — {top.rule_name}: {top.title}"
        if len(alerts) > 1:
            title += f" (+{len(alerts) - 1} more)"
        text = render_alert_text(list(alerts))
        await asyncio.to_thread(send_email, smtp_settings(settings.digest.email), title, text, None)
