"""Download one URL safely: conditional GET, manual redirects, address guard, size cap, charset.

Owns the HTTP rules (Retry-After, 304, redirect hops) and per-host politeness (`HostLimiter`).
"""

from __future__ import annotations

import asyncio
import codecs
import ipaddress
import math
import re
import socket
import ssl
import time
import urllib.robotparser
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from monitor.errors import BlockedURLError, FetchError, RetryLaterError, TooLargeError
from monitor.models import FetchPolicy, HttpResponse, Validators

HTML_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_ALLOWED_SCHEMES = frozenset({"http", "https"})
# Only what we can decompress under the cap ourselves (no brotli/zstd in the stdlib).
_ACCEPT_ENCODING = "gzip, deflate"


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    policy: FetchPolicy,
    validators: Validators | None = None,
    *,
    accept: str = HTML_ACCEPT,
) -> HttpResponse:
    """GET `url` under `policy`; a 304 gives `HttpResponse(not_modified=True)` with no body.

    Raises BlockedURLError (scheme or address refused, on any hop), TooLargeError (body over
    `policy.max_bytes` after decompression), FetchError (timeout, network, HTTP >= 400 with
    `status` and `retry_after_s`, too many redirects). The returned headers have lower-case
    names and describe the decoded body (no Content-Encoding / Content-Length).
    """
    headers = _request_headers(policy, validators, accept)
    current = url
    seen: set[str] = set()
    for _hop in range(policy.max_redirects + 1):
        seen.add(current)
        try:
            # A deadline per hop, name resolution included: a slow drip of bytes, each in time
            # for the per-phase timeout, still ends here.
            async with asyncio.timeout(policy.total_timeout_s):
                await check_url(current, policy)
                result = await _get_once(client, current, headers, policy)
        except TimeoutError:
            raise FetchError(
                f"timed out after {policy.total_timeout_s:g}s in all (fetch.total_timeout_s)",
                url=current,
            ) from None
        if isinstance(result, HttpResponse):
            return _with_origin(result, url)
        nxt = result
        if nxt in seen:
            raise FetchError(f"redirect loop back to {nxt}", url=url)
        current = nxt
    raise FetchError(f"more than {policy.max_redirects} redirects (last: {current})", url=url)


def _request_headers(
    policy: FetchPolicy, validators: Validators | None, accept: str
) -> dict[str, str]:
    headers = {
        "User-Agent": policy.user_agent,
        "Accept": accept,
        "Accept-Encoding": _ACCEPT_ENCODING,
    }
    if validators is not None:
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
    return headers


def _with_origin(response: HttpResponse, url: str) -> HttpResponse:
    return HttpResponse(
        url=url,
        final_url=response.final_url,
        status=response.status,
        headers=response.headers,
        body=response.body,
        not_modified=response.not_modified,
    )


async def _get_once(
    client: httpx.AsyncClient, url: str, headers: Mapping[str, str], policy: FetchPolicy
) -> HttpResponse | str:
    """One request: the finished response, or the absolute URL a redirect points to."""
    try:
        async with client.stream(
            "GET", url, headers=headers, follow_redirects=False, timeout=policy.timeout_s
        ) as response:
            status = response.status_code
            resp_headers = {k.lower(): v for k, v in response.headers.items()}
            if status in _REDIRECTS and "location" in resp_headers:
                return urljoin(url, resp_headers["location"].strip())
            if status == 304:
                return HttpResponse(url, url, status, resp_headers, b"", not_modified=True)
            if status >= 300:
                raise _status_error(url, status, response.reason_phrase, resp_headers)
            body = await read_capped(response, policy.max_bytes, url=url)
    except httpx.TimeoutException:
        raise FetchError(
            f"timed out after {policy.timeout_s:g}s (fetch.timeout_s)", url=url
        ) from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc or 'network error'}", url=url) from None
    for name in ("content-encoding", "content-length"):
        resp_headers.pop(name, None)
    return HttpResponse(url, url, status, resp_headers, body)


def _status_error(url: str, status: int, reason: str, headers: Mapping[str, str]) -> FetchError:
    retry_after = None
    if status in _RETRY_AFTER_STATUSES:
        retry_after = parse_retry_after(headers.get("retry-after"), now=_server_now(headers))
    hint = f"; retry after {retry_after:g}s" if retry_after is not None else ""
    return FetchError(
        f"HTTP {status} {reason}{hint}", url=url, status=status, retry_after_s=retry_after
    )


