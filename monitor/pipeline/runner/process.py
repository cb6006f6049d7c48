"""Processing pending articles: fetch pages, extract (process pool), tag, match, store.

One broken page falls back to the feed's text or is recorded; the batch goes on.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from monitor.errors import BlockedURLError, ExtractError, FetchError, StageError, TooLargeError
from monitor.models import EntityHit, ExtractedText, MatchDoc
from monitor.pipeline import dedup, extract, fetch
from monitor.pipeline.match import prepare
from monitor.pipeline.runner.context import MAX_PAGE_ATTEMPTS, Context, ProcessReport, WatchlistSpec
from monitor.pipeline.runner.stories import _link_duplicate
from monitor.pipeline.tag import Tagger
from monitor.storage.schema import ArticleRow, EntityRow, MatchRow, MentionRow

# --- process --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pending:
    id: int
    url: str
    feed_html: str
    attempts: int
    title: str = ""  # the feed's title, if any: tagging and matching see it
    source: str = ""


@dataclass(frozen=True)
class _Outcome:
    pending: _Pending
    extracted: ExtractedText | None = None
    html: str = ""
    error: StageError | None = None
    hits: tuple[EntityHit, ...] | None = None  # None: not tagged in the pool, tag here
    matches: tuple[tuple[str, tuple[str, ...]], ...] | None = None  # (watchlist, terms)


@dataclass(frozen=True)
class _Analysis:
    """What a pool worker sends back: the extraction and, when the worker holds the stages
    (`init_worker`), the entity hits and watchlist matches, so only storage is left here."""

    extracted: ExtractedText
    hits: tuple[EntityHit, ...] | None = None
    matches: tuple[tuple[str, tuple[str, ...]], ...] | None = None


_STAGES: tuple[Tagger, tuple[WatchlistSpec, ...]] | None = None


def init_worker(tagger: Tagger, watchlists: Sequence[WatchlistSpec]) -> None:
    """Process-pool initializer: the compiled entity list and queries, once per worker, so
    tagging and matching run on every core instead of in the process that stores."""
    global _STAGES
    _STAGES = (tagger, tuple(watchlists))


def _analyse_one(
    html: str, url: str, fallback: str, title: str, source: str
) -> _Analysis | ExtractError:
    r = _extract_one(html, url, fallback)
    if isinstance(r, ExtractError):
        return r
    if _STAGES is None:
        return _Analysis(r)
    tagger, watchlists = _STAGES
    title = title or r.title  # as _apply_extraction will store it
    hits = tuple(tagger.tag(document_text(title, r.text)))
    return _Analysis(r, hits, _match_all(watchlists, title, r.text, source, hits))


def sync_entities(ctx: Context) -> None:
    """Mirror the entity list into the database so mentions always resolve to a name."""
    with ctx.db.session() as s:
        known = {r.id: r for r in s.scalars(select(EntityRow))}
        for eid, name, etype in ctx.entity_rows:
            row = known.get(eid)
            if row is None:
                s.add(EntityRow(id=eid, name=name, type=etype))
            else:
                row.name, row.type = name, etype


def process(ctx: Context, *, limit: int | None = None) -> ProcessReport:
    """Fetch, extract, dedupe, tag and match every pending article."""
    sync_entities(ctx)
    with ctx.db.session() as s:
        # Earliest published first, so the original of a group is processed before its copies.
        q = (
            select(ArticleRow)
            .where(ArticleRow.state == "pending")
            .order_by(
                func.coalesce(ArticleRow.feed_published_at, ArticleRow.discovered_at), ArticleRow.id
            )
        )
        rows = s.scalars(q.limit(limit) if limit else q).all()
        pending = [
            _Pending(
                r.id, r.url, r.feed_content or r.feed_summary, r.attempts, r.title, r.source_name
            )
            for r in rows
        ]
    report = ProcessReport()
    if not pending:
        expire_html(ctx)
        return report
    ctx.progress(f"processing {len(pending)} article(s)")
    for i, outcome in enumerate(_fetch_and_extract(ctx, pending), 1):
        _record_article(ctx, outcome, report)
        if i % 50 == 0:
            ctx.progress(f"  {i}/{len(pending)} articles stored")
    expire_html(ctx)
    return report


def _fetch_and_extract(ctx: Context, pending: Sequence[_Pending]) -> Iterator[_Outcome]:
    """Fetched pages, extracted, in `pending` order. With a pool, each page is handed to it as
    soon as it arrives, so extraction overlaps the downloads and the caller's recording
    overlaps the extraction of the pages after it."""
    executor = ctx.executor
    if executor is None:
        yield from _extract_all(ctx, asyncio.run(_fetch_pages(ctx, pending)))
        return
    jobs: dict[int, Future[_Analysis | ExtractError]] = {}

    def submit(o: _Outcome) -> None:
        if o.error is None or not _retry_page_later(o):
            jobs[o.pending.id] = executor.submit(_analyse_one, *_job(o))

    for o in asyncio.run(_fetch_pages(ctx, pending, on_done=submit)):
        job = jobs.get(o.pending.id)
        yield o if job is None else _with_extraction(o, job.result())


async def _fetch_pages(
    ctx: Context,
    pending: Sequence[_Pending],
    on_done: Callable[[_Outcome], None] | None = None,
) -> list[_Outcome]:
    limiter = fetch.HostLimiter(ctx.policy)
    async with ctx.http_client() as client:

        async def one(p: _Pending) -> _Outcome:
            try:
                async with limiter.slot(p.url):
                    await _check_robots(ctx, client, p.url)
                    resp = await fetch.fetch(client, p.url, ctx.policy, accept=fetch.HTML_ACCEPT)
            except StageError as exc:
                outcome = _Outcome(p, error=exc)
            else:
                html = fetch.decode_html(resp.body, resp.headers.get("content-type"))
                outcome = _Outcome(p, html=html)
            if on_done is not None:
                on_done(outcome)
            return outcome

        return list(await asyncio.gather(*(one(p) for p in pending)))


async def _check_robots(ctx: Context, client: httpx.AsyncClient, url: str) -> None:
    """Raise unless the host's robots.txt lets us fetch this page (cached per host)."""
    if ctx.robots is None:
        return
    text = await ctx.robots.text_for(client, url)
    if text is None:  # 5xx or unreachable: RFC 9309 says assume disallowed, for now
        raise FetchError(f"{fetch.robots_url(url)} unreachable; page retried later", url=url)
    if not fetch.robots_allows(text, url, ctx.policy.user_agent):
        raise BlockedURLError(
            "robots.txt disallows this page for our User-Agent; the feed's text is used", url=url
        )


