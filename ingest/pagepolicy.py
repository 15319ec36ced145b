"""Pure decisions of the full-text stage: which entries need their page, what a response means.

Nothing here does I/O: the worker (`ingest.fulltext`) fetches and stores around these.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from http import HTTPStatus
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

AUTO, ALWAYS, NEVER = "auto", "always", "never"

# How feeds say "the rest is on the site": compared casefolded with the end of the text,
# once trailing spaces, arrows, brackets and colons are stripped ("[…]" ends with "…").
CUT_ENDINGS = (
    "…",
    "...",
    "read more",
    "read the full story",
    "read the full article",
    "continue reading",
    "full story",
    "اقرأ المزيد",
    "إقرأ المزيد",
    "اقرا المزيد",
    "قراءة المزيد",
    "للمزيد",
    "ادامه مطلب",
    "ادامه خبر",
    "بیشتر بخوانید",
    "lire la suite",
    "weiterlesen",
    "leer más",
    "devamını oku",
    "читать далее",
)
_TRAILING = " \t\r\n\u00a0\u200e\u200f»›→>)]}|:-–—"

# A page with less main text than this is taken for a wall (paywall, consent, scripts).
MIN_PAGE_CHARS = 200
ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 §2.5: at least 500 KiB must be read


def looks_cut(text: str) -> bool:
    """True when a feed's text visibly stops short: "…", "[…]", "Read more", "اقرأ المزيد"."""
    tail = text[-80:].casefold().rstrip(_TRAILING)
    return tail.endswith(CUT_ENDINGS)


def feed_text(summary: str, content: str) -> str:
    """The fuller of the two texts a feed gives for an entry."""
    return content if len(content.strip()) >= len(summary.strip()) else summary


def needs_page(mode: str, link: str | None, summary: str, content: str, min_chars: int) -> bool:
    """Whether to fetch an entry's article page: always, never, or auto (short or cut text)."""
    if mode == NEVER or not link or urlsplit(link).scheme not in ("http", "https"):
        return False
    if mode == ALWAYS:
        return True
    text = feed_text(summary, content).strip()
    return len(text) < min_chars or looks_cut(text)


def effective_mode(feed_mode: str | None, default: str) -> str:
    return feed_mode if feed_mode in (AUTO, ALWAYS, NEVER) else default


@dataclass(frozen=True, slots=True)
class PageFailure:
    """Why an article has no page text: a short stable `kind` and a sentence for people."""

    kind: str  # http_403, not_html, robots, timeout, connect, blocked, no_text, extract…
    message: str


_WALL_STATUSES = {401: "login wall", 402: "paywall", 403: "bot wall or paywall", 451: "legal block"}

# Failures that say nothing about the page, only about the site's moment: tried again
# after each delay in turn, then final. A wall, a 404, robots.txt or a page without text
# would answer the same next time.
TRANSIENT_FAILURES = frozenset(
    {"timeout", "connect", "http_408", "http_429", "http_500", "http_502", "http_503", "http_504"}
)
RETRY_DELAYS = (timedelta(minutes=10), timedelta(hours=1), timedelta(hours=6))


def retry_delay(kind: str, failures_before: int) -> timedelta | None:
    """How long until a page that failed with `kind` is fetched again; None: it is final.

    `failures_before`: the failed fetches of this article version before this one."""
    if kind not in TRANSIENT_FAILURES or failures_before >= len(RETRY_DELAYS):
        return None
    return RETRY_DELAYS[failures_before]


def response_failure(status: int, content_type: str | None, body: bytes) -> PageFailure | None:
    """What is wrong with an article page's response, or None when it is an HTML page."""
    if not 200 <= status < 300 or status == HTTPStatus.NO_CONTENT:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "error"
        why = _WALL_STATUSES.get(status)
        return PageFailure(
            f"http_{status}", f"HTTP {status} {phrase}" + (f" ({why})" if why else "")
        )
    if not is_html(content_type, body):
        kind = (content_type or "no Content-Type").split(";")[0].strip()
        return PageFailure("not_html", f"not an HTML page ({kind})")
    return None


def is_html(content_type: str | None, body: bytes) -> bool:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in ("text/html", "application/xhtml+xml"):
        return True
    if kind and kind not in ("text/plain", "application/octet-stream", "binary/octet-stream"):
        return False
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head


def text_failure(page_text: str, feed_text_: str) -> PageFailure | None:
    """A page whose main text is not more than the feed's is a wall, not the article."""
    text = page_text.strip()
    if len(text) < MIN_PAGE_CHARS or len(text) <= len(feed_text_.strip()) // 2:
        return PageFailure(
            "no_text",
            f"no article text on the page ({len(text)} characters: paywall, consent wall "
            "or a page built by scripts)",
        )
    return None


# --- robots.txt ------------------------------------------------------------------------


def robots_key(url: str) -> str:
    """robots.txt applies per scheme, host and port."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def robots_url(url: str) -> str:
    return robots_key(url) + "/robots.txt"


@dataclass(slots=True)
class RobotsRules:
    """One host's robots.txt, read with the stdlib parser (RFC 9309 answers for errors)."""

    allow_all: bool = False
    disallow_all: bool = False
    parser: RobotFileParser | None = None
    reason: str = ""
    fetched: float = field(default_factory=time.monotonic)

    def allows(self, agent: str, url: str) -> bool:
        if self.disallow_all:
            return False
        if self.allow_all or self.parser is None:
            return True
        return self.parser.can_fetch(agent, url)


def robots_from_response(status: int | None, body: bytes) -> RobotsRules:
    """RFC 9309 §2.3.1: 2xx is parsed; 4xx means no rules; 5xx or no answer, stay away."""
    if status is None or status >= 500:
        return RobotsRules(disallow_all=True, reason="robots.txt unreachable")
    if not 200 <= status < 300:
        return RobotsRules(allow_all=True, reason=f"robots.txt HTTP {status}")
    parser = RobotFileParser()
    text = body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace")
    parser.parse(text.splitlines())
    return RobotsRules(parser=parser)


def agent_token(user_agent: str) -> str:
    """The product token robots.txt groups are matched on ("ingest" of "ingest/0.1 (…)")."""
    return user_agent.split("/")[0].split()[0] if user_agent.strip() else "*"
