"""The database schema (SQLAlchemy 2 declarative); every timestamp is stored and returned in UTC.

Alembic migrations under `monitor/storage/migrations/` must follow every change made here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (naive storage) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class SourceRow(Base):
    """A feed from the config, with its fetch state (validators, errors, next check)."""

    __tablename__ = "sources"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    warning: Mapped[str | None] = mapped_column(Text)
    error_count: Mapped[int] = mapped_column(default=0)
    next_check_at: Mapped[datetime | None]
    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    items_seen: Mapped[int] = mapped_column(default=0)
    # The polling interval learned from how often the source publishes, and its feed's <ttl>.
    poll_interval_s: Mapped[int | None]
    feed_ttl_s: Mapped[int | None]


class StoryRow(Base):
    """A group of articles about the same story; the first article names it."""

    __tablename__ = "stories"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    title: Mapped[str] = mapped_column(Text, default="")


class ArticleRow(Base):
    """A feed entry (or imported article) and, once processed, its text and outcome."""

    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("canonical_url", name="uq_articles_canonical_url"),
        Index("ix_articles_state", "state"),
        Index("ix_articles_text_hash", "text_hash"),
        Index("ix_articles_source_guid", "source_id", "guid"),
        Index("ix_articles_duplicate_of_id", "duplicate_of_id"),
        Index("ix_articles_guid", "guid"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    source_name: Mapped[str] = mapped_column(String(200), default="")
    guid: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    canonical_url: Mapped[str] = mapped_column(String(2000))
    title: Mapped[str] = mapped_column(Text, default="")
    feed_summary: Mapped[str] = mapped_column(Text, default="")
    feed_content: Mapped[str] = mapped_column(Text, default="")
    feed_published_at: Mapped[datetime | None]
    discovered_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    retry_at: Mapped[datetime | None]  # a page's 429/503 Retry-After: not fetched before it
    last_error: Mapped[str | None] = mapped_column(Text)
    html_gz: Mapped[bytes | None] = mapped_column(LargeBinary)
    text: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(20))
    site_name: Mapped[str | None] = mapped_column(Text)  # the page's own (og:site_name, ...)
    published_at: Mapped[datetime | None]
    date_source: Mapped[str | None] = mapped_column(String(10))  # feed, page or url
    extraction_method: Mapped[str | None] = mapped_column(String(40))
    text_hash: Mapped[str | None] = mapped_column(String(64))
    # The page's own rel=canonical, when it names another URL: an identity key of tier 1.
    page_canonical_url: Mapped[str | None] = mapped_column(String(2000), index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"))
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id"), index=True)
    processed_at: Mapped[datetime | None] = mapped_column(index=True)


class SignatureRow(Base):
    """An article's near-duplicate sketch (bottom-k shingle hashes), to verify LSH candidates."""

    __tablename__ = "article_signatures"
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    shingles: Mapped[int]
    sketch: Mapped[bytes] = mapped_column(LargeBinary)


class BandRow(Base):
    """The LSH index: one row per (MinHash band bucket, article); shared by every process."""

    __tablename__ = "dedup_bands"
    __table_args__ = ({"sqlite_with_rowid": False},)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )


class StoryKeyRow(Base):
    """A story key (a term of the article's opening) with its time for the story window."""

    __tablename__ = "story_keys"
    __table_args__ = (
        Index("ix_story_keys_article_id", "article_id"),
        {"sqlite_with_rowid": False},
    )
    # (key, at) leads the primary key: the window lookup is one index range per key.
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )


class StoryTermsRow(Base):
    """An original's story terms as stored: its keys (int64) and how often each occurs
    (float32), packed, read in one row. Weights are not stored: they are worked out when
    the story is clustered, from the story window as it is then, so a report processed
    early weighs its words as one processed late would."""

    __tablename__ = "story_terms"
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    keys: Mapped[bytes] = mapped_column(LargeBinary)
    counts: Mapped[bytes] = mapped_column(LargeBinary)


class EntityRow(Base):
    """An entity of the list, mirrored so mentions keep a name after the list changes."""

    __tablename__ = "entities"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(40))


class MentionRow(Base):
    """One entity in one article: count and evidence (offsets and surface forms)."""

    __tablename__ = "mentions"
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    entity_id: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)
    count: Mapped[int]
    evidence: Mapped[list[Any]]


class WatchlistRow(Base):
    """A watchlist as first seen: its first digest period starts at `first_seen_at`."""

    __tablename__ = "watchlists"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_seen_at: Mapped[datetime]
    query: Mapped[str] = mapped_column(Text)


class MatchRow(Base):
    """An article matched by a watchlist, at processing time, with the terms that matched."""

    __tablename__ = "matches"
    __table_args__ = (
        UniqueConstraint("watchlist", "article_id", name="uq_matches_watchlist_article"),
        Index("ix_matches_watchlist_time", "watchlist", "matched_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    watchlist: Mapped[str] = mapped_column(String(200))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    matched_at: Mapped[datetime]
    terms: Mapped[list[Any]]
    alerted_at: Mapped[datetime | None]
    # The alert query's verdict, taken when the article was processed (None: not taken;
    # the alert step then evaluates the query itself).
    alert_worthy: Mapped[bool | None]


class DigestRow(Base):
    """One digest of one watchlist for one period: the ledger that makes delivery exactly-once.

    state: pending -> rendering -> sending -> sent | failed (temporary failures go back to
    pending with `next_attempt_at`).
    """

    __tablename__ = "digests"
    __table_args__ = (
        UniqueConstraint("watchlist", "period_start", name="uq_digests_watchlist_period"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    watchlist: Mapped[str] = mapped_column(String(200), index=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(Text)
    article_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    outputs: Mapped[list[Any]] = mapped_column(default=list)


class RunRow(Base):
    """One pass of a command or scheduled job, for `monitor status`."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="running")
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AlertRow(Base):
    """One immediate alert mail: a batch of a watchlist's new matches for its `alert.query`.

    Each match is alerted once: `MatchRow.alerted_at` is set in the transaction that creates
    the batch (or when the match is found not to satisfy the alert query).
    """

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    watchlist: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(Text)
    article_ids: Mapped[list[Any]]
    sent_at: Mapped[datetime | None]
