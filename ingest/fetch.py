"""The fetch stage: one HTTP poll of a feed (or an article page), with every limit applied.

HTTP statuses are results (`FetchedFeed`); transport failures raise `FetchError` with a
short `kind`. What is enforced, and why it is done by hand rather than left to the
HTTP client (aiohttp, in `ingest.fetch_transport`):

- a total deadline per request (the client's timeouts are per read, so a body trickled
  a byte a second would outlive any of them);
- the body cap on decoded bytes, with raw reads inflated here in bounded pieces
  (a client's own decoder inflates a whole read at once: a gzip bomb grows 1000× before
  any check);
- redirects followed one by one, so each hop's scheme, count and address are checked;
- the private-network guard at connect time (`ingest.netguard`, wired in by
  `ingest.fetch_transport`);
- one SSL context for every connection: loading the CA bundle costs tens of ms.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import TracebackType

import aiohttp
from yarl import URL

from ingest.errors import FetchError
from ingest.fetch_transport import (
    REDIRECT_STATUSES,
    check_literal,
    describe_failure,
    discard,
    open_session,
)
from ingest.inflate import ACCEPT_ENCODING, DecodeError, decode, decoder_chain
from ingest.netguard import NetworkPolicy
from ingest.records import FeedRequest, FetchedFeed
from ingest.tls import default_ssl_context

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
PAGE_ACCEPT = "text/html,*/*;q=0.5"
PERMANENT_REDIRECTS = frozenset({301, 308})


@dataclass(frozen=True, slots=True)
class FetchLimits:
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    total_timeout: float = 60.0
    max_body_bytes: int = 16 * 1024 * 1024  # on decoded bytes
    max_redirects: int = 5
    user_agent: str = (
        "ingest/0.1 (+https://github.com/ingest-project/ingest; media monitoring feed reader)"
    )
    per_host_limit: int = 4  # concurrent requests per host
    allow_private_networks: bool = False
    connections: int = 64  # open at once, over all hosts


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """When a Retry-After header (delay in seconds, or an HTTP-date) lets us come back.

    `now` is aware; the result is aware UTC, or None for a missing or unreadable value.
    """
    text = (value or "").strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        try:
            return (now + timedelta(seconds=int(text))).astimezone(UTC)
        except (OverflowError, ValueError):
            return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with unknown origin (RFC 5322)
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def parse_max_age(cache_control: str | None) -> int | None:
    """The max-age directive of a Cache-Control header, in seconds."""
    for directive in (cache_control or "").split(","):
        name, _, value = directive.partition("=")
        if name.strip().lower() != "max-age":
            continue
        value = value.strip().strip('"')
        return int(value) if value.isascii() and value.isdigit() and len(value) < 12 else None
    return None


@dataclass(slots=True)
class _Lane:
    """One policy's session and a gate sized to its pool, so no request waits inside it."""

    session: aiohttp.ClientSession
    gate: asyncio.Semaphore


@dataclass(slots=True)
class _HostGate:
    gate: asyncio.Semaphore
    users: int = 0


@dataclass(slots=True)
class _Hop:
    """What one response of a redirect chain says."""

    status: int
    location: URL | None = None
    result: FetchedFeed | None = None


@dataclass(slots=True)
class _Chain:
    url: str  # as requested
    current: URL
    policy: NetworkPolicy
    headers: Mapping[str, str]
    seen: set[str] = field(default_factory=set)
    redirects: int = 0
    permanent: bool = True  # every redirect so far was 301/308
    started: float = 0.0
    cut_at: int | None = None  # cut the body here instead of refusing it (article pages)


