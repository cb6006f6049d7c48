"""Work on stored articles: re-extraction from kept HTML, `monitor import`, backtests.

Reuses the processing steps, so imported and re-extracted articles are treated alike.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.errors import ExtractError
from monitor.models import EntityHit, ExtractedText, MatchDoc, Mention
from monitor.pipeline import dedup
from monitor.pipeline.match import Query
from monitor.pipeline.runner.context import MAX_PAGE_ATTEMPTS, Context, ProcessReport
from monitor.pipeline.runner.process import (
    _apply_extraction,
    _extract_all,
    _extract_one,
    _Outcome,
    _Pending,
    _record_batch,
    _store_matches,
    _store_mentions,
    sync_entities,
)
from monitor.pipeline.runner.stories import _article_time, reindex_article, settle_stories
from monitor.storage.schema import ArticleRow, EntityRow, MentionRow


def reextract(ctx: Context, *, batch: int = 200) -> ProcessReport:
    """Redo extraction, tagging and matching of processed articles from their stored HTML,
    without refetching (after an extractor upgrade). Articles whose HTML has expired are left
    as they are; duplicate links and stories are kept, and an article whose text changed
    gets the dedup index rows of its new text (`reindex_article`), so later articles are
    compared with what it now says. `processed` counts the redone ones."""
    sync_entities(ctx)
    report = ProcessReport()
    last_id = 0
    while True:
        with ctx.db.session() as s:
            rows = s.execute(
                select(
                    ArticleRow.id,
                    ArticleRow.url,
                    ArticleRow.title,
                    ArticleRow.source_name,
                    ArticleRow.feed_content,
                    ArticleRow.feed_summary,
                    ArticleRow.html_gz,
                )
                .where(
                    ArticleRow.state == "processed",
                    ArticleRow.html_gz.is_not(None),
                    ArticleRow.id > last_id,
                )
                .order_by(ArticleRow.id)
                .limit(batch)
            ).all()
        if not rows:
            return report
        last_id = rows[-1].id
        stored = [
            _Outcome(
                _Pending(
                    r.id,
                    r.url,
                    r.feed_content or r.feed_summary,
                    MAX_PAGE_ATTEMPTS,
                    r.title,
                    r.source_name,
                ),
                html=gzip.decompress(r.html_gz).decode("utf-8", errors="replace"),
            )
            for r in rows
        ]
        for o in _extract_all(ctx, stored):
            _rerecord(ctx, o, report)
        ctx.progress(f"  {len(report.failed) + report.processed} articles re-extracted")


def _rerecord(ctx: Context, o: _Outcome, report: ProcessReport) -> None:
    """Store a re-extraction: text, mentions, new matches and, when the text changed, its
    dedup index rows; links and stories are kept."""
    with ctx.db.session() as s:
        row = s.get_one(ArticleRow, o.pending.id)
        if o.extracted is None:
            report.failed[row.url] = str(o.error)
            return
        a = o.analysis
        assert a is not None  # _extract_all analyses every page it extracts
        old_text, old_at = row.text or "", _article_time(row)
        _apply_extraction(row, o.extracted, a.text_hash)
        if row.text != old_text or _article_time(row) != old_at:
            old = (old_text, old_at, _stored_hits(s, row.id))  # before the new mentions
            reindex_article(ctx, s, row, old, a.sig, a.story_keys)
        _store_mentions(s, [(row.id, a.mentions)])
        report.matched += _store_matches(s, [(row.id, a.found)], ctx.clock())
        report.processed += 1


def _stored_hits(s: Session, article_id: int) -> tuple[EntityHit, ...]:
    """The article's stored mentions as hits (what its story keys were made from)."""
    rows = s.execute(
        select(MentionRow, EntityRow.name, EntityRow.type)
        .join(EntityRow, EntityRow.id == MentionRow.entity_id, isouter=True)
        .where(MentionRow.article_id == article_id)
    ).all()
    return tuple(
        EntityHit(
            id=m.entity_id,
            name=name or m.entity_id,
            type=kind or "",
            count=m.count,
            mentions=tuple(Mention(e["start"], e["end"], e["text"]) for e in m.evidence or ()),
        )
        for m, name, kind in rows
    )


# --- import and backtest --------------------------------------------------------------


@dataclass(frozen=True)
class ImportRecord:
    """One article brought in by `monitor import` (validated by the caller)."""

    url: str
    title: str = ""
    text: str = ""
    html: str = ""
    published_at: datetime | None = None
    source: str = ""


def import_articles(ctx: Context, records: Sequence[ImportRecord]) -> ProcessReport:
    """Store and process imported articles; an already-known URL (the key) is skipped."""
    sync_entities(ctx)
    report = ProcessReport()
    now = ctx.clock()
    clustered: dict[int, int] = {}
    for rec in records:
        canon = dedup.canonical_url(rec.url)
        with ctx.db.session() as s:
            if s.scalar(select(ArticleRow.id).where(ArticleRow.canonical_url == canon)) is not None:
                continue
            row = ArticleRow(
                source_name=rec.source,
                url=rec.url,
                canonical_url=canon,
                title=rec.title,
                feed_content=rec.html,
                feed_published_at=rec.published_at,
                discovered_at=now,
                state="importing",
            )
            s.add(row)
            s.flush()
            pending = _Pending(row.id, rec.url, rec.html, MAX_PAGE_ATTEMPTS)
        if rec.text:
            ex = ExtractedText(title=rec.title, text=rec.text, method="import")
            outcome = _Outcome(pending, extracted=ex)
        else:
            r = _extract_one(rec.html, rec.url, "")
            outcome = (
                _Outcome(pending, error=r)
                if isinstance(r, ExtractError)
                else _Outcome(pending, r, rec.html)
            )
        clustered |= _record_batch(ctx, [outcome], report)
    settle_stories(ctx, clustered)
    return report


@dataclass(frozen=True)
class Hit:
    """An article a backtested query matches."""

    article_id: int
    url: str
    title: str
    source: str
    processed_at: datetime | None
    terms: tuple[str, ...]


def stored_doc(s: Session, article: ArticleRow) -> MatchDoc:
    """What a query sees of a stored article: its text, source, and tagged entities."""
    rows = s.execute(
        select(MentionRow.entity_id, EntityRow.type)
        .join(EntityRow, EntityRow.id == MentionRow.entity_id, isouter=True)
        .where(MentionRow.article_id == article.id)
    ).all()
    return MatchDoc(
        title=article.title,
        text=article.text,
        source=article.source_name,
        entity_ids=frozenset(eid for eid, _ in rows),
        entity_types=frozenset(t for _, t in rows if t),
    )


def backtest(
    ctx: Context, query: Query, *, since: datetime | None = None, limit: int = 50
) -> list[Hit]:
    """Run a query over stored articles, newest first, as if they had just been processed."""
    hits: list[Hit] = []
    with ctx.db.session() as s:
        q = select(ArticleRow).where(ArticleRow.state == "processed")
        if since is not None:
            q = q.where(ArticleRow.processed_at >= since)
        for row in s.scalars(q.order_by(ArticleRow.processed_at.desc(), ArticleRow.id.desc())):
            m = query.match(stored_doc(s, row))
            if m is not None:
                hits.append(
                    Hit(row.id, row.url, row.title, row.source_name, row.processed_at, m.terms)
                )
                if len(hits) >= limit:
                    break
    return hits
