"""Frozen values passed between stages; no ORM rows ever leave `monitor.storage`.

Stage modules take and return these; the runner maps them to and from storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

# --- entities and tagging -------------------------------------------------------------


# Defaults the settings (monitor.config) and the runtime both need, declared once: here,
# where both can import them without loading the other.
KEEP_HTML_DAYS: Final = 30  # fetch.keep_html_days
SMTP_PORT: Final = 25  # smtp.port
SMTP_SECURITY: Final = "none"  # smtp.security
SMTP_TIMEOUT_S: Final = 30.0  # smtp.timeout_s
DIGEST_SKIP_EMPTY: Final = False  # watchlists[].digest.skip_empty
DIGEST_MAX_ARTICLES: Final = 100  # watchlists[].digest.max_articles


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


@dataclass(frozen=True)
class SourceState:
    """A source's stored fetch state: what the next poll is decided from, and what a poll
    sets again (`dataclasses.replace` of the state read before it)."""

    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    last_status: int | None = None
    last_error: str | None = None
    warning: str | None = None
    error_count: int = 0
    next_check_at: datetime | None = None
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    items_seen: int = 0
    poll_interval_s: int | None = None  # learned from how often the source publishes
    feed_ttl_s: int | None = None  # its feed's <ttl>


@dataclass(frozen=True)
class LinkSubject:
    """What duplicate and story linking needs of an article being stored (plain values)."""

    id: int
    url: str
    canonical_url: str
    guid: str | None
    title: str
    text: str
    text_hash: str | None
    at: datetime  # published, or else discovered
    page_canonical_url: str | None = None  # its page's own canonical link, if different


@dataclass(frozen=True)
class DedupCandidate:
    """A stored article a lookup found: the same page or text (`same`), or one sharing an
    LSH bucket, with its sketch (shingle count and bytes) when it has one."""

    id: int
    text_hash: str | None
    duplicate_of_id: int | None
    story_id: int | None
    at: datetime  # published, or else discovered
    same: bool
    shingles: int | None = None
    sketch: bytes | None = None


@dataclass(frozen=True, order=True)
class GroupHead:
    """A duplicate group's original, ordered as originals are: earliest published, then by
    canonical URL (the same way in any processing order)."""

    at: datetime
    canonical_url: str
    id: int
    duplicate_of_id: int | None = field(compare=False)


@dataclass(frozen=True)
class StoryNeighbour:
    """A stored original near a report being clustered: its story, time and canonical URL."""

    id: int
    story_id: int
    at: datetime
    canonical_url: str


# --- the delivery ledger and what a digest reads ------------------------------------------


@dataclass(frozen=True)
class LedgerState:
    """Where one delivery (a digest period or an alert batch) stands in the ledger; the states
    and their transitions are `monitor.pipeline.retry`'s ledger machine."""

    state: str
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True)
class DigestPeriod:
    """One digest of the ledger: a watchlist's period [start, end), its Message-ID, how many
    items it carried, and its delivery state."""

    id: int
    watchlist: str
    period_start: datetime
    period_end: datetime
    message_id: str
    article_count: int
    ledger: LedgerState


@dataclass(frozen=True)
class AlertBatch:
    """One alert mail of the ledger: the matched articles it carries and its delivery state."""

    id: int
    watchlist: str
    created_at: datetime
    message_id: str
    article_ids: tuple[int, ...]
    ledger: LedgerState


@dataclass(frozen=True)
class WaitingMatch:
    """A watchlist match not alerted (nor found unworthy) yet; `alert_worthy` is the alert
    query's verdict taken at processing time (None: not taken)."""

    id: int
    article_id: int
    matched_at: datetime
    alert_worthy: bool | None


