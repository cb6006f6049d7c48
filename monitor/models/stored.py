"""What storage hands the runner and the app: source state, pending and stored articles,
what linking reads and decides on, runs and export records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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
