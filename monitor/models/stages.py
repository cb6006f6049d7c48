"""What the pure stages exchange: entities and their hits, fetch policy and responses,
feeds, extracted text, what a query sees, and the dedup settings; the defaults that the
settings and the runtime share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
    max_entries_per_poll: int = 200  # new entries of one feed stored per poll, newest first


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
