"""What a digest or an alert reads of the articles a watchlist matched: the reports, earlier
matches of their stories, the actors tagged in them, and actor mentions by publication day."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from monitor.models import ActorChip, ActorMention, MatchedReport
from monitor.storage.engine import Tx
from monitor.storage.schema import ArticleRow, EntityRow, MatchRow, MentionRow

_CHUNK = 500  # ids per IN (...): well under every backend's parameter limit


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    unique = sorted(set(ids))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start : start + _CHUNK]


def _when() -> ColumnElement[datetime]:
    """An article's publication time, else when it was discovered."""
    return func.coalesce(ArticleRow.published_at, ArticleRow.discovered_at)


# --- matched reports ------------------------------------------------------------------------


def _reports(watchlist: str) -> Select[Any]:
    return (
        select(
            ArticleRow.id,
            ArticleRow.story_id,
            ArticleRow.url,
            ArticleRow.title,
            ArticleRow.source_name,
            ArticleRow.text,
            ArticleRow.published_at,
            MatchRow.matched_at,
            MatchRow.terms,
            ArticleRow.duplicate_of_id,
        )
        .select_from(MatchRow)
        .join(ArticleRow, ArticleRow.id == MatchRow.article_id)
        .where(MatchRow.watchlist == watchlist)
        .order_by(MatchRow.matched_at, ArticleRow.id)
    )


def _report(r: Any) -> MatchedReport:
    return MatchedReport(
        article_id=r.id,
        story_id=r.story_id,
        url=r.url,
        title=r.title or r.url,
        source=r.source_name,
        text=r.text,
        published_at=r.published_at,
        matched_at=r.matched_at,
        terms=tuple(str(t) for t in r.terms),
        copy=r.duplicate_of_id is not None,
    )


def matched_reports(tx: Tx, watchlist: str, start: datetime, end: datetime) -> list[MatchedReport]:
    """Every article the watchlist matched in [start, end), in matching order."""
    q = _reports(watchlist).where(MatchRow.matched_at >= start, MatchRow.matched_at < end)
    return [_report(r) for r in tx.session.execute(q)]


def reports_of(tx: Tx, watchlist: str, article_ids: Iterable[int]) -> list[MatchedReport]:
    """The watchlist's matches of these articles, in matching order."""
    found = [
        _report(r)
        for chunk in _chunks(article_ids)
        for r in tx.session.execute(_reports(watchlist).where(MatchRow.article_id.in_(chunk)))
    ]
    return sorted(found, key=lambda r: (r.matched_at, r.article_id))


def earlier_story_matches(
    tx: Tx, watchlist: str, story_ids: Iterable[int], before: datetime
) -> dict[int, list[datetime]]:
    """Story id -> when the watchlist matched its reports, before `before`."""
    out: dict[int, list[datetime]] = {}
    for chunk in _chunks(story_ids):
        rows = tx.session.execute(
            select(ArticleRow.story_id, MatchRow.matched_at)
            .join(ArticleRow, ArticleRow.id == MatchRow.article_id)
            .where(
                MatchRow.watchlist == watchlist,
                MatchRow.matched_at < before,
                ArticleRow.story_id.in_(chunk),
            )
        )
        for story_id, matched_at in rows:
            if story_id is not None:
                out.setdefault(story_id, []).append(matched_at)
    return out


# --- actors ---------------------------------------------------------------------------------


def actor_chips(tx: Tx, article_ids: Iterable[int]) -> dict[int, list[ActorChip]]:
    """Article id -> the actors tagged in it, most mentioned first."""
    out: dict[int, list[ActorChip]] = {}
    for chunk in _chunks(article_ids):
        out.update((i, []) for i in chunk)
        rows = tx.session.execute(
            select(MentionRow.article_id, MentionRow.entity_id, MentionRow.count, EntityRow.name,
                   EntityRow.type)
            .join(EntityRow, EntityRow.id == MentionRow.entity_id, isouter=True)
            .where(MentionRow.article_id.in_(chunk))
            .order_by(MentionRow.article_id, MentionRow.count.desc(), MentionRow.entity_id)
        )  # fmt: skip
        for aid, eid, count, name, etype in rows:
            out[aid].append(ActorChip(eid, name or eid, etype or "", count))
    return out


def actor_mentions(tx: Tx, watchlist: str, since: datetime, end: datetime) -> list[ActorMention]:
    """Actor mentions of the watchlist's matched originals published in [since, end) and
    matched before `end`. Copies are left out, so syndication does not inflate an actor."""
    when = _when()
    rows = tx.session.execute(
        select(when, MentionRow.entity_id, EntityRow.name, EntityRow.type)
        .select_from(MatchRow)
        .join(ArticleRow, ArticleRow.id == MatchRow.article_id)
        .join(MentionRow, MentionRow.article_id == MatchRow.article_id)
        .join(EntityRow, EntityRow.id == MentionRow.entity_id, isouter=True)
        .where(
            MatchRow.watchlist == watchlist,
            MatchRow.matched_at < end,
            ArticleRow.duplicate_of_id.is_(None),
            when >= since,
            when < end,
        )
    )
    return [ActorMention(w, eid, name or eid, etype or "") for w, eid, name, etype in rows]


def history_start(tx: Tx, watchlist: str, end: datetime) -> datetime | None:
    """The earliest publication time among the watchlist's matches before `end`."""
    first: datetime | None = tx.session.scalar(
        select(func.min(_when()))
        .select_from(ArticleRow)
        .join(MatchRow, MatchRow.article_id == ArticleRow.id)
        .where(MatchRow.watchlist == watchlist, MatchRow.matched_at < end)
    )
    return first
