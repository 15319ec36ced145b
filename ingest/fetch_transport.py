"""The transport under the fetch stage: aiohttp sessions behind the private-network guard.

Part of the fetch stage (with `ingest.fetch`; `ingest.deliver` posts webhooks with
aiohttp too, with the SSL context of `ingest.tls`). aiohttp rather than httpx because polling
is mostly small requests and 304s, where the client's own CPU is the cost: on 1,000
conditional GETs against the bench farm, httpx over httpcore (h11, anyio) spent about
1.2 ms of CPU a request, aiohttp (C parser, one flat pool) about 0.3 ms.

Each network policy has its own session and pool: a connection opened for a feed the
operator put on a private address must never be reused by a feed that may not go there.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Mapping

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from ingest.errors import FetchError
from ingest.netguard import BlockedAddressError, NetworkPolicy, refuse_if_blocked, resolve

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
KEEPALIVE_SECONDS = 5.0
# aiohttp refuses a header line over 8,190 bytes by default; news sites send
# Content-Security-Policy and Set-Cookie headers longer than that.
MAX_HEADER_BYTES = 64 * 1024
DISCARD_BYTES = 64 * 1024
DISCARD_SECONDS = 1.0


class GuardedResolver(AbstractResolver):
    """Name resolution that refuses a name if any of its addresses is one `policy` refuses.

    aiohttp connects to the addresses the resolver returns (TLS still checks the URL's
    name), so the addresses checked are the ones connected to: a second DNS answer cannot
    swap in another. IP literals never reach a resolver; `check_literal` covers them.
    """

    def __init__(self, policy: NetworkPolicy) -> None:
        self.policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await resolve(host, port)
        # All of them, not only the one aiohttp picks: a name that mixes public and
        # internal addresses is a rebinding attempt, not a feed.
        for address in addresses:
            refuse_if_blocked(host, ipaddress.ip_address(address), self.policy)
        return [_result(host, address, port) for address in addresses]

    async def close(self) -> None:
        pass


def _result(host: str, address: str, port: int) -> ResolveResult:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return ResolveResult(
        hostname=host,
        host=address,
        port=port,
        family=family,
        proto=0,
        flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
    )


def check_literal(host: str, policy: NetworkPolicy) -> None:
    """Refuse a URL whose host is an IP address `policy` refuses (names: `GuardedResolver`)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return
    refuse_if_blocked(host, ip, policy)


def open_session(
    policy: NetworkPolicy,
    *,
    ssl_context: ssl.SSLContext,
    connections: int,
    connect_timeout: float,
    read_timeout: float,
    headers: Mapping[str, str],
) -> aiohttp.ClientSession:
    """A session of at most `connections` connections that may only reach what `policy` allows."""
    connector = aiohttp.TCPConnector(
        limit=connections,
        limit_per_host=0,  # the fetcher's own per-host gates apply
        ssl=ssl_context,
        keepalive_timeout=KEEPALIVE_SECONDS,
        resolver=GuardedResolver(policy),
        use_dns_cache=False,  # each new connection asks DNS (and the guard) again
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers=dict(headers),
        # The fetcher inflates the raw bytes itself, in bounded pieces (ingest.inflate).
        auto_decompress=False,
        # Feeds share a session: one feed's cookies must not follow us to another (nor
        # pile up in memory over thousands of feeds).
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,  # proxies from the environment would bypass the guard
        max_line_size=MAX_HEADER_BYTES,
        max_field_size=MAX_HEADER_BYTES,
        timeout=aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=read_timeout),
    )


async def discard(response: aiohttp.ClientResponse) -> bool:
    """Read a small unused body (a 304's, an error page) so its connection can be reused.

    Steady-state polling is mostly 304s: dropping each connection would cost a TCP and
    TLS handshake per feed. A large or slow body is not worth waiting for. True when the
    body was read to its end.
    """
    received = 0
    try:
        async with asyncio.timeout(DISCARD_SECONDS):
            async for chunk in response.content.iter_any():
                received += len(chunk)
                if received > DISCARD_BYTES:
                    return False
    except (TimeoutError, aiohttp.ClientError, OSError):
        return False  # the status is what we came for; the connection is closed instead
    return True


def _tls_cause(exc: BaseException) -> BaseException | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def describe_failure(url: str, exc: Exception, total_timeout: float) -> FetchError | None:
    """The FetchError that says what went wrong; None for an exception that is a bug."""
    if isinstance(exc, BlockedAddressError):
        return FetchError(url, "blocked", str(exc))
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return FetchError(url, "timeout", f"connect timed out: {exc}".rstrip(": "))
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return FetchError(url, "timeout", f"read timed out: {exc}".rstrip(": "))
    if isinstance(exc, TimeoutError):
        return FetchError(url, "timeout", f"no complete response within {total_timeout:g}s")
    tls = _tls_cause(exc)
    if tls is not None:
        return FetchError(url, "tls", f"TLS failed: {tls}")
    if isinstance(exc, aiohttp.InvalidURL):
        return FetchError(url, "scheme", f"invalid URL: {exc}")
    if isinstance(
        exc,
        aiohttp.ClientResponseError | aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError,
    ):
        return FetchError(url, "protocol", f"invalid HTTP: {_message(exc)}")
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return FetchError(url, "connect", f"connection failed: {exc.os_error.strerror}")
    if isinstance(exc, aiohttp.ClientConnectionError | OSError):
        return FetchError(url, "connect", f"connection failed: {exc}")
    return None


def _message(exc: Exception) -> str:
    if isinstance(exc, aiohttp.ClientResponseError):
        return exc.message or type(exc).__name__
    return str(exc) or type(exc).__name__
