"""Rendering a built digest: text (terminal, mail), Markdown, HTML (self-contained) and JSON.

Feed content is untrusted: the HTML template is autoescaped, links keep only http(s)
URLs, Markdown escapes its own syntax and raw HTML, and the JSON is data.
"""

from __future__ import annotations

import json
import re
import textwrap
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ingest.digest.jsonformat import digest_json
from ingest.digest.model import Digest, Item, Segment

Format = Literal["text", "md", "html", "json"]
FORMATS: tuple[Format, ...] = ("text", "md", "html", "json")
TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE_OF = {"text": "digest.txt", "md": "digest.md", "html": "digest.html"}
WIDTH = 100  # the text format reads in a 100-column terminal or a plain-text mail


def render(digest: Digest, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(digest_json(digest), ensure_ascii=False, indent=2) + "\n"
    if fmt not in TEMPLATE_OF:
        raise ValueError(f"unknown digest format {fmt!r} (one of {', '.join(FORMATS)})")
    template = _environment().get_template(TEMPLATE_OF[fmt])
    return template.render(d=digest, h=digest.header, width=WIDTH)


def subject(digest: Digest) -> str:
    """The mail subject: the day and what is in it, most important first."""
    header = digest.header
    counts = [f"{n} {p}" for p, n in header.flags_by_priority.items() if n]
    what = ", ".join(counts) if counts else "no flags"
    return f"{header.title} {header.day.isoformat()}: {what}"


@cache
def _environment() -> Environment:
    """Built on first use, not at import; .html templates are autoescaped, text and
    Markdown are not (they escape with their own filters)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        when=when,
        span=span,
        md=md_escape,
        md_evidence=md_evidence,
        text_evidence=text_evidence,
        safe_url=safe_url,
        wrap=wrap,
        outlets=outlets,
        plural=plural,
        number=number,
    )
    return env


def when(moment: datetime) -> str:
    return moment.strftime("%a %d %b %H:%M")


def span(start: datetime, end: datetime) -> str:
    return f"{start.strftime('%a %d %b %Y %H:%M')} – {end.strftime('%a %d %b %Y %H:%M')}"


def number(value: int) -> str:
    return f"{value:,}"


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def safe_url(url: str | None) -> str | None:
    """Only web links: a feed's `javascript:` or `data:` link must not become clickable."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


# Inline syntax only: each value sits on one line after the template's own "- " or "### ",
# so line-start syntax (#, -, +, 1.) cannot take effect; [ and ] off also disarm links.
_SPACE = re.compile(r"\s+")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]~])")


def md_escape(text: str) -> str:
    """Markdown-escaped and HTML-escaped: a viewer must show a title, not run it."""
    flat = _SPACE.sub(" ", str(text))  # one line, but a piece keeps its edge spaces
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", flat)


def md_evidence(pieces: tuple[Segment, ...]) -> str:
    return "".join(f"**{md_escape(p.text)}**" if p.marked else md_escape(p.text) for p in pieces)


def text_evidence(pieces: tuple[Segment, ...]) -> str:
    """Plain text has no markup: matched terms go between asterisks."""
    return "".join(f"*{p.text}*" if p.marked else p.text for p in pieces)


def wrap(text: str, indent: int = 0, first: str | None = None) -> str:
    pad = " " * indent
    return textwrap.fill(
        " ".join(str(text).split()),
        width=WIDTH,
        initial_indent=pad if first is None else first,
        subsequent_indent=pad,
        break_on_hyphens=False,
    )


def outlets(item: Item) -> str:
    """'Regional Daily, Conflict Monitor (2)': who else carried the story."""
    names = list(dict.fromkeys(copy.outlet for copy in item.also_reported_by))
    return f"{', '.join(names)} ({len(item.also_reported_by)})"
