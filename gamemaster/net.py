"""The caller's IP address (DESIGN.md §4): the socket peer, or the first untrusted address in
`X-Forwarded-For` when the peer is a trusted proxy. A client can never choose its IP."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _trusted_networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    address = address.strip()
    if address.startswith("[") and "]" in address:  # [v6]:port
        address = address[1 : address.index("]")]
    elif address.count(":") == 1:  # v4:port
        address = address.split(":", 1)[0]
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def _is_trusted(address: Any) -> bool:
    networks = _trusted_networks(tuple(settings.TRUSTED_PROXIES))
    return any(address in network for network in networks)


def caller_ip(peer: str | None, forwarded_for: str | None) -> str | None:
    """Walk `X-Forwarded-For` from the right while the hop is a trusted proxy."""
    peer_address = _parse(peer) if peer else None
    if peer_address is None:
        return None
    if not forwarded_for or not _is_trusted(peer_address):
        return str(peer_address)
    hops = [_parse(hop) for hop in forwarded_for.split(",")]
    for hop in reversed(hops):
        if hop is None:
            break  # garbage in the header: trust nothing before it
        if not _is_trusted(hop):
            return str(hop)
    return str(peer_address)


def request_ip(request: Any) -> str | None:
    return caller_ip(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR"))


def scope_ip(scope: dict[str, Any]) -> str | None:
    client = scope.get("client") or (None, None)
    forwarded = None
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-for":
            forwarded = value.decode("latin-1")
    return caller_ip(client[0], forwarded)