def _server_now(headers: Mapping[str, str]) -> datetime:
    # Measuring an HTTP-date Retry-After against the server's own Date avoids clock skew.
    date = _parse_http_date(headers.get("date"))
    return date if date is not None else datetime.now(UTC)


def _parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_MAX_AGE_RE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.I)
_NO_FRESHNESS_RE = re.compile(r"(?:^|,)\s*(?:no-cache|no-store)\b", re.I)


def freshness_s(headers: Mapping[str, str]) -> float | None:
    """Seconds the response says it stays fresh: Cache-Control max-age, else Expires - Date.

    None when the server says nothing usable (or no-cache/no-store: ask every time). Headers
    have lower-case names. Expires is measured against the server's own Date (no clock skew);
    an Expires in the past, or unparsable, gives 0 / None as RFC 9111 reads it.
    """
    control = headers.get("cache-control", "")
    if _NO_FRESHNESS_RE.search(control):
        return None
    match = _MAX_AGE_RE.search(control)
    if match:
        return float(match.group(1))
    expires = _parse_http_date(headers.get("expires"))
    if expires is None:
        return None
    return max(0.0, (expires - _server_now(headers)).total_seconds())


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date); None if unusable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        seconds = float(value)
    except ValueError:
        date = _parse_http_date(value)
        if date is None:
            return None
        return max(0.0, (date - now).total_seconds())
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


# --- body reading under the cap -------------------------------------------------------------


async def read_capped(response: httpx.Response, max_bytes: int, *, url: str) -> bytes:
    """Read the raw body and decompress it ourselves so the cap bounds the decompressed size."""
    encodings = _content_encodings(response.headers.get("content-encoding", ""), url)
    declared = response.headers.get("content-length", "")
    if not encodings and declared.isdigit() and int(declared) > max_bytes:
        raise TooLargeError(f"Content-Length {declared} exceeds {max_bytes} bytes", url=url)
    decoders = [_CappedDecoder(enc, max_bytes, url) for enc in reversed(encodings)]
    out = bytearray()
    async for raw in response.aiter_raw():
        _append(out, _run(decoders, raw), max_bytes, url)
    _append(out, _finish(decoders), max_bytes, url)
    return bytes(out)


def _append(out: bytearray, data: bytes, max_bytes: int, url: str) -> None:
    if len(out) + len(data) > max_bytes:
        raise TooLargeError(f"body exceeds {max_bytes} bytes (fetch.max_bytes)", url=url)
    out += data


def _run(decoders: list[_CappedDecoder], data: bytes) -> bytes:
    for decoder in decoders:
        data = decoder.feed(data)
    return data


def _finish(decoders: list[_CappedDecoder]) -> bytes:
    data = b""
    for decoder in decoders:
        data = decoder.feed(data) + decoder.flush()
    return data


def _content_encodings(header: str, url: str) -> list[str]:
    names = [part.strip().lower() for part in header.split(",") if part.strip()]
    names = [n for n in names if n != "identity"]
    for name in names:
        if name not in ("gzip", "x-gzip", "deflate"):
            raise FetchError(f"unsupported Content-Encoding {name!r}", url=url)
    return names


