"""Per-host politeness: how many requests at once, how far apart their starts, and which
hosts asked us to wait (Retry-After, robots.txt Crawl-delay) — `HostLimiter`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from monitor.errors import RetryLaterError
from monitor.models import FetchPolicy

MAX_CRAWL_DELAY_S = 60.0  # a longer Crawl-delay is honoured as this (see HostLimiter.ask_delay)
MAX_RETRY_AFTER_S = 24 * 3600.0  # a longer Retry-After is honoured as this (HostLimiter.hold)


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


def host_key(url: str) -> str:
    """The politeness key of a URL: its lower-case host name."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
