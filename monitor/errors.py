"""The one exception tree of `monitor`; every error a user can meet derives from MonitorError.

MonitorError
├── ConfigError            bad config file or entry (carries file:line)
├── StorageError           database unreachable or migration failed
│   └── DatabaseBusyError  another monitor process holds the database's writer lock
├── StageError             a stage failed on one unit of work (one source, one page)
│   ├── FetchError         HTTP or network failure for one URL
│   │   ├── BlockedURLError    scheme, private address or robots.txt refused the URL
│   │   └── TooLargeError      body exceeded fetch.max_bytes (after decompression)
│   ├── FeedError          a feed could not be parsed at all
│   └── ExtractError       a page gave no usable text
├── QueryError             a watchlist query does not parse (carries the column)
└── DeliveryError          a digest could not be rendered or sent
    ├── TemporaryDeliveryError   SMTP 4xx, timeout, refused connection: retry later
    └── PermanentDeliveryError   SMTP 5xx: give up and record the server's reply
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error `monitor` raises on purpose."""


class ConfigError(MonitorError):
    """A config file or entry is invalid; `str()` is `file:line: message` where known."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}: {self.message}"
        if self.file:
            return f"{self.file}: {self.message}"
        return self.message


class StorageError(MonitorError):
    """The database could not be opened, migrated or written."""


class StageError(MonitorError):
    """One unit of work (a source, a page) failed in a stage; the rest of the batch goes on."""


class FetchError(StageError):
    """An HTTP request failed; `url` names it, `status` is the HTTP status when there was one."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        self.url = url
        self.status = status
        self.retry_after_s = retry_after_s
        super().__init__(f"{url}: {message}")


class BlockedURLError(FetchError):
    """The URL was refused before any request: bad scheme, private address, or robots.txt."""


class RetryLaterError(FetchError):
    """Not requested: the host answered an earlier request with 429/503 and a Retry-After
    that has not passed yet (`retry_after_s` is what is left of it)."""


class TooLargeError(FetchError):
    """The response body (decompressed) exceeded the configured cap."""


class FeedError(StageError):
    """A feed document could not be parsed into entries at all."""


class ExtractError(StageError):
    """No usable text could be extracted from a page."""


class QueryError(MonitorError):
    """A watchlist query is malformed; `column` is 1-based within the query text."""

    def __init__(self, message: str, *, query: str, column: int | None = None) -> None:
        self.query = query
        self.column = column
        where = f" at column {column}" if column else ""
        shown = query if len(query) <= 200 else query[:200] + "…"  # a 990-NEAR chain is 9 KB
        super().__init__(f"{message}{where} in query {shown!r}")


class DeliveryError(MonitorError):
    """A digest or alert could not be rendered or delivered."""


class TemporaryDeliveryError(DeliveryError):
    """Delivery failed for a passing reason (SMTP 4xx, timeout, refused): retry with back-off."""


class PermanentDeliveryError(DeliveryError):
    """Delivery was refused for good (SMTP 5xx); the server's reply is the message."""


class DatabaseBusyError(StorageError):
    """Another monitor process holds the database's writer lock; the message names it (pid,
    host, since when, command) and says what to do."""
