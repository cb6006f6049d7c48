"""Work on stored articles: re-extraction from kept HTML, `monitor import`, backtests.

Reuses the processing steps, so imported and re-extracted articles are treated alike.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.errors import ExtractError
from monitor.models import BacktestHit, ExtractedText, PendingArticle
from monitor.pipeline import dedup
from monitor.pipeline.match import Query
from monitor.pipeline.runner.analysis import extract_one
from monitor.pipeline.runner.context import MAX_PAGE_ATTEMPTS, Context, ProcessReport
from monitor.pipeline.runner.process import (
    Outcome,
    extract_all,
    extracted_fields,
    record_batch,
    sync_entities,
)
from monitor.pipeline.runner.stories import reindex, settle_stories
from monitor.storage import articles


def reextract(ctx: Context, *, batch: int = 200) -> ProcessReport:
    """Redo extraction, tagging and matching of processed articles from their stored HTML,
    without refetching (after an extractor upgrade). Articles whose HTML has expired are left
    as they are; duplicate links and stories are kept, and an article whose text changed
    gets the dedup index rows of its new text (`stories.reindex`), so later articles are
    compared with what it now says. `processed` counts the redone ones."""
    sync_entities(ctx)
    report = ProcessReport()
    last_id = 0
    while True:
        with ctx.db.transaction() as tx:
            kept = articles.with_html(tx, last_id, batch)
        if not kept:
            return report
        last_id = kept[-1].pending.id
        stored = [
            Outcome(
                k.pending,
                html=gzip.decompress(k.html_gz).decode("utf-8", errors="replace"),
            )
            for k in kept
        ]
        for o in extract_all(ctx, stored):
            _rerecord(ctx, o, report)
        ctx.progress(f"  {len(report.failed) + report.processed} articles re-extracted")


def _rerecord(ctx: Context, o: Outcome, report: ProcessReport) -> None:
    """Store a re-extraction: text, mentions, new matches and, when the text changed, its
    dedup index rows; links and stories are kept."""
    with ctx.db.transaction() as tx:
        if o.extracted is None:
            report.failed[o.pending.url] = str(o.error)
            return
        a = o.analysis
        assert a is not None  # extract_all analyses every page it extracts
        header = articles.header(tx, o.pending.id)
        fields = extracted_fields(header, o.extracted, a.text_hash)
        before, after, original = articles.record_reextracted(tx, header.id, fields)
        if after.text != before.text or after.at != before.at:
            reindex(
                ctx.dedup,
                tx,
                after,
                before.text,
                original=original,
                sig=a.sig,
                keys=a.story_keys,
            )
        articles.store_mentions(tx, [(header.id, a.mentions)])
        report.matched += articles.store_matches(tx, [(header.id, a.found)], ctx.clock())
        report.processed += 1


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
        with ctx.db.transaction() as tx:
            article = articles.add_imported(
                tx,
                url=rec.url,
                canonical_url=dedup.canonical_url(rec.url),
                title=rec.title,
                html=rec.html,
                published_at=rec.published_at,
                source=rec.source,
                now=now,
            )
        if article is None:
            continue
        pending = PendingArticle(article, rec.url, rec.html, MAX_PAGE_ATTEMPTS)
        if rec.text:
            ex = ExtractedText(title=rec.title, text=rec.text, method="import")
            outcome = Outcome(pending, extracted=ex)
        else:
            r = extract_one(rec.html, rec.url, "")
            outcome = (
                Outcome(pending, error=r)
                if isinstance(r, ExtractError)
                else Outcome(pending, r, rec.html)
            )
        clustered |= record_batch(ctx, [outcome], report)
    settle_stories(ctx, clustered)
    return report


Hit = BacktestHit


def backtest(
    ctx: Context, query: Query, *, since: datetime | None = None, limit: int = 50
) -> list[BacktestHit]:
    """Run a query over stored articles, newest first, as if they had just been processed."""
    hits: list[BacktestHit] = []
    with ctx.db.transaction() as tx:
        for chunk in articles.processed_newest_first(tx, since):
            for head, processed_at, doc in chunk:
                m = query.match(doc)
                if m is None:
                    continue
                hits.append(
                    BacktestHit(head.id, head.url, head.title, head.source, processed_at, m.terms)
                )
                if len(hits) >= limit:
                    return hits
    return hits
