"""robots.txt: where it lives, its rules parsed once (`RobotsRules`), and the per-host cache
that downloads it and reads a missing or failing file as RFC 9309 says (`RobotsCache`).
"""

from __future__ import annotations

import asyncio
import time
import urllib.robotparser
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from monitor.errors import FetchError, TooLargeError
from monitor.models import FetchPolicy
from monitor.pipeline.fetch.decoding import decode_html
from monitor.pipeline.fetch.transport import fetch


def robots_url(url: str) -> str:
    """Where the robots.txt governing `url` lives."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/robots.txt"


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
