"""Download one URL safely; callers use the names re-exported here (`fetch.fetch`, ...).

`transport` (the request, redirects, caching headers, pools), `guard` (which addresses may
be reached), `decoding` (size cap, gzip, charset), `robots` and `politeness` (per host).
"""

import sys
import types

from monitor.pipeline.fetch import decoding, guard, politeness, robots, transport
from monitor.pipeline.fetch.decoding import decode_html, read_capped
from monitor.pipeline.fetch.guard import (
    GuardedBackend,
    check_url,
    guarded_transport,
    is_public_address,
)
from monitor.pipeline.fetch.guard import _resolve as _resolve  # tests replace it
from monitor.pipeline.fetch.politeness import (
    MAX_CRAWL_DELAY_S,
    MAX_RETRY_AFTER_S,
    HostLimiter,
    host_key,
)
from monitor.pipeline.fetch.robots import (
    ROBOTS_MAX_BYTES,
    ROBOTS_TTL_S,
    RobotsCache,
    RobotsRules,
    robots_allows,
    robots_crawl_delay,
    robots_url,
)
from monitor.pipeline.fetch.transport import (
    FEED_ACCEPT,
    HTML_ACCEPT,
    PerOriginTransport,
    fetch,
    freshness_s,
    parse_retry_after,
)

__all__ = [
    "FEED_ACCEPT",
    "HTML_ACCEPT",
    "MAX_CRAWL_DELAY_S",
    "MAX_RETRY_AFTER_S",
    "ROBOTS_MAX_BYTES",
    "ROBOTS_TTL_S",
    "GuardedBackend",
    "HostLimiter",
    "PerOriginTransport",
    "RobotsCache",
    "RobotsRules",
    "check_url",
    "decode_html",
    "fetch",
    "freshness_s",
    "guarded_transport",
    "host_key",
    "is_public_address",
    "parse_retry_after",
    "read_capped",
    "robots_allows",
    "robots_crawl_delay",
    "robots_url",
]

_SUBMODULES = (decoding, guard, politeness, robots, transport)
_UNSET = object()


class _OneNamespace(types.ModuleType):
    """Replacing a name on the package (monkeypatch.setattr(fetch, "check_url", ...)) replaces
    it in every submodule that uses it, as when the package was one module."""

    def __setattr__(self, name: str, value: object) -> None:
        old = self.__dict__.get(name, _UNSET)
        super().__setattr__(name, value)
        if old is _UNSET:
            return
        for module in _SUBMODULES:
            if module.__dict__.get(name, _UNSET) is old:
                setattr(module, name, value)


sys.modules[__name__].__class__ = _OneNamespace
