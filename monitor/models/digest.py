"""What a digest or an alert is made of (stories, reports, actors, trends) and the delivery
ledger's records (digest periods, alert batches, their state)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

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