def _extract_one(html: str, url: str, fallback: str) -> ExtractedText | ExtractError:
    try:
        return extract.extract(html, url=url, fallback_html=fallback)
    except ExtractError as exc:
        return exc


def _extract_all(ctx: Context, fetched: list[_Outcome]) -> list[_Outcome]:
    """Extract every fetched page; a failed page download falls back to the feed's content."""
    jobs: list[tuple[str, str, str, str, str] | None] = []
    for o in fetched:
        if o.error is not None and _retry_page_later(o):
            jobs.append(None)
        else:
            jobs.append(_job(o))
    work = [j for j in jobs if j is not None]
    if ctx.executor is not None and len(work) > 1:
        results = list(ctx.executor.map(_analyse_one, *zip(*work, strict=True)))
    else:
        results = [_analyse_one(*j) for j in work]
    it = iter(results)
    return [
        o if job is None else _with_extraction(o, next(it))
        for o, job in zip(fetched, jobs, strict=True)
    ]


def _job(o: _Outcome) -> tuple[str, str, str, str, str]:
    p = o.pending
    return (o.html, p.url, p.feed_html, p.title, p.source)


def _with_extraction(o: _Outcome, r: _Analysis | ExtractError) -> _Outcome:
    if isinstance(r, ExtractError):
        return _Outcome(o.pending, html=o.html, error=o.error or r)
    return _Outcome(o.pending, r.extracted, o.html, o.error, r.hits, r.matches)


def _retry_page_later(o: _Outcome) -> bool:
    """A temporary page failure is retried on a later pass before the feed text is used."""
    if o.pending.attempts + 1 >= MAX_PAGE_ATTEMPTS:
        return False
    if isinstance(o.error, BlockedURLError | TooLargeError):
        return False  # refused by rule (address, scheme, robots.txt) or by size: not temporary
    status = getattr(o.error, "status", None)
    return isinstance(o.error, FetchError) and (status is None or status >= 500 or status == 429)