class _CappedDecoder:
    """Incremental gzip/deflate decoder that never produces more than `cap` bytes in total."""

    def __init__(self, encoding: str, cap: int, url: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._cap = cap
        self._url = url
        self._produced = 0
        self._first = True
        self._completed = 0
        self._ignoring = False
        self._obj = self._new()

    def _new(self) -> zlib._Decompress:
        return zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        while data and not self._ignoring:
            if self._obj.eof:  # concatenated gzip members: start over on what is left
                self._obj = self._new()
                self._completed += 1
            chunk = self._decompress(data)
            self._produced += len(chunk)
            if self._produced > self._cap:
                raise TooLargeError(
                    f"decompressed body exceeds {self._cap} bytes (fetch.max_bytes)", url=self._url
                )
            out += chunk
            data = self._obj.unused_data if self._obj.eof else self._obj.unconsumed_tail
        return bytes(out)

    def _decompress(self, data: bytes) -> bytes:
        try:
            chunk = self._obj.decompress(data, self._cap - self._produced + 1)
        except zlib.error:
            if self._completed:
                self._ignoring = True  # garbage after a complete stream: tolerated, like browsers
                return b""
            if self._first and not self._gzip:
                # Some servers send raw deflate without the zlib wrapper.
                self._first = False
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                return self._decompress(data)
            raise FetchError("corrupt compressed body", url=self._url) from None
        self._first = False
        return chunk

    def flush(self) -> bytes:
        if self._ignoring:
            return b""
        try:
            return self._obj.flush(self._cap - self._produced + 1)
        except zlib.error:
            raise FetchError("corrupt compressed body", url=self._url) from None


# --- the address guard -----------------------------------------------------------------------


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


# --- robots.txt ------------------------------------------------------------------------------


def robots_url(url: str) -> str:
    """Where the robots.txt governing `url` lives."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/robots.txt"


MAX_CRAWL_DELAY_S = 60.0  # a longer Crawl-delay is honoured as this (see HostLimiter.ask_delay)
MAX_RETRY_AFTER_S = 24 * 3600.0  # a longer Retry-After is honoured as this (HostLimiter.hold)


class RobotsRules:
    """One robots.txt, parsed once (a large file costs milliseconds per parse)."""

    def __init__(self, robots_txt: str) -> None:
        self._parser = urllib.robotparser.RobotFileParser()
        self._parser.parse(robots_txt.splitlines())

    def allows(self, url: str, user_agent: str) -> bool:
        """Does the file let `user_agent` (its product token) fetch `url`?"""
        return self._parser.can_fetch(_product_token(user_agent), url)

    def crawl_delay(self, user_agent: str) -> float | None:
        """The Crawl-delay it asks of `user_agent`, in seconds, if any."""
        delay = self._parser.crawl_delay(_product_token(user_agent))
        return float(delay) if delay is not None else None


def robots_allows(robots_txt: str, url: str, user_agent: str) -> bool:
    """True if `robots_txt` (the file's text; "" when absent or 4xx) lets `user_agent` get `url`.

    Matching uses the product token of the User-Agent ("monitor" for "monitor/0.1 (+...)").
    """
    return RobotsRules(robots_txt).allows(url, user_agent)


def robots_crawl_delay(robots_txt: str, user_agent: str) -> float | None:
    """The Crawl-delay robots.txt asks of `user_agent`, in seconds, if any."""
    return RobotsRules(robots_txt).crawl_delay(user_agent)


def _product_token(user_agent: str) -> str:
    return user_agent.split("/", 1)[0].split(" ", 1)[0] or "*"


ROBOTS_MAX_BYTES = 512_000  # RFC 9309: crawlers must parse at least 500 KiB
ROBOTS_TTL_S = 24 * 3600.0  # RFC 9309: a cached robots.txt should not be used past 24 h
_ROBOTS_UNREACHABLE = None  # sentinel text: the server failed, so assume "disallow all"


class RobotsCache:
    """robots.txt per host (scheme://host:port), fetched once and kept for `ttl_s`.

        robots = RobotsCache(policy)
        if not await robots.allows(client, url, user_agent):
            ...  # BlockedURLError, fall back to the feed's text

    RFC 9309 reading: 2xx = the rules; 4xx (and a missing file) = allow everything; 5xx, a
    timeout or a network error = disallow everything until the next try, which comes after
    `retry_s` rather than `ttl_s`. Concurrent pages of one host wait on a single download.
    One cache may serve many cycles (event loops). `clock` is injectable (monotonic seconds).
    """

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        ttl_s: float = ROBOTS_TTL_S,
        retry_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._policy = FetchPolicy(
            **{**policy.__dict__, "max_bytes": min(policy.max_bytes, ROBOTS_MAX_BYTES)}
        )
        self._ttl_s = ttl_s
        self._retry_s = retry_s
        self._clock = clock
        self._rules: dict[str, tuple[float, RobotsRules | None]] = {}  # URL -> (expiry, rules)
        self._locks: dict[str, asyncio.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def allows(self, client: httpx.AsyncClient, url: str, user_agent: str) -> bool:
        """True if the robots.txt of `url`'s host lets `user_agent` fetch it."""
        rules = await self.rules_for(client, url)
        return rules is not None and rules.allows(url, user_agent)

    async def rules_for(self, client: httpx.AsyncClient, url: str) -> RobotsRules | None:
        """The host's robots.txt for `url`, parsed once per download (an empty file when it
        is absent or 4xx); None while the server is unreachable: assume disallowed."""
        key = robots_url(url)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # kept across cycles: each asyncio.run has its own loop
            self._loop, self._locks = loop, {}
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._rules.get(key)
            if cached is not None and cached[0] > self._clock():
                return cached[1]
            text = await self._download(client, key)
            rules = None if text is _ROBOTS_UNREACHABLE else RobotsRules(text)
            keep = self._retry_s if rules is None else self._ttl_s
            self._rules[key] = (self._clock() + keep, rules)
            return rules

    async def _download(self, client: httpx.AsyncClient, robots: str) -> str | None:
        try:
            resp = await fetch(client, robots, self._policy, accept="text/plain, */*;q=0.5")
        except TooLargeError:
            return ""  # an absurd robots.txt: treat as absent rather than block the host
        except FetchError as exc:
            status = getattr(exc, "status", None)
            if status is not None and 400 <= status < 500 and status != 429:
                return ""
            return _ROBOTS_UNREACHABLE
        return decode_html(resp.body, resp.headers.get("content-type"))


# --- politeness ----------------------------------------------------------------------------


class HostLimiter:
    """At most `policy.per_host` requests per host and `policy.concurrency` overall, with
    `policy.per_host_delay_s` (or the host's robots.txt Crawl-delay, when longer: see
    `ask_delay`) between request starts to the same host.

        limiter = HostLimiter(policy)
        async with limiter.slot(url):
            response = await fetch(client, url, policy)

    `clock` and `sleep` are injectable so tests need not wait on the wall clock.
    """

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._per_host = max(1, policy.per_host)
        self._delay = max(0.0, policy.per_host_delay_s)
        self._global = asyncio.Semaphore(max(1, policy.concurrency))
        self._clock = clock
        self._sleep = sleep
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}
        self._last_start: dict[str, float] = {}  # host -> start of its latest request
        self._asked: dict[str, float] = {}  # host -> delay it asked for (robots Crawl-delay)
        self._held: dict[str, float] = {}  # host -> when its Retry-After ends (clock time)

    def ask_delay(self, url: str, seconds: float) -> None:
        """Space this host's request starts by `seconds` (capped at MAX_CRAWL_DELAY_S) when
        that is longer than `per_host_delay_s`: a robots.txt Crawl-delay. Requests already
        started are not held back; the next ones are."""
        self._asked[host_key(url)] = min(max(0.0, seconds), MAX_CRAWL_DELAY_S)

    def hold(self, url: str, seconds: float) -> None:
        """The host answered 429/503 with Retry-After `seconds` (capped at MAX_RETRY_AFTER_S):
        `held` reports it until then, so the host's other pages wait for a later pass instead
        of being requested now."""
        until = self._clock() + min(max(0.0, seconds), MAX_RETRY_AFTER_S)
        host = host_key(url)
        self._held[host] = max(until, self._held.get(host, until))

    def held(self, url: str) -> float | None:
        """Seconds left of this host's Retry-After, or None when it is not held."""
        until = self._held.get(host_key(url))
        left = None if until is None else until - self._clock()
        return left if left is not None and left > 0 else None

    def _raise_if_held(self, url: str) -> None:
        """Raise RetryLaterError, without a request, while the host's Retry-After lasts."""
        left = self.held(url)
        if left is not None:
            raise RetryLaterError(
                f"not requested: the host asked to wait (Retry-After), {left:.0f}s left;"
                " retried after that",
                url=url,
                retry_after_s=left,
            )

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        self._raise_if_held(url)  # held: no queueing behind the host's other pages
        host = host_key(url)
        semaphore = self._hosts.setdefault(host, asyncio.Semaphore(self._per_host))
        self._users[host] = self._users.get(host, 0) + 1
        try:
            async with semaphore:
                self._raise_if_held(url)  # held while this page waited: skip the spacing
                await self._space_out(host)
                async with self._global:
                    yield
        finally:
            self._release(host)

    def _delay_for(self, host: str) -> float:
        return max(self._delay, self._asked.get(host, 0.0))

    async def _space_out(self, host: str) -> None:
        now = self._clock()
        last = self._last_start.get(host)
        start = now if last is None else max(now, last + self._delay_for(host))
        self._last_start[host] = start  # reserved before awaiting: race-free
        if start > now:
            await self._sleep(start - now)

    def _release(self, host: str) -> None:
        self._users[host] -= 1
        if self._users[host] == 0:
            # Forget idle hosts so a long-running daemon does not grow without bound; keep the
            # spacing record while it still matters.
            del self._users[host], self._hosts[host]
            last = self._last_start.get(host)
            if last is not None and last + self._delay_for(host) <= self._clock():
                del self._last_start[host]


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


class _TrackedStream(httpx.AsyncByteStream):
    """A response body that calls `done` once when it is closed."""

    def __init__(
        self, stream: httpx.SyncByteStream | httpx.AsyncByteStream, done: Callable[[], None]
    ):
        assert isinstance(stream, httpx.AsyncByteStream)
        self._stream = stream
        self._done: Callable[[], None] | None = done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            done, self._done = self._done, None
            if done is not None:
                done()


class PerOriginTransport(httpx.AsyncBaseTransport):
    """One connection pool per origin (scheme, host, port), made by `make` on first use.

    httpcore's pool looks at every connection it holds — a socket poll for each idle one —
    whenever a request starts or ends, so one pool over many hosts costs O(connections) per
    request (a quarter of the fetching thread's CPU with 16 hosts); per origin, the few
    connections `fetch.per_host` allows. `make` should share one SSL context between pools.
    """

    def __init__(
        self, make: Callable[[], httpx.AsyncBaseTransport], *, max_idle_pools: int = 64
    ) -> None:
        self._make = make
        self._max_idle = max_idle_pools
        # origin -> pool, least recently used first; and the requests each has in flight
        self._pools: dict[tuple[str, str, int | None], httpx.AsyncBaseTransport] = {}
        self._busy: dict[tuple[str, str, int | None], int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        key = (url.scheme, url.host, url.port)
        pool = self._pools.pop(key, None)
        if pool is None:
            pool = self._make()
            await self._close_idle()
        self._pools[key] = pool  # now the most recently used
        self._busy[key] = self._busy.get(key, 0) + 1

        def done() -> None:  # the response closed: the pool may be closed once idle
            if key in self._busy:
                self._busy[key] -= 1

        try:
            response = await pool.handle_async_request(request)
        except BaseException:
            done()
            raise
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_TrackedStream(response.stream, done),
            extensions=response.extensions,
        )

    async def _close_idle(self) -> None:
        """Close the least recently used pools with nothing in flight beyond
        `max_idle_pools`: a pass over thousands of hosts keeps no socket per host."""
        idle = [k for k in self._pools if not self._busy.get(k)]
        for key in idle[: max(0, len(idle) - self._max_idle)]:
            pool = self._pools.pop(key)
            self._busy.pop(key, None)
            await pool.aclose()

    @property
    def pools(self) -> int:
        return len(self._pools)

    async def aclose(self) -> None:
        pools, self._pools, self._busy = list(self._pools.values()), {}, {}
        errors = []
        for pool in pools:  # every pool, even after one fails to close
            try:
                await pool.aclose()
            except Exception as exc:  # re-raised below, after the rest are closed
                errors.append(exc)
        if errors:
            raise errors[0]


def host_key(url: str) -> str:
    """The politeness key of a URL: its lower-case host name."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


# --- charset ---------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CHARSET_RE = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9_:.+-]+)""", re.I)
_META_RE = re.compile(rb"<meta\b[^>]*?>", re.I | re.S)
_XML_DECL_RE = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_:.+-]+)""", re.I)
# WHATWG: these labels mean windows-1252; a meta "utf-16" in an ASCII prescan means utf-8.
_LATIN = frozenset({"latin_1", "iso8859-1", "ascii", "cp1252"})


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode an HTML page: BOM, then HTTP charset, then <meta>/XML declaration, then UTF-8,
    then windows-1252. Unknown labels are skipped; a single-byte label on a body that is valid
    non-ASCII UTF-8 is taken as the lie it usually is. Never raises on bad bytes."""
    for bom, bom_encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(bom_encoding, errors="replace")
    for label in (_http_charset(content_type), _meta_charset(body[:4096])):
        encoding = _codec(label)
        if encoding is None:
            continue
        if encoding in _LATIN:
            return body.decode("utf-8" if _is_utf8_non_ascii(body) else "cp1252", errors="replace")
        try:
            return body.decode(encoding)
        except UnicodeDecodeError:
            # The label lied: valid UTF-8 is almost never an accident, else keep the label.
            return body.decode("utf-8" if _is_utf8(body) else encoding, errors="replace")
    if _is_utf8(body):
        return body.decode("utf-8")
    return body.decode("cp1252", errors="replace")


def _http_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = _CHARSET_RE.search(content_type.encode("latin-1", errors="replace"))
    return match.group(1).decode("ascii") if match else None


def _meta_charset(head: bytes) -> str | None:
    match = _XML_DECL_RE.search(head)
    if match:
        return match.group(1).decode("ascii")
    for meta in _META_RE.finditer(head):
        found = _CHARSET_RE.search(meta.group(0))
        if found:
            label = found.group(1).decode("ascii")
            return "utf-8" if label.lower().startswith("utf-16") else label
    return None


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        info = codecs.lookup(label.strip().lower())
    except LookupError:
        return None
    # Refuse bytes-to-bytes codecs such as base64 or hex that codecs.lookup also knows.
    return info.name if getattr(info, "_is_text_encoding", True) else None


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_utf8_non_ascii(body: bytes) -> bool:
    return not body.isascii() and _is_utf8(body)
