"""Sources: the configured feeds' rows and fetch state, and the entries a poll stores."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from monitor.models import FeedEntry, SourceState
from monitor.storage.engine import Tx
from monitor.storage.schema import ArticleRow, SourceRow

_STATE_FIELDS = tuple(f.name for f in dataclasses.fields(SourceState))


def _state(row: SourceRow) -> SourceState:
    return SourceState(**{name: getattr(row, name) for name in _STATE_FIELDS})


def sync(tx: Tx, configured: Sequence[tuple[str, str]]) -> None:
    """A row for every configured (name, url); a source whose URL changed forgets its
    validators. Rows of sources no longer configured stay (their articles refer to them)."""
    s = tx.session
    rows = {r.name: r for r in s.scalars(select(SourceRow))}
    for name, url in configured:
        row = rows.get(name)
        if row is None:
            s.add(SourceRow(name=name, url=url))
        elif row.url != url:
            row.url, row.etag, row.last_modified = url, None, None


def states(tx: Tx) -> list[SourceState]:
    """Every stored source's state, by name."""
    return [_state(r) for r in tx.session.scalars(select(SourceRow).order_by(SourceRow.name))]


def state(tx: Tx, name: str) -> SourceState | None:
    row = tx.session.scalars(select(SourceRow).where(SourceRow.name == name)).one_or_none()
    return None if row is None else _state(row)


def save(tx: Tx, new: SourceState) -> None:
    """Store a source's state as a poll (or an operator's reset) left it."""
    values = {name: getattr(new, name) for name in _STATE_FIELDS if name != "name"}
    tx.session.execute(update(SourceRow).where(SourceRow.name == new.name).values(**values))


def failing(tx: Tx) -> list[SourceState]:
    """Sources whose last poll failed, by name (the source-health read)."""
    q = select(SourceRow).where(SourceRow.error_count > 0).order_by(SourceRow.name)
    return [_state(r) for r in tx.session.scalars(q)]


def store_entries(
    tx: Tx,
    source: str,
    entries: Sequence[tuple[str, FeedEntry]],
    now: datetime,
    *,
    limit: int | None = None,
) -> tuple[int, int]:
    """Store the (canonical URL, entry) pairs not seen before — by canonical URL, or by this
    source's GUID — as pending articles: two lookups and one insert, whatever the feed's
    length. At most `limit` are stored: the newest by feed date (undated ones last), kept in
    feed order. Returns how many were stored and how many new ones were left for later."""
    if not entries:
        return 0, 0
    s = tx.session
    source_id = s.scalars(select(SourceRow.id).where(SourceRow.name == source)).one()
    urls = {canon for canon, _ in entries}
    guids = {e.guid for _, e in entries if e.guid}
    known_urls = set(
        s.scalars(select(ArticleRow.canonical_url).where(ArticleRow.canonical_url.in_(urls)))
    )
    known_guids = (
        set(
            s.scalars(
                select(ArticleRow.guid).where(
                    ArticleRow.source_id == source_id, ArticleRow.guid.in_(guids)
                )
            )
        )
        if guids
        else set()
    )
    rows = [
        {
            "source_id": source_id,
            "source_name": source,
            "guid": entry.guid,
            "url": entry.url,
            "canonical_url": canon,
            "title": entry.title,
            "feed_summary": entry.summary,
            "feed_content": entry.content_html,
            "feed_published_at": entry.published_at,
            "discovered_at": now,
            "state": "pending",
        }
        for canon, entry in entries
        if canon not in known_urls and not (entry.guid and entry.guid in known_guids)
    ]
    left = 0
    if limit is not None and len(rows) > limit:
        left = len(rows) - limit
        rows = _newest(rows, limit)
    if rows:
        s.execute(insert(ArticleRow), rows)
    return len(rows), left


def _newest(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    def published(i: int) -> float:
        at = rows[i]["feed_published_at"]
        return float("-inf") if at is None else float(at.timestamp())

    keep = sorted(range(len(rows)), key=published, reverse=True)[:limit]
    return [rows[i] for i in sorted(keep)]
