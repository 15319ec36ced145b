"""The private-network guard of the fetch stage: which addresses a feed may reach.

A feed URL (or a redirect) naming an internal address is how a hostile feed turns the
daemon into a probe of the operator's network or of the cloud metadata service. Checking
the URL's host is not enough: a public name can resolve to 127.0.0.1, and DNS can answer
differently between a check and the connect. So the check runs inside the connect: the
fetch stage's resolver (`ingest.fetch_transport.GuardedResolver`) resolves the name,
refuses if any address is internal, and the connection goes to an address it checked.
TLS still uses the URL's host name, so SNI and certificate verification are unaffected.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import socket

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


def refuse_if_blocked(host: str, ip: IPAddress, policy: NetworkPolicy) -> None:
    """Raise BlockedAddressError when `policy` refuses `ip` (which `host` names)."""
    kind = refusal(ip, policy)
    if kind is not None:
        raise BlockedAddressError(host, str(ip), kind)


class ResolveError(OSError):
    """A name did not resolve (an OSError, as the HTTP client expects of a resolver)."""

    def __init__(self, message: str, errno: int = 0) -> None:
        super().__init__(errno, message)


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
        raise ResolveError(f"cannot resolve {host}: {exc}", getattr(exc, "errno", 0) or 0) from exc
    addresses: list[str] = []
    for family, *_, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in addresses:
            addresses.append(str(sockaddr[0]))
    if not addresses:
        raise ResolveError(f"cannot resolve {host}: no IPv4 or IPv6 address")
    return addresses
