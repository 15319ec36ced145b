"""The private-network guard of the fetch stage: which addresses a feed may reach.

A feed URL (or a redirect) naming an internal address is how a hostile feed turns the
daemon into a probe of the operator's network or of the cloud metadata service. Checking
the URL's host is not enough: a public name can resolve to 127.0.0.1, and DNS can answer
differently between a check and the connect. So the check runs inside the connect: the
backend resolves the name itself, refuses if any address is internal, and connects to an
address it checked. TLS still uses the URL's host name (httpcore passes the origin host
to `start_tls`), so SNI and certificate verification are unaffected.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class NetworkPolicy(enum.Enum):
    """Which addresses a request may connect to."""

    PUBLIC = "public"  # the default: only globally routable unicast addresses
    # The operator configured this feed on an internal address: loopback and private
    # ranges are fine, and so are its redirects there. Link-local (the cloud metadata
    # service at 169.254.169.254), multicast, reserved and unspecified stay refused:
    # no intranet feed has a reason to send us there.
    OPERATOR = "operator"
    ANY = "any"  # allow_private_networks: the operator turned the guard off


# Kinds of address the operator policy lets through.
_OPERATOR_ALLOWS = frozenset({"loopback", "private", "non-global"})


def address_kind(ip: IPAddress) -> str | None:
    """Why `ip` is internal ("loopback", "link-local", ...), or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 reaches 127.0.0.1; judge the IPv4 address it carries.
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "non-global"  # e.g. 100.64.0.0/10 carrier-grade NAT
    return None


def refusal(ip: IPAddress, policy: NetworkPolicy) -> str | None:
    """The reason `policy` refuses a connection to `ip`, or None when it is allowed."""
    if policy is NetworkPolicy.ANY:
        return None
    kind = address_kind(ip)
    if kind is None or (policy is NetworkPolicy.OPERATOR and kind in _OPERATOR_ALLOWS):
        return None
    return kind


class BlockedAddressError(Exception):
    """A connection was refused by the private-network guard (never reaches the network)."""

    def __init__(self, host: str, address: str, kind: str) -> None:
        self.host = host
        self.address = address
        self.kind = kind
        shown = host if host == address else f"{host} ({address})"
        super().__init__(f"refused to connect to {shown}: {kind} address")


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order (no duplicates)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    addresses: list[str] = []
    for family, *_, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in addresses:
            addresses.append(str(sockaddr[0]))
    if not addresses:
        raise httpcore.ConnectError(f"cannot resolve {host}: no IPv4 or IPv6 address")
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to addresses `policy` allows."""

    def __init__(
        self, policy: NetworkPolicy, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.policy = policy
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await resolve(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} took over {timeout}s") from exc
        # All of them, not only the one we pick: a name that mixes public and internal
        # addresses is a rebinding attempt, not a feed.
        for address in addresses:
            kind = refusal(ipaddress.ip_address(address), self.policy)
            if kind is not None:
                raise BlockedAddressError(host, address, kind)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used by the fetch stage")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
