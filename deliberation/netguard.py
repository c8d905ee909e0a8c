"""The outbound-request guard: every URL a user can make the server call goes through here.

Webhook receivers and agent profiles' ``base_url`` are chosen by users, so without a guard the
server could be made to call its own loopback services, the private network, or the cloud
metadata endpoint (SSRF). As Sentry does, the check is made on the *addresses* a host name
resolves to, not on the name:

- :func:`refusal_reason` says why one IP address is refused (loopback, private, link-local
  including 169.254.169.254, carrier-grade NAT, multicast, reserved, unspecified, or otherwise
  not globally routable; IPv4-mapped, 6to4 and NAT64 IPv6 forms are judged by the IPv4 address
  they carry), unless it lies in one of the operator's ``OUTBOUND_ALLOWED_NETWORKS``.
- :func:`check_url` validates a URL when it is entered (forms, serializers, model ``clean``).
- :func:`client` returns an ``httpx.Client`` whose transport resolves each host once, refuses
  the connection if *any* of its addresses is refused, and then connects to the checked address
  itself, so a DNS answer that changes between check and connect (rebinding) cannot slip
  through. The URL's host name is still used for the ``Host`` header and TLS (SNI and
  certificate checks). Every connection is checked, so a redirect, if followed, is checked too;
  our callers do not follow redirects. Proxies from the environment are not used (a proxy would
  resolve the name, not us).

A refusal raises :class:`OutboundRefused`, which is not an ``httpx`` error: callers treat it as
final, never as a transient network failure to retry.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")

# Checked in this order; the first that matches names the refusal.
_CATEGORIES: tuple[tuple[str, Any], ...] = (
    ("unspecified", lambda ip: ip.is_unspecified),
    ("loopback", lambda ip: ip.is_loopback),
    ("link-local (e.g. cloud metadata)", lambda ip: ip.is_link_local),
    ("carrier-grade NAT", lambda ip: ip.version == 4 and ip in CARRIER_GRADE_NAT),
    ("private", lambda ip: ip.is_private),
    ("multicast", lambda ip: ip.is_multicast),
    ("reserved", lambda ip: ip.is_reserved),
    ("not globally routable", lambda ip: not ip.is_global),
)


class OutboundRefused(Exception):
    """The server will not call this URL; the message is safe to show to the user who set it
    (it names the host and the kind of address, never the address itself)."""


# --- the rule ----------------------------------------------------------------------------------
def allowed_networks() -> tuple[IPNetwork, ...]:
    """The operator's ``OUTBOUND_ALLOWED_NETWORKS`` (CIDRs; empty by default in production)."""
    return _parse_networks(tuple(getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", ()) or ()))


@lru_cache(maxsize=8)
def _parse_networks(values: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"OUTBOUND_ALLOWED_NETWORKS (DELIBERATION_OUTBOUND_ALLOWED_NETWORKS): {exc}"
            ) from None
    return tuple(networks)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped ``::ffff:a.b.c.d``, 6to4, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal_reason(ip: IPAddress | str) -> str | None:
    """Why the server may not connect to ``ip`` (a kind of address), or None if it may."""
    ip = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    if any(ip.version == net.version and ip in net for net in allowed_networks()):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return refusal_reason(embedded)
    for name, test in _CATEGORIES:
        if test(ip):
            return name
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to, in the resolver's order, without duplicates.

    Raises ``OSError`` (``socket.gaierror``) when the name does not resolve."""
    host = host.strip("[]")
    seen: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    ):
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in seen:
            seen.append(ip)
    return seen


def checked_addresses(host: str, port: int) -> list[IPAddress]:
    """Resolve ``host`` and return its addresses if *all* of them may be called.

    Refusing when any address is refused (not only the first) means a name with one public and
    one internal address cannot be used to reach the internal one on a later connection."""
    addresses = resolve(host, port)
    if not addresses:
        raise OSError(f"{host} has no address")
    for ip in addresses:
        reason = refusal_reason(ip)
        if reason is not None:
            raise OutboundRefused(
                f"{host} is a {reason} address, which this server does not call "
                "(an operator can allow it with OUTBOUND_ALLOWED_NETWORKS)."
            )
    return addresses


def check_url(url: str, *, resolve_host: bool = True) -> None:
    """Validate a URL a user entered: http(s), a host, and no refused address.

    A name that does not resolve (yet) is accepted here; it is checked again on every
    connection, which is what protects the server."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise OutboundRefused("This is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise OutboundRefused("Only http and https URLs can be called.")
    if not parts.hostname:
        raise OutboundRefused("The URL names no host.")
    if not resolve_host:
        return
    try:
        checked_addresses(parts.hostname, port)
    except OSError:
        return


# --- the pinned transport ----------------------------------------------------------------------
class _GuardedBackend(httpcore.SyncBackend):
    """Resolves and checks the host itself, then connects to the checked address."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = checked_addresses(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"could not resolve {host}") from exc
        last: Exception | None = None
        for ip in addresses:
            try:
                return super().connect_tcp(
                    str(ip),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise OutboundRefused("Unix sockets are never called.")


class GuardedTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose every TCP connection goes through :func:`checked_addresses`."""

    def __init__(self, **kwargs: Any):
        if kwargs.get("proxy") or kwargs.get("uds"):
            raise ValueError("a guarded transport connects directly (no proxy, no Unix socket)")
        super().__init__(**kwargs)
        pool = self._pool
        if not isinstance(pool, httpcore.ConnectionPool) or not hasattr(pool, "_network_backend"):
            raise RuntimeError("httpcore changed: cannot install the outbound guard")
        pool._network_backend = _GuardedBackend()


def client(**kwargs: Any) -> httpx.Client:
    """An ``httpx.Client`` for user-chosen URLs: guarded transport, no environment proxies,
    no redirects unless asked (each hop is checked anyway)."""
    kwargs.setdefault("follow_redirects", False)
    return httpx.Client(transport=GuardedTransport(), trust_env=False, **kwargs)
