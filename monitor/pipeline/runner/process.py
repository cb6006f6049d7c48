"""Processing pending articles: fetch pages, analyse them in a process pool, store in batches.

Pool workers extract, tag, match (watchlist and alert queries), sign for dedup and compress
the HTML: everything pure. This process fetches (on a background event-loop thread, so
downloads overlap the storing) and stores; one transaction per RECORD_BATCH articles.
One broken page falls back to the feed's text or is recorded; the batch goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from monitor.errors import (
    BlockedURLError,
    ExtractError,
    FetchError,
    RetryLaterError,
    StageError,
    TooLargeError,
)
from monitor.models import EntityHit, ExtractedText, FetchPolicy, MatchDoc
from monitor.pipeline import dedup, extract, fetch
from monitor.pipeline.match import prepare
from monitor.pipeline.runner.context import MAX_PAGE_ATTEMPTS, Context, ProcessReport, WatchlistSpec
from monitor.pipeline.runner.stories import _link_duplicate, clustered_in, settle_stories
from monitor.pipeline.tag import Tagger
from monitor.storage.prepared import EncodedJSON, Prepared
from monitor.storage.schema import ArticleRow, EntityRow, MatchRow, MentionRow

RECORD_BATCH = 25  # articles stored per transaction: fewer commits, little redone after a crash
HTML_GZIP_LEVEL = 1  # kept HTML: level 6 costs 2.4x the CPU for ~12 % less space

# (watchlist, matched terms, alert verdict: None when the watchlist has no alert query)
Found = tuple[tuple[str, tuple[str, ...], bool | None], ...]

# --- the stages a worker holds -------------------------------------------------------------


@dataclass(frozen=True)
class Stages:
    """Everything but storage, built once per worker: the compiled entity list and queries,
    the dedup parameters, and whether raw HTML is kept (compressed) for re-extraction."""

    tagger: Tagger
    watchlists: tuple[WatchlistSpec, ...]
    dedup: dedup.DedupParams
    keep_html: bool


def stages_for(ctx: Context) -> Stages:
    return Stages(
        ctx.tagger,
        tuple(ctx.watchlists),
        ctx.dedup,
        ctx.keep_html and ctx.keep_html_days > 0,
    )


@dataclass(frozen=True)
class _Pending:
    id: int
    url: str
    feed_html: str
    attempts: int
    title: str = ""  # the feed's title, if any: tagging and matching see it
    source: str = ""


# One row of `mentions` as stored: (entity id, count, evidence as JSON text). Encoded in the
# worker: the storing process, the one serial step, neither encodes JSON nor unpickles a
# Mention object per mention.
_MentionRow = tuple[str, int, str]


@dataclass(frozen=True)
class _Analysis:
    """What the stages make of an extracted article; only storing it is left."""

    mentions: tuple[_MentionRow, ...]
    found: Found
    text_hash: str
    sig: dedup.Signature | None  # None: too short to compare
    story_keys: tuple[int, ...]
    page: str | None  # the page's own canonical link, canonicalised
    html_gz: bytes | None = None


@dataclass(frozen=True)
class _Outcome:
    pending: _Pending
    extracted: ExtractedText | None = None
    html: str = ""
    error: StageError | None = None
    analysis: _Analysis | None = None  # None: analysed in this process when stored


_Job = tuple[str, str, str, str, str]  # html, url, feed html, title, source
_STAGES: Stages | None = None


WORKER_NICENESS = 5  # pool workers yield the CPU to the process that fetches and stores


def init_worker(stages: Stages) -> None:
    """Process-pool initializer: the compiled entity list, queries and parameters, once per
    worker, so all the per-article CPU work runs on every core. Workers run at a lower
    priority: the storing process is the one serial step, and when it waits for a core every
    worker soon waits for it; at a lower priority they take whatever CPU it leaves."""
    global _STAGES
    _STAGES = stages
    with contextlib.suppress(OSError, AttributeError):  # not permitted, or not POSIX
        os.nice(WORKER_NICENESS)


def _analyse_one(job: _Job) -> tuple[ExtractedText, _Analysis] | ExtractError:
    """Run in a pool worker: extract, then analyse (the worker must have been initialised)."""
    if _STAGES is None:
        raise RuntimeError("pool worker started without init_worker")
    return analyse(job, _STAGES)


def analyse(job: _Job, stages: Stages) -> tuple[ExtractedText, _Analysis] | ExtractError:
    html, url, fallback, title, source = job
    r = _extract_one(html, url, fallback)
    if isinstance(r, ExtractError):
        return r
    return r, derive(stages, title or r.title, source, r, html)


def derive(stages: Stages, title: str, source: str, ex: ExtractedText, html: str) -> _Analysis:
    """Tags, watchlist and alert matches, text hash, dedup signature, story keys, the page's
    canonical URL, compressed HTML."""
    hits = tuple(stages.tagger.tag(document_text(title, ex.text)))
    keep = stages.keep_html and bool(html)
    return _Analysis(
        mention_rows(hits),
        _match_all(stages.watchlists, title, ex.text, source, hits),
        dedup.text_fingerprint(ex.text),
        dedup.signature(ex.text, stages.dedup),
        dedup.article_story_keys(title, ex.text, hits, stages.dedup),
        dedup.canonical_url(ex.canonical_url) if ex.canonical_url else None,
        gzip.compress(html.encode("utf-8"), HTML_GZIP_LEVEL) if keep else None,
    )


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
    pending = pending_articles(ctx, limit=limit)
    report = ProcessReport()
    if not pending:
        expire_html(ctx)
        return report
    ctx.progress(f"processing {len(pending)} article(s)")
    batch: list[_Outcome] = []
    stored, clustered = 0, dict[int, int]()
    for outcome in _fetch_and_extract(ctx, pending):
        batch.append(outcome)
        if len(batch) >= RECORD_BATCH:
            clustered |= _record_batch(ctx, batch, report)
            stored, batch = stored + len(batch), []
            if stored % 100 == 0:
                ctx.progress(f"  {stored}/{len(pending)} articles stored")
    if batch:
        clustered |= _record_batch(ctx, batch, report)
    settle_stories(ctx, clustered)
    expire_html(ctx)
    return report


def pending_articles(ctx: Context, *, limit: int | None = None) -> list[_Pending]:
    """The articles waiting to be processed, earliest published first (so the original of a
    group is usually processed before its copies; the outcome does not depend on it)."""
    with ctx.db.session() as s:
        now = ctx.clock()
        q = (
            select(ArticleRow)
            .where(
                ArticleRow.state == "pending",
                or_(ArticleRow.retry_at.is_(None), ArticleRow.retry_at <= now),
            )
            .order_by(
                func.coalesce(ArticleRow.feed_published_at, ArticleRow.discovered_at), ArticleRow.id
            )
        )
        return [
            _Pending(
                r.id, r.url, r.feed_content or r.feed_summary, r.attempts, r.title, r.source_name
            )
            for r in s.scalars(q.limit(limit) if limit else q)
        ]


def _fetch_and_extract(ctx: Context, pending: Sequence[_Pending]) -> Iterator[_Outcome]:
    """Fetched pages, analysed, in `pending` order. With a pool, the downloads run on an
    event loop in a background thread and each page goes to the pool as soon as it arrives,
    so downloading, analysing and the caller's storing all overlap."""
    executor = ctx.executor
    if executor is None:
        yield from _extract_all(ctx, asyncio.run(_fetch_pages(ctx, pending)))
        return
    arrived: dict[int, Future[_Outcome]] = {p.id: Future() for p in pending}
    jobs: dict[int, Future[tuple[ExtractedText, _Analysis] | ExtractError]] = {}

    def on_done(o: _Outcome) -> None:  # on the fetching thread
        if o.error is None or not _retry_page_later(o):
            jobs[o.pending.id] = executor.submit(_analyse_one, _job(o))
        arrived[o.pending.id].set_result(o)

    with ThreadPoolExecutor(1, thread_name_prefix="monitor-fetch") as fetcher:
        fetching = fetcher.submit(asyncio.run, _fetch_pages(ctx, pending, on_done=on_done))
        for p in pending:
            either: list[Future[Any]] = [arrived[p.id], fetching]
            wait(either, return_when=FIRST_COMPLETED)
            if not arrived[p.id].done():
                fetching.result()  # the fetching thread's error, if it died
                raise RuntimeError(f"fetching ended without an outcome for {p.url}")
            o = arrived[p.id].result()
            job = jobs.get(p.id)
            yield o if job is None else _with_extraction(o, job.result())


