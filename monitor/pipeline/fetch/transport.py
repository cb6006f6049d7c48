"""The request: conditional GET, manual redirects under a deadline, HTTP errors with their
Retry-After, freshness from caching headers, and one connection pool per origin.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpx

from monitor.errors import BlockedURLError, FetchError
from monitor.models import FetchPolicy, HttpResponse, Validators
from monitor.pipeline.bounds import MAX_URL_CHARS
from monitor.pipeline.fetch.decoding import read_capped
from monitor.pipeline.fetch.guard import check_url

HTML_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRY_AFTER_STATUSES = frozenset({429, 503})
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
                return _redirect_target(url, resp_headers["location"])
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
    except httpx.InvalidURL as exc:
        # httpx builds the request a redirect points to even when it does not follow it, and
        # refuses a Location that is not a web address (javascript:, mailto:, data: ...).
        raise BlockedURLError(f"unusable redirect or address ({exc})", url=url) from None
    for name in ("content-encoding", "content-length"):
        resp_headers.pop(name, None)
    return HttpResponse(url, url, status, resp_headers, body)


def _redirect_target(url: str, location: str) -> str:
    """The absolute URL a redirect's Location points to; FetchError when it is none."""
    try:
        target = urljoin(url, location.strip())
        urlsplit(target).port  # noqa: B018 - raises on a malformed authority
    except ValueError as exc:
        raise BlockedURLError(f"redirect to a malformed address ({exc})", url=url) from None
    if len(target) > MAX_URL_CHARS:
        raise BlockedURLError(f"redirect to an address of {len(target):,} characters", url=url)
    return target


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
