"""The runner's inputs and reports: the injected Context, source/watchlist specs, counts.

Built by the composition root (or a test); every runner step takes the Context.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import httpx

from monitor.models import KEEP_HTML_DAYS, FetchPolicy
from monitor.pipeline import dedup, fetch
from monitor.pipeline.match import Query
from monitor.pipeline.tag import Tagger
from monitor.storage.engine import Database

log = logging.getLogger("monitor.runner")
MAX_PAGE_ATTEMPTS = 3


def describe(exc: BaseException) -> str:
    """An unexpected exception as one line for an item's error and the log: its type, its
    message and where it was raised (the traceback itself is logged at debug level)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


@dataclass(frozen=True)
class SourceSpec:
    """What the runner needs of a configured source."""

    name: str
    url: str
    interval: timedelta
    user_agent: str | None = None
    adaptive: bool = True  # the interval follows how often the source publishes


@dataclass(frozen=True)
class WatchlistSpec:
    """A watchlist's compiled query, the sources it covers (None = all) and its alert query."""

    name: str
    query: Query
    sources: frozenset[str] | None = None
    alert: Query | None = None


@dataclass
class Context:
    """Everything the runner needs, injected by the composition root (or a test)."""

    db: Database
    sources: Sequence[SourceSpec]
    watchlists: Sequence[WatchlistSpec]
    tagger: Tagger
    entity_rows: Sequence[tuple[str, str, str]]
    policy: FetchPolicy
    clock: Callable[[], datetime]
    http_client: Callable[[], httpx.AsyncClient]
    executor: Executor | None = None
    progress: Callable[[str], None] = field(default=lambda _msg: None)
    keep_html: bool = True
    keep_html_days: int = KEEP_HTML_DAYS  # raw HTML older than this is dropped by `process`
    robots: fetch.RobotsCache | None = None  # None: robots.txt not consulted for pages
    dedup: dedup.DedupParams = field(default_factory=dedup.DedupParams)

    def policy_for(self, user_agent: str | None) -> FetchPolicy:
        """The fetch policy of a source: its own User-Agent (sources[].user_agent), if any,
        for its feed, its pages and the robots.txt rules read for them."""
        return replace(self.policy, user_agent=user_agent) if user_agent else self.policy


@dataclass
class PollReport:
    polled: int = 0
    not_modified: int = 0
    new_articles: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)


@dataclass
class ProcessReport:
    processed: int = 0
    duplicates: int = 0
    matched: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    retrying: int = 0

    def add(self, part: ProcessReport) -> None:
        """Count in what `part` (a batch stored apart) did."""
        self.processed += part.processed
        self.duplicates += part.duplicates
        self.matched += part.matched
        self.retrying += part.retrying
        self.failed |= part.failed