async def _fetch_pages(
    ctx: Context,
    pending: Sequence[_Pending],
    on_done: Callable[[_Outcome], None] | None = None,
) -> list[_Outcome]:
    limiter = fetch.HostLimiter(ctx.policy)
    policies = {s.name: ctx.policy_for(s.user_agent) for s in ctx.sources}
    async with ctx.http_client() as client:

        async def one(p: _Pending) -> _Outcome:
            policy = policies.get(p.source, ctx.policy)
            try:
                async with limiter.slot(p.url):  # raises RetryLaterError while held
                    await _check_robots(ctx, client, limiter, p.url, policy)
                    resp = await fetch.fetch(client, p.url, policy, accept=fetch.HTML_ACCEPT)
            except StageError as exc:
                if isinstance(exc, FetchError) and exc.retry_after_s is not None:
                    # 429/503 with Retry-After: the host that answered so (after redirects)
                    limiter.hold(exc.url or p.url, exc.retry_after_s)
                outcome = _Outcome(p, error=exc)
            else:
                html = fetch.decode_html(resp.body, resp.headers.get("content-type"))
                outcome = _Outcome(p, html=html)
            if on_done is not None:
                on_done(outcome)
            return outcome

        return list(await asyncio.gather(*(one(p) for p in pending)))


