"""The address guard: only http(s) URLs, and only to public addresses unless allowed.

Checked before each request (`check_url`) and again at connection time (`GuardedBackend`),
so a DNS answer that changes in between cannot reach a private network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import httpcore
import httpx

from monitor.errors import BlockedURLError, FetchError
from monitor.models import FetchPolicy

_ALLOWED_SCHEMES = frozenset({"http", "https"})


async def check_url(url: str, policy: FetchPolicy) -> None:
    """Refuse non-http(s) URLs and, unless allowed, hosts resolving to non-public addresses.

    The check resolves the name itself and gives a clear BlockedURLError early; the HTTP
    client resolves again when it connects, so against a DNS answer that changes in between
    (rebinding) the connections go through `GuardedBackend`, which checks the addresses it
    connects to (`guarded_transport`).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BlockedURLError(f"malformed URL ({exc})", url=url) from None
    if parts.scheme.lower() not in _ALLOWED_SCHEMES:
        raise BlockedURLError(f"scheme {parts.scheme!r} not allowed (http/https only)", url=url)
    host = parts.hostname
    if not host:
        raise BlockedURLError("URL has no host", url=url)
    if policy.allow_private_networks:
        return
    for address in await _resolve(host, port or (443 if parts.scheme == "https" else 80), url):
        if not is_public_address(address):
            raise BlockedURLError(
                f"host {host} resolves to non-public address {address} "
                "(set fetch.allow_private_networks to allow it)",
                url=url,
            )


async def _resolve(host: str, port: int, url: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"cannot resolve host {host} ({exc})", url=url) from None
    return [str(info[4][0]).split("%", 1)[0] for info in infos]


def is_public_address(address: str) -> bool:
    """True for globally routable unicast addresses (not loopback/private/link-local/...)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            ip = mapped
    # is_global is False for private, loopback, link-local (incl. 169.254.169.254 metadata),
    # reserved, unspecified, shared (100.64/10) and documentation ranges.
    return ip.is_global and not ip.is_multicast


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses `allowed` (public ones), and to the very addresses it
    checked: the name is resolved here once, then the connection goes to a checked address,
    so a DNS answer that changes after `check_url` (rebinding) cannot reach a private one.
    TLS still verifies the certificate against the name (httpcore passes it as SNI)."""

    def __init__(
        self,
        *,
        resolve: Callable[[str, int], Awaitable[list[str]]] | None = None,
        allowed: Callable[[str], bool] | None = None,
    ) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._resolve = resolve or _addresses
        self._allowed = allowed or is_public_address

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port)
        refused = [a for a in addresses if not self._allowed(a)]
        if refused or not addresses:
            where = f"non-public address {refused[0]}" if refused else "no address"
            raise httpcore.ConnectError(f"host {host} resolves to {where} at connection time")
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc  # the next address (IPv6 unreachable, IPv4 fine: a common case)
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched from")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


async def _addresses(host: str, port: int) -> list[str]:
    try:
        return await _resolve(host, port, host)
    except FetchError as exc:
        raise httpcore.ConnectError(str(exc)) from None


def guarded_transport(
    ssl_context: ssl.SSLContext, limits: httpx.Limits, backend: httpcore.AsyncNetworkBackend
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections go through `backend` (a `GuardedBackend`).
    httpx takes no network backend, so its connection pool is replaced by one built the same
    way with the backend (tests/test_fetch.py checks that the replacement is used)."""
    transport = httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=backend,
    )
    return transport
