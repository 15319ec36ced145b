"""Putting a digest or an alert somewhere: files in a directory, SMTP, a webhook.

Nothing here decides what is in them (that is `ingest.digest`); each function does one
delivery and raises on failure, so the caller can retry or release what it claimed.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import aiohttp

from ingest.digest.jsonformat import utc
from ingest.digest.model import Digest
from ingest.digest.render import render
from ingest.tls import default_ssl_context

# `total` is the whole POST's deadline; sock_read alone would let a trickle go on forever.
WEBHOOK_TIMEOUT = aiohttp.ClientTimeout(total=20.0, connect=5.0, sock_read=10.0)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    ssl: bool = False
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class Alert:
    """One flag sent at once, before the digest."""

    flag_id: int
    priority: str
    rule_name: str
    title: str
    url: str | None
    outlet: str
    evidence: str
    published: datetime


# --- files ----------------------------------------------------------------------------------


def write_digest_files(digest: Digest, directory: Path, formats: Sequence[str]) -> list[Path]:
    """YYYY-MM-DD.{md,html,json} in `directory`, each written whole or not at all."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = directory / f"{digest.header.day.isoformat()}.{fmt}"
        write_atomically(path, render(digest, fmt))
        written.append(path)
    return written


def write_atomically(path: Path, text: str) -> None:
    """A reader (a web server, a sync job) never sees half a file: temp file, then rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- mail -----------------------------------------------------------------------------------


def build_message(
    settings: SmtpSettings, subject: str, text: str, html: str | None
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def send_email(settings: SmtpSettings, subject: str, text: str, html: str | None) -> None:
    """Blocking: multipart/alternative (text, and HTML when given) to every recipient."""
    message = build_message(settings, subject, text, html)
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.ssl:
        smtp = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    with smtp:
        if settings.starttls and not settings.ssl:
            smtp.starttls(context=context)
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        smtp.send_message(message, from_addr=settings.sender, to_addrs=list(settings.recipients))


# --- alerts ---------------------------------------------------------------------------------


def render_alert_text(alerts: Sequence[Alert]) -> str:
    """Plain text for a mail body or a chat message: one paragraph per flag."""
    blocks = []
    for alert in alerts:
        lines = [
            f"[{alert.priority}] {alert.rule_name}: {alert.title}",
            f"{alert.outlet} · {alert.published.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        ]
        if alert.url:
            lines.append(alert.url)
        lines.append(f"“{' '.join(alert.evidence.split())}”")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def alert_payload(alerts: Sequence[Alert]) -> dict[str, Any]:
    """The webhook body: `text` for Slack-compatible receivers, `alerts` for programs."""
    return {
        "text": render_alert_text(alerts),
        "alerts": [
            {
                "flag_id": alert.flag_id,
                "priority": alert.priority,
                "rule": alert.rule_name,
                "title": alert.title,
                "url": alert.url,
                "outlet": alert.outlet,
                "evidence": alert.evidence,
                "published": utc(alert.published),
            }
            for alert in alerts
        ],
    }


async def post_webhook(url: str, payload: dict[str, Any]) -> None:
    """POST the JSON once; raises on a timeout, a refused connection or a non-2xx answer."""
    # As before aiohttp (httpx's defaults): a proxy from the environment is used, as the
    # way out of many networks, and certificates are checked as for feeds.
    connector = aiohttp.TCPConnector(ssl=default_ssl_context())
    async with (
        aiohttp.ClientSession(
            timeout=WEBHOOK_TIMEOUT, connector=connector, trust_env=True
        ) as session,
        session.post(url, json=payload, allow_redirects=False) as response,
    ):
        response.raise_for_status()