async def _check_robots(
    ctx: Context,
    client: httpx.AsyncClient,
    limiter: fetch.HostLimiter,
    url: str,
    policy: FetchPolicy | None = None,
) -> None:
    """Raise unless the host's robots.txt lets us fetch this page (cached per host); pass its
    Crawl-delay, if any, to the limiter for the host's next requests."""
    if ctx.robots is None:
        return
    rules = await ctx.robots.rules_for(client, url)
    if rules is None:  # 5xx or unreachable: RFC 9309 says assume disallowed, for now
        raise FetchError(f"{fetch.robots_url(url)} unreachable; page retried later", url=url)
    agent = (policy or ctx.policy).user_agent
    delay = rules.crawl_delay(agent)
    if delay:
        limiter.ask_delay(url, delay)
    if not rules.allows(url, agent):
        raise BlockedURLError(
            "robots.txt disallows this page for our User-Agent; the feed's text is used", url=url
        )


def _extract_one(html: str, url: str, fallback: str) -> ExtractedText | ExtractError:
    try:
        return extract.extract(html, url=url, fallback_html=fallback)
    except ExtractError as exc:
        return exc


def _extract_all(ctx: Context, fetched: list[_Outcome]) -> list[_Outcome]:
    """Analyse every fetched page; a failed page download falls back to the feed's content."""
    jobs: list[_Job | None] = []
    for o in fetched:
        if o.error is not None and _retry_page_later(o):
            jobs.append(None)
        else:
            jobs.append(_job(o))
    work = [j for j in jobs if j is not None]
    results: list[tuple[ExtractedText, _Analysis] | ExtractError]
    if ctx.executor is not None and len(work) > 1:
        results = list(ctx.executor.map(_analyse_one, work))
    else:
        stages = stages_for(ctx)
        results = [analyse(j, stages) for j in work]
    it = iter(results)
    return [
        o if job is None else _with_extraction(o, next(it))
        for o, job in zip(fetched, jobs, strict=True)
    ]


