"""The daily digest job and alerts, driven through the daemon's pipeline with a real feed
server, a real SMTP server (aiosmtpd) and a real webhook receiver."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update

from ingest.daemon import Daemon
from ingest.db import create_db_engine
from ingest.digest.job import produce_daily_digest
from ingest.digest.period import digest_period, due_day
from ingest.models import Feed
from tests.conftest import Instance
from tests.helpers import query, rss

BASE_TRUCKS = (
    "US trucks that carried construction materials have arrived in Syria from Ein al-Assad base, "
    "local sources said."
)


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    # aiosmtpd's start() connects to its own port to check it is up: port 0 cannot work.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


class Hook:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.statuses: list[int] = []  # answers to give, in order; then 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                hook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(hook.statuses.pop(0) if hook.statuses else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook()
    yield receiver
    receiver.httpd.shutdown()
    receiver.httpd.server_close()


def configure(instance: Instance, extra: str) -> None:
    instance.config.write_text(instance.config.read_text() + extra)


def test_digest_period_is_the_24_hours_before_the_local_digest_time() -> None:
    tz = ZoneInfo("Asia/Baghdad")  # UTC+3
    start, end = digest_period(date(2026, 11, 24), "07:00", tz)
    assert end == datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
    assert start == end - timedelta(days=1)
    assert due_day(datetime(2026, 11, 24, 3, 59, tzinfo=UTC), "07:00", tz) == date(2026, 11, 23)
    assert due_day(datetime(2026, 11, 24, 4, 0, tzinfo=UTC), "07:00", tz) == date(2026, 11, 24)


def test_the_daily_job_fires_at_the_configured_local_time(instance: Instance) -> None:
    configure(instance, '[digest]\ntime = "06:30"\ntimezone = "America/New_York"\n')
    daemon = Daemon(instance.settings)
    trigger = daemon.digest_trigger()
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # 07:00 in New York: 06:30 has passed
    fire = trigger.get_next_fire_time(None, now)
    assert fire is not None
    assert fire.astimezone(UTC) == datetime(2026, 11, 25, 11, 30, tzinfo=UTC)
    assert (fire.hour, fire.minute) == (6, 30)
    summer = trigger.get_next_fire_time(None, datetime(2026, 7, 1, 0, 0, tzinfo=UTC))
    assert summer is not None and summer.astimezone(UTC).hour == 10  # EDT is UTC-4
    daemon.db.close()


def test_digest_files_are_built_once_and_mailed(
    instance: Instance, smtp: tuple[Mailbox, int]
) -> None:
    box, port = smtp
    configure(
        instance,
        f'[digest]\ntimezone = "UTC"\ntime = "07:00"\n[digest.email]\nhost = "127.0.0.1"\n'
        f'port = {port}\nstarttls = false\nsender = "ingest@test.example"\n'
        'recipients = ["analyst@test.example", "desk@test.example"]\n',
    )
    instance.server.add(
        "/a.xml",
        rss(
            [{"guid": "t1", "title": "Trucks leave base", "description": BASE_TRUCKS, "minutes": 5}]
        ),
    )
    instance.write_feeds("/a.xml")
    instance.run_once()
    # The due digest covers a period that ended before this install watched any feed:
    # no empty digest is built or mailed on the first start.
    assert box.messages == []
    assert query(instance.settings.database, "SELECT day FROM digests") == []

    settings = instance.settings
    engine = create_db_engine(settings.database)
    now = datetime.now(UTC)
    # The period that contains the flag just raised: it ends at the next 07:00 (today's
    # before 07:00 UTC, tomorrow's after it).
    day = due_day(now, "07:00", ZoneInfo("UTC")) + timedelta(days=1)
    run = produce_daily_digest(engine, settings, day, now)
    assert run is not None and run.flags >= 1 and run.emailed
    assert sorted(p.name for p in run.files) == [f"{day}.html", f"{day}.json", f"{day}.md"]
    assert produce_daily_digest(engine, settings, day, now) is None  # idempotent
    assert produce_daily_digest(engine, settings, day, now, force=True) is not None

    recipients, message = box.messages[-1]
    assert recipients == ["analyst@test.example", "desk@test.example"]
    assert "high" in message["Subject"]
    kinds = [part.get_content_type() for part in message.walk()]
    assert "text/plain" in kinds and "text/html" in kinds
    html = next(p for p in message.walk() if p.get_content_type() == "text/html").get_payload(
        decode=True
    )
    assert b"<mark>" in html and b"Trucks leave base" in html
    data = json.loads((settings.digest_dir / f"{day}.json").read_text())
    assert data["digest"]["counts"]["flags"]["high"] >= 1
    engine.dispose()


def test_missed_digest_is_built_at_start(instance: Instance) -> None:
    configure(instance, '[digest]\ntimezone = "UTC"\ntime = "00:00"\n')
    instance.server.add("/a.xml", rss([{"guid": "t1", "title": "Convoy", "minutes": 5}]))
    instance.write_feeds("/a.xml")
    instance.run_once()
    today = datetime.now(UTC).date()
    assert not (instance.settings.digest_dir / f"{today}.md").exists()  # a new install
    # The daemon was down at today's 00:00, but watching the feed since the day before.
    engine = create_db_engine(instance.settings.database)
    with engine.begin() as conn:
        conn.execute(update(Feed).values(created_at=datetime.now(UTC) - timedelta(days=2)))
    engine.dispose()
    instance.run_once()
    assert (instance.settings.digest_dir / f"{today}.md").exists()
    rows = query(instance.settings.database, "SELECT day, built_at FROM digests")
    assert [r[0] for r in rows] == [today.isoformat()] and rows[0][1] is not None


def test_alerts_go_to_the_webhook_once(instance: Instance, hook: Hook) -> None:
    configure(instance, f'[alerts]\nmin_priority = "high"\nwebhook_url = "{hook.url}"\n')
    instance.server.add(
        "/a.xml",
        rss(
            [
                {"guid": "t1", "title": "Trucks", "description": BASE_TRUCKS, "minutes": 1},
                {"guid": "t2", "title": "Weather", "description": "Sunny in Baghdad."},
            ]
        ),
    )
    instance.write_feeds("/a.xml")
    instance.run_once()
    instance.run_once("--all")
    assert len(hook.bodies) == 1
    body = hook.bodies[0]
    assert "text" in body and "Trucks" in body["text"]
    assert [a["priority"] for a in body["alerts"]] == ["high"] * len(body["alerts"])
    assert (
        query(
            instance.settings.database,
            "SELECT count(*) FROM flags WHERE alerted_at IS NULL AND priority = 'high'",
        )[0][0]
        == 0
    )


def test_alerts_by_mail(instance: Instance, smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    configure(
        instance,
        f'[digest.email]\nhost = "127.0.0.1"\nport = {port}\nstarttls = false\n'
        'sender = "ingest@test.example"\nrecipients = ["analyst@test.example"]\n'
        '[alerts]\nmin_priority = "high"\nemail = true\n',
    )
    instance.server.add(
        "/a.xml", rss([{"guid": "t1", "title": "Trucks", "description": BASE_TRUCKS, "minutes": 1}])
    )
    instance.write_feeds("/a.xml")
    instance.run_once()
    alerts = [m for _, m in box.messages if m["Subject"].startswith("ingest alert")]
    assert len(alerts) == 1 and "Trucks" in alerts[0]["Subject"]


def test_demo_runs_offline_and_shows_a_digest(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ingest.cli import app

    result = CliRunner().invoke(
        app, ["demo", "--dir", str(tmp_path / "demo")], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "HTML digest:" in result.output
    assert (tmp_path / "demo" / "digest.html").exists()
    assert "high" in result.output
    assert "also reported by" in result.output.lower()
