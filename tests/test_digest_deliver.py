"""Delivery edges an operator notices: a webhook that fails, a mail server that wants a
login, and `ingest digest` writing a file."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from ingest.deliver import SmtpSettings, send_email
from tests.conftest import Instance
from tests.helpers import query, rss
from tests.test_digest_job import BASE_TRUCKS, Hook, Mailbox, configure
from tests.test_digest_job import hook as hook  # the fixture

USER, PASSWORD = "ingest", "s3cret"


def unalerted_high(instance: Instance) -> int:
    return int(
        query(
            instance.settings.database,
            "SELECT count(*) FROM flags WHERE alerted_at IS NULL AND priority = 'high'",
        )[0][0]
    )


def test_a_failed_webhook_keeps_the_alert_for_the_next_batch(
    instance: Instance, hook: Hook
) -> None:
    hook.statuses = [500]
    configure(instance, f'[alerts]\nmin_priority = "high"\nwebhook_url = "{hook.url}"\n')
    instance.server.add(
        "/a.xml", rss([{"guid": "t1", "title": "Trucks", "description": BASE_TRUCKS}])
    )
    instance.write_feeds("/a.xml")
    instance.run_once()
    assert len(hook.bodies) == 1 and unalerted_high(instance) == 1  # refused: not marked sent
    instance.run_once("--all")
    assert len(hook.bodies) == 2 and unalerted_high(instance) == 0
    assert hook.bodies[0]["alerts"] == hook.bodies[1]["alerts"]  # the same alert, once delivered


class Accounts:
    def __init__(self) -> None:
        self.logins: list[str] = []

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (USER, PASSWORD)
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)


@pytest.fixture
def smtp_auth() -> Iterator[tuple[Mailbox, Accounts, int]]:
    box, accounts = Mailbox(), Accounts()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        authenticator=accounts,
        auth_required=True,
        auth_require_tls=False,  # no certificate in the test; real servers use STARTTLS/SSL
    )
    controller.start()
    yield box, accounts, port
    controller.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_mail_logs_in_and_sends_both_parts(smtp_auth: tuple[Mailbox, Accounts, int]) -> None:
    box, accounts, port = smtp_auth
    settings = SmtpSettings(
        host="127.0.0.1",
        port=port,
        sender="ingest@test.example",
        recipients=("a@test.example",),
        username=USER,
        password=PASSWORD,
        starttls=False,
        timeout=10,
    )
    send_email(settings, "the subject", "plain body\n", "<p>html body</p>")
    assert accounts.logins == [USER]
    [(recipients, message)] = box.messages
    assert recipients == ["a@test.example"] and message["Subject"] == "the subject"
    parts = {p.get_content_type(): p.get_payload(decode=True) for p in message.walk()}
    assert parts["text/plain"].strip() == b"plain body" and b"html body" in parts["text/html"]


def test_digest_command_writes_the_json_of_a_period(instance: Instance) -> None:
    instance.server.add(
        "/a.xml",
        rss(
            [{"guid": "t1", "title": "Trucks leave base", "description": BASE_TRUCKS, "minutes": 5}]
        ),
    )
    instance.write_feeds("/a.xml")
    instance.run_once()
    out = instance.root / "digest.json"
    result = instance.cli("digest", "--since", "1h", "--format", "json", "--output", str(out))
    assert "wrote" in result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["digest"]["counts"]["flags"]["high"] >= 1 and data["digest"]["empty"] is False
    titles = [i["title"] for s in data["sections"] for g in s["groups"] for i in g["items"]]
    assert titles == ["Trucks leave base"]
    assert data["digest"]["period"]["end"] <= datetime.now(UTC).isoformat().replace("+00:00", "Z")
    text = instance.cli("digest", "--since", "1h").output
    assert "Trucks leave base" in text and "==== HIGH" in text