def _job(o: _Outcome) -> _Job:
    p = o.pending
    return (o.html, p.url, p.feed_html, p.title, p.source)


def _with_extraction(o: _Outcome, r: tuple[ExtractedText, _Analysis] | ExtractError) -> _Outcome:
    if isinstance(r, ExtractError):
        return _Outcome(o.pending, html=o.html, error=o.error or r)
    return _Outcome(o.pending, r[0], o.html, o.error, r[1])


def _retry_page_later(o: _Outcome) -> bool:
    """A temporary page failure is retried on a later pass before the feed text is used."""
    if isinstance(o.error, RetryLaterError):
        return True  # not requested: no attempt spent
    if o.pending.attempts + 1 >= MAX_PAGE_ATTEMPTS:
        return False
    if isinstance(o.error, BlockedURLError | TooLargeError):
        return False  # refused by rule (address, scheme, robots.txt) or by size: not temporary
    status = getattr(o.error, "status", None)
    return isinstance(o.error, FetchError) and (status is None or status >= 500 or status == 429)


# --- storing -----------------------------------------------------------------------------


def _record_batch(
    ctx: Context, outcomes: Sequence[_Outcome], report: ProcessReport
) -> dict[int, int]:
    """Store a batch of outcomes in one transaction, in order: each article is linked to the
    duplicates and stories stored before it, this batch's included (flushed one by one).
    Returns the originals put in a story by their words, each with the size of the story
    window it was weighed in (what `settle_stories` needs)."""
    now = ctx.clock()
    with ctx.db.session() as s:
        ids = [o.pending.id for o in outcomes]
        rows = {r.id: r for r in s.scalars(select(ArticleRow).where(ArticleRow.id.in_(ids)))}
        analysed: list[tuple[int, _Analysis]] = []
        for o in outcomes:
            row = rows[o.pending.id]
            row.attempts += not isinstance(o.error, RetryLaterError)
            row.retry_at = None
            if o.extracted is None:
                _record_failure(row, o, report, now)
                continue
            a = _record_article(ctx, s, row, o, now)
            report.duplicates += row.duplicate_of_id is not None
            report.processed += 1
            analysed.append((row.id, a))
            s.flush()
        _store_mentions(s, [(aid, a.mentions) for aid, a in analysed])
        report.matched += _store_matches(s, [(aid, a.found) for aid, a in analysed], now)
        return clustered_in(s)


def _record_failure(row: ArticleRow, o: _Outcome, report: ProcessReport, now: datetime) -> None:
    row.last_error = str(o.error)
    if _retry_page_later(o):
        report.retrying += 1
        wait = getattr(o.error, "retry_after_s", None)
        if wait is not None:  # not before the server's Retry-After (capped)
            row.retry_at = now + timedelta(seconds=min(wait, fetch.MAX_RETRY_AFTER_S))
    else:
        row.state = "failed"
        report.failed[row.url] = str(o.error)


def _record_article(
    ctx: Context, s: Session, row: ArticleRow, o: _Outcome, now: datetime
) -> _Analysis:
    """Store one extracted article and link it; returns its analysis (made here when the
    outcome came without one: an imported article)."""
    ex = o.extracted
    assert ex is not None
    a = o.analysis or derive(stages_for(ctx), row.title or ex.title, row.source_name, ex, o.html)
    _apply_extraction(row, ex, a.text_hash)
    if a.html_gz is not None:
        row.html_gz = a.html_gz
    if o.error is not None:
        row.last_error = str(o.error)
    _link_duplicate(ctx, s, row, ex, (), now, sig=a.sig, keys=a.story_keys, page=a.page)
    row.state, row.processed_at = "processed", now
    return a