def _record_article(ctx: Context, o: _Outcome, report: ProcessReport) -> None:
    now = ctx.clock()
    with ctx.db.session() as s:
        row = s.get_one(ArticleRow, o.pending.id)
        row.attempts += 1
        if o.extracted is None:
            row.last_error = str(o.error)
            if _retry_page_later(o):
                report.retrying += 1
            else:
                row.state = "failed"
                report.failed[row.url] = str(o.error)
            return
        if ctx.keep_html and ctx.keep_html_days > 0 and o.html:
            row.html_gz = gzip.compress(o.html.encode("utf-8"))
        _apply_extraction(row, o.extracted)
        if o.error is not None:
            row.last_error = str(o.error)
        hits = _hits(ctx, o, row)
        _link_duplicate(ctx, s, row, o.extracted, hits, now)
        report.duplicates += row.duplicate_of_id is not None
        _store_mentions(s, row, hits)
        report.matched += _store_matches(ctx, s, row, hits, now, o.matches)
        row.state, row.processed_at = "processed", now
        report.processed += 1


def _hits(ctx: Context, o: _Outcome, row: ArticleRow) -> Sequence[EntityHit]:
    if o.hits is not None:
        return o.hits
    return ctx.tagger.tag(document_text(row.title, row.text))


def document_text(title: str, text: str) -> str:
    """The string tagged for an article: mention offsets count from the title's first char."""
    return f"{title}\n\n{text}" if title else text


def _apply_extraction(row: ArticleRow, ex: ExtractedText) -> None:
    row.title = row.title or ex.title
    row.text = ex.text
    row.author = ex.author
    row.language = ex.language
    row.extraction_method = ex.method
    row.published_at, row.date_source = extract.choose_published(
        row.feed_published_at, ex.published_at, row.url
    )
    row.text_hash = dedup.text_fingerprint(ex.text)


def _store_mentions(s: Session, row: ArticleRow, hits: Sequence[EntityHit]) -> None:
    """Replace the article's mentions (one bulk insert: a merge per row was a third of the
    per-article cost of `process`)."""
    s.execute(delete(MentionRow).where(MentionRow.article_id == row.id))
    if hits:
        s.execute(
            insert(MentionRow),
            [
                {
                    "article_id": row.id,
                    "entity_id": h.id,
                    "count": h.count,
                    "evidence": [
                        {"start": m.start, "end": m.end, "text": m.text} for m in h.mentions
                    ],
                }
                for h in hits
            ],
        )


def _match_all(
    watchlists: Sequence[WatchlistSpec],
    title: str,
    text: str,
    source: str,
    hits: Sequence[EntityHit],
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(watchlist, matched terms) for every watchlist covering `source` that matches."""
    doc = prepare(  # tokenised once for every watchlist
        MatchDoc(
            title=title,
            text=text,
            source=source,
            entity_ids=frozenset(h.id for h in hits),
            entity_types=frozenset(h.type for h in hits),
        )
    )
    found = []
    for w in watchlists:
        if w.sources is not None and source not in w.sources:
            continue
        m = w.query.match_prepared(doc)
        if m is not None:
            found.append((w.name, m.terms))
    return tuple(found)


def _store_matches(
    ctx: Context,
    s: Session,
    row: ArticleRow,
    hits: Sequence[EntityHit],
    now: datetime,
    found: Sequence[tuple[str, tuple[str, ...]]] | None = None,
) -> int:
    if found is None:
        found = _match_all(ctx.watchlists, row.title, row.text, row.source_name, hits)
    matched = 0
    for name, terms in found:
        exists = s.scalar(
            select(MatchRow.id).where(MatchRow.watchlist == name, MatchRow.article_id == row.id)
        )
        if exists is None:
            s.add(MatchRow(watchlist=name, article_id=row.id, matched_at=now, terms=list(terms)))
            matched += 1
    return matched


# --- stored HTML: retention and re-extraction ------------------------------------------


def expire_html(ctx: Context) -> int:
    """Drop raw HTML of articles processed more than `keep_html_days` ago (0: all of it)."""
    cutoff = ctx.clock() - timedelta(days=max(0, ctx.keep_html_days))
    with ctx.db.session() as s:
        result = s.execute(
            update(ArticleRow)
            .where(ArticleRow.html_gz.is_not(None), ArticleRow.processed_at < cutoff)
            .values(html_gz=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)
