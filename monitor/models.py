"""Frozen values passed between stages; no ORM rows ever leave `monitor.storage`.

Stage modules take and return these; the runner maps them to and from storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

# --- entities and tagging -------------------------------------------------------------


@dataclass(frozen=True)
class Affiliation:
    """A stated relation from one entity to another: `relation` e.g. member_of, backed_by."""

    relation: str
    target: str


@dataclass(frozen=True)
class Entity:
    """One actor of the curated list (`config/entities.yaml`).

    `aliases` match case-insensitively after normalisation; `acronyms` match case-sensitively
    as whole words; `ambiguous` aliases count only when the entity was already named by a
    non-ambiguous alias earlier in the same text, or a `context` word stands near them.
    """

    id: str
    name: str
    type: str
    aliases: tuple[str, ...] = ()
    acronyms: tuple[str, ...] = ()
    ambiguous: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    affiliations: tuple[Affiliation, ...] = ()
    notes: str = ""


@dataclass(frozen=True)
class Mention:
    """Where an entity was found: offsets into the original text and the surface form there."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class EntityHit:
    """All mentions of one entity in one text."""

    id: str
    name: str
    type: str
    count: int
    mentions: tuple[Mention, ...]


# --- fetching and feeds ---------------------------------------------------------------


@dataclass(frozen=True)
class FetchPolicy:
    """How politely and safely to download (built from the `fetch:` config section)."""

    user_agent: str = "monitor/0.1 (+https://github.com/monitor-news/monitor)"
    timeout_s: float = 20.0  # each phase: connect, every read, write, waiting for a connection
    total_timeout_s: float = 120.0  # one request hop, name resolution to the body's last byte
    max_bytes: int = 10_000_000
    concurrency: int = 16
    per_host: int = 2
    per_host_delay_s: float = 0.0
    max_redirects: int = 5
    allow_private_networks: bool = False


@dataclass(frozen=True)
class Validators:
    """HTTP cache validators remembered for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class HttpResponse:
    """A completed download. `not_modified` is True for a 304 (then `body` is empty)."""

    url: str
    final_url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    not_modified: bool = False

    @property
    def validators(self) -> Validators:
        return Validators(self.headers.get("etag"), self.headers.get("last-modified"))


@dataclass(frozen=True)
class FeedEntry:
    """One entry of a parsed feed, links already absolute and allow-listed (http/https)."""

    url: str
    guid: str | None
    title: str
    summary: str = ""
    content_html: str = ""
    published_at: datetime | None = None
    author: str | None = None


@dataclass(frozen=True)
class ParsedFeed:
    """A feed document turned into entries; `warning` is set when the feed was ill-formed."""

    title: str
    entries: tuple[FeedEntry, ...]
    warning: str | None = None
    ttl_minutes: int | None = None


@dataclass(frozen=True)
class ExtractedText:
    """Clean text of a page and its metadata; `method` names the extractor that won."""

    title: str
    text: str
    method: str
    published_at: datetime | None = None
    author: str | None = None
    language: str | None = None
    site_name: str | None = None
    canonical_url: str | None = None


# --- matching -------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchDoc:
    """What a watchlist query sees of an article."""

    title: str
    text: str
    source: str
    entity_ids: frozenset[str] = frozenset()
    entity_types: frozenset[str] = frozenset()


@dataclass(frozen=True)
class QueryMatch:
    """A successful match; `terms` are the surface words/phrases that satisfied it."""

    terms: tuple[str, ...]


# --- delivery -------------------------------------------------------------------------


@dataclass(frozen=True)
class ActorChip:
    id: str
    name: str
    type: str
    count: int


@dataclass(frozen=True)
class OtherReport:
    """One more matched report of a story: its outlet, headline, link and times; `copy` when
    it is a syndicated copy or excerpt of another article."""

    source: str
    url: str
    title: str
    published_at: datetime | None = None
    matched_at: datetime | None = None
    copy: bool = False


@dataclass(frozen=True)
class MatchedPart:
    """What of a query an item satisfied: a `word` as written, an `entity` (its id and name),
    or an entity `type` with the names of the entities of that type that were found."""

    kind: str
    term: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class DigestArticle:
    """One story of a digest: its face (the earliest original among the period's matched
    reports) and the other matched reports of the period in `also_reported_by`.

    `status` is "new", or "update" when the story had reports in an earlier delivered digest
    of the watchlist (`earlier_reports` of them).
    """

    url: str
    title: str
    source: str
    published_at: datetime | None
    matched_at: datetime
    snippet: str
    actors: tuple[ActorChip, ...] = ()
    matched_terms: tuple[str, ...] = ()
    also_reported_by: tuple[OtherReport, ...] = ()
    story_id: int | None = None
    status: str = "new"
    earlier_reports: int = 0
    matched_on: tuple[MatchedPart, ...] = ()


@dataclass(frozen=True)
class SourceHealth:
    name: str
    url: str
    error_count: int
    last_error: str | None
    next_check_at: datetime | None


@dataclass(frozen=True)
class ActorTrend:
    """One actor in a digest's actor table: matched articles in the period vs the week before.

    Counted by publication date: `baseline` is the expected count for a period of this length,
    from the 7 days before it (None: less than a week of history); `daily` holds the actor's
    matched articles per day for the 14 days ending at period end (oldest first), for the chart.
    """

    id: str
    name: str
    type: str
    articles: int
    baseline: float | None
    rising: bool
    daily: tuple[int, ...] = ()


@dataclass(frozen=True)
class UndeliveredDigest:
    """An earlier digest of the watchlist that failed for good (until `--resend`)."""

    period_start: datetime
    period_end: datetime
    error: str


@dataclass(frozen=True)
class DigestContent:
    """Everything a digest (`kind` "digest") or an alert mail (`kind` "alert", `query` the
    alert query) shows, built from storage by delivery, rendered by delivery.

    `total_stories` and `total_reports` count every story and matched report of the period
    (`articles` may be cut at the watchlist's max_articles).
    """

    watchlist: str
    query: str
    period_start: datetime
    period_end: datetime
    timezone: str
    articles: tuple[DigestArticle, ...]
    failing_sources: tuple[SourceHealth, ...] = ()
    generated_at: datetime | None = None
    actor_trends: tuple[ActorTrend, ...] = ()
    total_reports: int = 0
    total_stories: int = 0
    kind: str = "digest"
    undelivered: tuple[UndeliveredDigest, ...] = ()


@dataclass(frozen=True)
class RenderedDigest:
    subject: str
    text: str
    html: str
    extra: Mapping[str, str] = field(default_factory=dict)
    # Content-ID (no angle brackets) -> PNG bytes, referenced from `html` as "cid:<id>".
    images: Mapping[str, bytes] = field(default_factory=dict)