class Fetcher:
    """Polls feeds over HTTP: `async with Fetcher(limits) as fetcher: await fetcher.fetch(req)`."""

    def __init__(
        self, limits: FetchLimits | None = None, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.limits = limits if limits is not None else FetchLimits()
        self._ssl_context = ssl_context
        self._lanes: dict[NetworkPolicy, _Lane] = {}
        self._hosts: dict[str, _HostGate] = {}

    async def __aenter__(self) -> Fetcher:
        if self._ssl_context is None:
            # Loading the CA bundle costs tens of ms: once, shared by every connection (and
            # under `ingest run` loaded already, in a thread at start: ingest.tls).
            self._ssl_context = default_ssl_context()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        lanes, self._lanes = list(self._lanes.values()), {}
        for lane in lanes:
            await lane.session.close()

    async def fetch(self, req: FeedRequest, *, conditional: bool = True) -> FetchedFeed:
        """GET a feed; with `conditional`, send its validators so an unchanged feed costs a 304."""
        headers = {"Accept": FEED_ACCEPT}
        if conditional:
            for name, value in (
                ("If-None-Match", req.etag),
                ("If-Modified-Since", req.last_modified),
            ):
                # A stored validator with a line break would make every request invalid.
                if value and value.isprintable():
                    headers[name] = value
        return await self._get(req.url, headers, allow_private=req.allow_private)

    async def fetch_page(
        self,
        url: str,
        *,
        allow_private: bool = False,
        accept: str = PAGE_ACCEPT,
        cut_at: int | None = None,
    ) -> FetchedFeed:
        """GET an article page under the same limits as a feed.

        With `cut_at`, a longer body is cut there (`FetchedFeed.cut`) rather than refused:
        the start of a page holds its story.
        """
        return await self._get(url, {"Accept": accept}, allow_private=allow_private, cut_at=cut_at)

    async def _get(
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        allow_private: bool,
        cut_at: int | None = None,
    ) -> FetchedFeed:
        if self.limits.allow_private_networks:
            policy = NetworkPolicy.ANY
        else:
            policy = NetworkPolicy.OPERATOR if allow_private else NetworkPolicy.PUBLIC
        try:
            chain = _Chain(url, _http_url(url, url), policy, headers, cut_at=cut_at)
            return await self._follow(chain)
        except FetchError:
            raise
        except Exception as exc:
            failure = describe_failure(url, exc, self.limits.total_timeout)
            if failure is None:
                raise
            raise failure from exc

    async def _follow(self, chain: _Chain) -> FetchedFeed:
        loop = asyncio.get_running_loop()
        chain.seen.add(str(chain.current))
        async with asyncio.timeout(None) as deadline:
            for _ in range(self.limits.max_redirects + 1):
                host = chain.current.raw_host or ""
                async with self._turn(chain.policy, host) as session:
                    if not chain.started:
                        # The clock starts once a connection slot is ours: time spent
                        # queueing behind other feeds of the same host is not this feed's.
                        chain.started = time.monotonic()
                        deadline.reschedule(loop.time() + self.limits.total_timeout)
                    hop = await self._request(session, chain)
                if hop.result is not None:
                    return hop.result
                assert hop.location is not None
                chain.permanent = chain.permanent and hop.status in PERMANENT_REDIRECTS
                target = str(hop.location)
                if target in chain.seen:
                    raise FetchError(chain.url, "redirects", f"redirect loop back to {target}")
                chain.seen.add(target)
                chain.current = hop.location
                chain.redirects += 1
        raise FetchError(chain.url, "redirects", f"more than {self.limits.max_redirects} redirects")

    async def _request(self, session: aiohttp.ClientSession, chain: _Chain) -> _Hop:
        check_literal(chain.current.raw_host or "", chain.policy)
        response = await session.get(chain.current, headers=chain.headers, allow_redirects=False)
        complete = False
        try:
            status = response.status
            location = response.headers.get("location")
            if status in REDIRECT_STATUSES and location:
                complete = await discard(response)
                return _Hop(status, location=_http_url(chain.url, location, base=chain.current))
            cut = False
            if 200 <= status < 300:
                body, cut = await self._read_body(chain.url, response, chain.cut_at)
                complete = not cut
            else:
                body = b""
                complete = await discard(response)
            return _Hop(status, result=self._result(chain, response, body, cut))
        finally:
            if complete:
                response.release()
            else:
                # A body left unread (a bomb, a huge error page) closes the connection.
                response.close()

    async def _read_body(
        self, url: str, response: aiohttp.ClientResponse, cut_at: int | None = None
    ) -> tuple[bytes, bool]:
        """The decoded body, and whether it was cut at `cut_at` (else over the cap raises)."""
        cap = self.limits.max_body_bytes
        if cut_at is not None:
            cap = min(cut_at, cap)
        length = response.headers.get("content-length", "")
        if cut_at is None and length.isdigit() and int(length) > cap:
            raise _too_large(url, cap, f"Content-Length {length}")
        body = bytearray()
        received = 0
        try:
            decoders = decoder_chain(response.headers.get("content-encoding"))
            async for chunk in response.content.iter_any():
                received += len(chunk)
                if received > cap and cut_at is None:
                    raise _too_large(url, cap, f"over {received} bytes on the wire")
                for piece in decode(decoders, chunk):
                    body += piece
                    if len(body) > cap:
                        if cut_at is None:
                            raise _too_large(url, cap, "decoded")
                        return bytes(body[:cap]), True
                if received > cap:  # cutting, and the wire alone is past the cap
                    return bytes(body[:cap]), True
            for piece in decode(decoders, b"", final=True):
                body += piece
                if len(body) > cap:
                    if cut_at is None:
                        raise _too_large(url, cap, "decoded")
                    return bytes(body[:cap]), True
        except DecodeError as exc:
            raise FetchError(url, "protocol", str(exc)) from exc
        return bytes(body), False

    def _result(
        self, chain: _Chain, response: aiohttp.ClientResponse, body: bytes, cut: bool = False
    ) -> FetchedFeed:
        headers = response.headers
        final_url = str(chain.current)
        moved = chain.permanent and chain.redirects > 0
        return FetchedFeed(
            url=chain.url,
            final_url=final_url,
            status=response.status,
            permanent_url=final_url if moved else None,
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
            content_type=headers.get("content-type"),
            body=body,
            retry_after=parse_retry_after(headers.get("retry-after"), datetime.now(UTC)),
            max_age=parse_max_age(headers.get("cache-control")),
            elapsed=time.monotonic() - chain.started,
            cut=cut,
        )

    @asynccontextmanager
    async def _turn(self, policy: NetworkPolicy, host: str) -> AsyncIterator[aiohttp.ClientSession]:
        """Wait for this host's politeness slot, then for a connection of the policy's pool."""
        host_gate = self._hosts.get(host)
        if host_gate is None:
            host_gate = self._hosts[host] = _HostGate(asyncio.Semaphore(self.limits.per_host_limit))
        host_gate.users += 1
        try:
            async with host_gate.gate:
                lane = self._lane(policy)
                async with lane.gate:
                    yield lane.session
        finally:
            host_gate.users -= 1
            if not host_gate.users:
                del self._hosts[host]

    def _lane(self, policy: NetworkPolicy) -> _Lane:
        lane = self._lanes.get(policy)
        if lane is None:
            limits = self.limits
            size = max(1, limits.connections)
            assert self._ssl_context is not None, "use Fetcher as an async context manager"
            session = open_session(
                policy,
                ssl_context=self._ssl_context,
                connections=size,
                connect_timeout=limits.connect_timeout,
                read_timeout=limits.read_timeout,
                headers={"User-Agent": limits.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            )
            lane = self._lanes[policy] = _Lane(session, asyncio.Semaphore(size))
        return lane


def _http_url(feed_url: str, location: str, base: URL | None = None) -> URL:
    """An absolute http(s) URL, resolved against `base` (a redirect's Location)."""
    try:
        url = base.join(URL(location)) if base is not None else URL(location)
        url.raw_host  # noqa: B018 -- yarl parses the host lazily; a bad one raises here
    except (ValueError, TypeError, UnicodeError) as exc:
        raise FetchError(feed_url, "scheme", f"invalid URL {location!r}: {exc}") from exc
    if url.scheme not in ("http", "https"):
        where = "redirect to" if base is not None else "URL"
        raise FetchError(feed_url, "scheme", f"refused {where} {location!r}: not http or https")
    if not url.raw_host:
        raise FetchError(feed_url, "scheme", f"URL without a host: {location!r}")
    return url


def _too_large(url: str, cap: int, seen: str) -> FetchError:
    return FetchError(url, "too_large", f"body over the {cap:,}-byte cap ({seen})")