def document_text(title: str, text: str) -> str:
    """The string tagged for an article: mention offsets count from the title's first char."""
    return f"{title}\n\n{text}" if title else text


def _apply_extraction(row: ArticleRow, ex: ExtractedText, text_hash: str) -> None:
    row.title = row.title or ex.title
    row.text = ex.text
    row.author = ex.author
    row.language = ex.language
    row.site_name = ex.site_name
    row.extraction_method = ex.method
    row.published_at, row.date_source = extract.choose_published(
        row.feed_published_at, ex.published_at, row.url
    )
    row.text_hash = text_hash


def mention_rows(hits: Sequence[EntityHit]) -> tuple[_MentionRow, ...]:
    """The `mentions` rows of one article's hits, evidence (offsets, surface) as JSON."""
    dumps = json.dumps
    return tuple(
        (
            h.id,
            h.count,
            dumps([{"start": m.start, "end": m.end, "text": m.text} for m in h.mentions]),
        )
        for h in hits
    )


def _store_mentions(s: Session, rows: Sequence[tuple[int, Sequence[_MentionRow]]]) -> None:
    """Replace the articles' mentions: one delete and one bulk insert for the whole batch."""
    if not rows:
        return
    s.execute(delete(MentionRow).where(MentionRow.article_id.in_([aid for aid, _ in rows])))
    values = [
        {"article_id": aid, "entity_id": entity, "count": count, "evidence": evidence}
        for aid, mentions in rows
        for entity, count, evidence in mentions
    ]
    if values:
        s.flush()
        _INSERT_MENTIONS.execute(s, values)


def _match_all(
    watchlists: Sequence[WatchlistSpec],
    title: str,
    text: str,
    source: str,
    hits: Sequence[EntityHit],
) -> Found:
    """(watchlist, matched terms, alert verdict) for every watchlist covering `source` that
    matches; the verdict says whether the watchlist's alert query matches too."""
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
            verdict = None if w.alert is None else w.alert.match_prepared(doc) is not None
            found.append((w.name, m.terms, verdict))
    return tuple(found)


def _store_matches(s: Session, found: Sequence[tuple[int, Found]], now: datetime) -> int:
    """Insert the new (watchlist, article) matches; returns how many. A match whose alert
    verdict is no is marked considered (`alerted_at`) at once: the alert step skips it."""
    wanted = {(name, aid): (terms, verdict) for aid, f in found for name, terms, verdict in f}
    if not wanted:
        return 0
    existing = set(
        s.execute(
            select(MatchRow.watchlist, MatchRow.article_id).where(  # the unique index's order
                MatchRow.watchlist.in_({name for name, _ in wanted}),
                MatchRow.article_id.in_({aid for _, aid in wanted}),
            )
        ).all()
    )
    values = [
        {
            "watchlist": name,
            "article_id": aid,
            "matched_at": now,
            "terms": list(terms),
            "alert_worthy": verdict,
            "alerted_at": now if verdict is False else None,
        }
        for (name, aid), (terms, verdict) in wanted.items()
        if (name, aid) not in existing
    ]
    if values:
        s.flush()
        _INSERT_MATCHES.execute(s, values)
    return len(values)


# Bulk inserts on the DBAPI cursor (the session is flushed before them): through the ORM the
# per-row work was most of the batch's storing time besides dedup.
# `evidence` arrives as JSON text (see mention_rows): bound as it is, not encoded again.
_INSERT_MENTIONS = Prepared(
    insert(MentionRow).values(
        {
            "article_id": bindparam("article_id"),
            "entity_id": bindparam("entity_id"),
            "count": bindparam("count"),
            "evidence": bindparam("evidence", type_=EncodedJSON()),
        }
    )
)
_INSERT_MATCHES = Prepared(
    insert(MatchRow).values(
        {
            c: bindparam(c)
            for c in (
                "watchlist",
                "article_id",
                "matched_at",
                "terms",
                "alert_worthy",
                "alerted_at",
            )
        }
    )
)


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
