"""The transport under the fetch stage: httpx clients over guarded httpcore pools.

Part of the fetch stage (with `ingest.fetch`, the only modules that use httpx). httpx
does not let a client choose httpcore's network backend, which is where the
private-network guard must sit (`ingest.netguard`), so each client gets a small
transport over an httpcore pool built here. Its exceptions are httpcore's, mapped to
`FetchError` kinds by `describe_failure`.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpcore
import httpx

from ingest.errors import FetchError
from ingest.netguard import BlockedAddressError, GuardedBackend, NetworkPolicy

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
LOCATION = "ingest.location"  # response extension holding a redirect's Location
KEEPALIVE_SECONDS = 5.0
DISCARD_BYTES = 64 * 1024
DISCARD_SECONDS = 1.0


class _CoreStream(httpx.AsyncByteStream):
    """An httpcore response body as httpx expects it."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


class _QuickInfoStream(httpcore.AsyncNetworkStream):
    """A connection whose "is it still open?" check costs one poll(2) and nothing else.

    httpcore asks every pooled connection of a client whether it is readable each time
    it assigns a request. Through anyio each question built a dict of the socket's
    attributes, calling getpeername(2) on the way: in a cycle of 304s that was a fifth
    of the fetch stage's CPU. The socket is looked up once, at connect.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _QuickInfoStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return _readable(self._socket)
        if info == "socket":
            return self._socket
        return self._inner.get_extra_info(info)


def _readable(sock: socket.socket | None) -> bool:
    """Data (or the peer's close) is waiting; a socket that is gone counts as readable."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _QuickInfoBackend(httpcore.AsyncNetworkBackend):
    """`inner`'s connections, as `_QuickInfoStream`s."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _QuickInfoStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PoolTransport(httpx.AsyncBaseTransport):
    """httpx over an httpcore pool whose network backend we choose (httpx does not let us).

    httpcore exceptions pass through unchanged; `describe_failure` maps them to FetchError kinds.
    A redirect's Location travels in an extension, not as a header: httpx's client parses
    a Location into `next_request` even when it does not follow it, and raises on one it
    cannot parse (`data:...`), closing the response before we could refuse it properly.
    """

    def __init__(self, pool: httpcore.AsyncConnectionPool) -> None:
        self._pool = pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            extensions=request.extensions,
        )
        response = await self._pool.handle_async_request(core_request)
        assert isinstance(response.stream, AsyncIterable)
        headers, extensions = response.headers, dict(response.extensions)
        if response.status in REDIRECT_STATUSES:
            locations = [value for name, value in headers if name.lower() == b"location"]
            if locations:
                extensions[LOCATION] = _header_text(locations[0])
                headers = [(name, value) for name, value in headers if name.lower() != b"location"]
        return httpx.Response(
            status_code=response.status,
            headers=headers,
            stream=_CoreStream(response.stream),
            extensions=extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def open_client(
    policy: NetworkPolicy,
    *,
    ssl_context: ssl.SSLContext,
    connections: int,
    timeout: httpx.Timeout,
    headers: Mapping[str, str],
) -> httpx.AsyncClient:
    """A client of `connections` connections that may only reach what `policy` allows."""
    # Each policy has its own pools: a connection opened for a feed the operator put on
    # a private address must never be reused by a feed that may not go there.
    guarded = httpcore.AnyIOBackend() if policy is NetworkPolicy.ANY else GuardedBackend(policy)
    backend = _QuickInfoBackend(guarded)
    pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=KEEPALIVE_SECONDS,
        network_backend=backend,
    )
    return httpx.AsyncClient(
        transport=PoolTransport(pool),
        timeout=timeout,
        follow_redirects=False,
        headers=dict(headers),
        trust_env=False,  # proxies from the environment would bypass the guard
        # Feeds share a client: one feed's cookies must not follow us to another (nor
        # pile up in memory over thousands of feeds).
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )


async def discard(response: httpx.Response) -> None:
    """Read a small unused body (a 304's, an error page) so its connection can be reused.

    Steady-state polling is mostly 304s: dropping each connection would cost a TCP and
    TLS handshake per feed. A large or slow body is not worth waiting for.
    """
    received = 0
    try:
        async with asyncio.timeout(DISCARD_SECONDS):
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received > DISCARD_BYTES:
                    return
    except (TimeoutError, httpx.HTTPError, httpcore.NetworkError, httpcore.ProtocolError):
        pass  # the status is what we came for; the connection is closed instead


def _header_text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


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
    if isinstance(exc, TimeoutError):
        return FetchError(url, "timeout", f"no complete response within {total_timeout:g}s")
    if isinstance(exc, httpcore.TimeoutException | httpx.TimeoutException):
        phase = type(exc).__name__.removesuffix("Timeout").lower() or "request"
        return FetchError(url, "timeout", f"{phase} timed out: {exc}".rstrip(": "))
    tls = _tls_cause(exc)
    if tls is not None:
        return FetchError(url, "tls", f"TLS failed: {tls}")
    if isinstance(exc, httpcore.UnsupportedProtocol | httpx.UnsupportedProtocol | httpx.InvalidURL):
        return FetchError(url, "scheme", str(exc))
    if isinstance(exc, httpcore.ProtocolError | httpx.ProtocolError):
        return FetchError(url, "protocol", f"invalid HTTP: {exc}")
    if isinstance(exc, httpcore.NetworkError | httpx.NetworkError | OSError):
        return FetchError(url, "connect", f"connection failed: {exc}")
    return None