@dataclass(frozen=True)
class MatchedReport:
    """One article a watchlist (or alert) query matched, with the terms that satisfied it."""

    article_id: int
    story_id: int | None
    url: str
    title: str
    source: str
    text: str
    published_at: datetime | None
    matched_at: datetime
    terms: tuple[str, ...]
    copy: bool

    @property
    def story_key(self) -> int:
        """The story it belongs to; an article without a story is a story of its own."""
        return self.story_id if self.story_id is not None else -self.article_id

    @property
    def when(self) -> datetime:
        """When it was published, else when it was matched."""
        return self.published_at or self.matched_at


@dataclass(frozen=True)
class ActorMention:
    """A matched original naming an actor: its publication (else discovery) time."""

    when: datetime
    entity_id: str
    name: str
    type: str


@dataclass(frozen=True)
class PendingArticle:
    """An article waiting for its page to be fetched (or a stored one being re-extracted):
    where it is, the feed's HTML to fall back on, and what tagging and matching see."""

    id: int
    url: str
    feed_html: str
    attempts: int
    title: str = ""  # the feed's title, if any
    source: str = ""


@dataclass(frozen=True)
class ArticleHeader:
    """What the feed said of a stored article, before its page: for choosing its title and
    published time when it is extracted."""

    id: int
    url: str
    title: str
    source: str
    feed_published_at: datetime | None


@dataclass(frozen=True)
class ExtractedFields:
    """What extraction sets on a stored article."""

    title: str
    text: str
    author: str | None
    language: str | None
    site_name: str | None
    extraction_method: str
    published_at: datetime | None
    date_source: str | None
    text_hash: str


@dataclass(frozen=True, slots=True)
class MentionRecord:
    """One `mentions` row: an entity, how often, and its evidence (offsets and surface
    forms) already encoded as JSON text, so the storing process encodes nothing."""

    entity_id: str
    count: int
    evidence: str


@dataclass(frozen=True, slots=True)
class WatchlistHit:
    """A watchlist an article matches: the matched terms, and whether its alert query
    matches too (None: the watchlist has no alert query)."""

    watchlist: str
    terms: tuple[str, ...]
    alert: bool | None


@dataclass(frozen=True)
class StoredText:
    """A processed article whose raw HTML is kept: what re-extraction starts from."""

    pending: PendingArticle
    html_gz: bytes


@dataclass(frozen=True)
class BacktestHit:
    """An article a backtested query matches."""

    article_id: int
    url: str
    title: str
    source: str
    processed_at: datetime | None
    terms: tuple[str, ...]


@dataclass(frozen=True)
class RunRecord:
    """One recorded pass of a command or scheduled job (`monitor status`)."""

    kind: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    summary: dict[str, object]


@dataclass(frozen=True)
class ExportedArticle:
    """A processed article as `monitor export` writes it (DESIGN.md's export record)."""

    id: int
    url: str
    canonical_url: str
    title: str
    source: str
    published_at: datetime | None
    processed_at: datetime | None
    text: str
    entities: tuple[tuple[str, int], ...]  # (entity id, count), most mentioned first
    story_id: int | None
    duplicate_of: str | None  # the original's URL
    watchlists: tuple[str, ...]
    extraction_method: str | None


@dataclass(frozen=True)
class DedupParams:
    """Thresholds and sizes of the near-duplicate and story tiers (see `dedup:` in config)."""

    shingle_words: int = 5
    bands: int = 24
    rows_per_band: int = 4
    lead_bands: int = 6
    lead_shingles: int = 50
    lead_windows: int = 2
    sketch_size: int = 256
    min_shingles: int = 30
    duplicate_jaccard: float = 0.5
    duplicate_containment: float = 0.8
    story_similarity: float = 0.2
    story_threshold: float = 0.09
    story_top_keys: int = 16
    story_decay: timedelta = timedelta(days=1)
    story_max_key_share: float = 0.8
    story_lead_paragraphs: int = 3
    story_lead_chars: int = 2000
    story_link_window: timedelta = timedelta(days=2)
    story_window: timedelta = timedelta(days=7)
