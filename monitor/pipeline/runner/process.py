"""Processing pending articles: fetch pages, analyse them in a process pool, store in batches.

Pool workers extract, tag, match (watchlist and alert queries), sign for dedup and compress
the HTML: everything pure. This process fetches (on a background event-loop thread, so
downloads overlap the storing) and stores; one transaction per RECORD_BATCH articles.
One broken page falls back to the feed's text or is recorded; the batch goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from monitor.errors import (
    BlockedURLError,
    ExtractError,
    FetchError,
    StageError,
)
from monitor.models import (
    ArticleHeader,
    ExtractedFields,
    ExtractedText,
    FetchPolicy,
    PendingArticle,
)
from monitor.pipeline import bounds, extract, fetch, retry
from monitor.pipeline.runner.analysis import (
    Analysis,
    Job,
    analyse,
    analyse_in_worker,
    derive,
    stages_for,
)
from monitor.pipeline.runner.context import (
    MAX_PAGE_ATTEMPTS,
    Context,
    ProcessReport,
    describe,
    log,
)
from monitor.pipeline.runner.stories import link, settle_stories
from monitor.storage import articles
from monitor.storage.engine import Tx

RECORD_BATCH = 25  # articles stored per transaction: fewer commits, little redone after a crash


@dataclass(frozen=True)
class Outcome:
    """A pending article after fetching and analysing: its extraction and analysis, or the
    error that stopped it (with an extraction too when the feed's text stood in)."""

    pending: PendingArticle
    extracted: ExtractedText | None = None
    html: str = ""
    error: StageError | None = None
    analysis: Analysis | None = None  # None: analysed in this process when stored


def sync_entities(ctx: Context) -> None:
    """Mirror the entity list into the database so mentions always resolve to a name."""
    with ctx.db.transaction() as tx:
        articles.sync_entities(tx, ctx.entity_rows)


def process(ctx: Context, *, limit: int | None = None) -> ProcessReport:
    """Fetch, extract, dedupe, tag and match every pending article."""
    sync_entities(ctx)
    pending = pending_articles(ctx, limit=limit)
    report = ProcessReport()
    if not pending:
        expire_html(ctx)
        return report
    ctx.progress(f"processing {len(pending)} article(s)")
    batch: list[Outcome] = []
    stored, clustered = 0, dict[int, int]()
    for outcome in _fetch_and_extract(ctx, pending):
        batch.append(outcome)
        if len(batch) >= RECORD_BATCH:
            clustered |= record_batch(ctx, batch, report)
            stored, batch = stored + len(batch), []
            if stored % 100 == 0:
                ctx.progress(f"  {stored}/{len(pending)} articles stored")
    if batch:
        clustered |= record_batch(ctx, batch, report)
    settle_stories(ctx, clustered)
    expire_html(ctx)
    return report


def pending_articles(ctx: Context, *, limit: int | None = None) -> list[PendingArticle]:
    """The articles waiting to be processed, earliest published first (so the original of a
    group is usually processed before its copies; the outcome does not depend on it)."""
    with ctx.db.transaction() as tx:
        return articles.pending(tx, ctx.clock(), limit)


def _fetch_and_extract(ctx: Context, pending: Sequence[PendingArticle]) -> Iterator[Outcome]:
    """Fetched pages, analysed, in `pending` order. With a pool, the downloads run on an
    event loop in a background thread and each page goes to the pool as soon as it arrives,
    so downloading, analysing and the caller's storing all overlap."""
    executor = ctx.executor
    if executor is None:
        yield from extract_all(ctx, asyncio.run(fetch_pages(ctx, pending)))
        return
    arrived: dict[int, Future[Outcome]] = {p.id: Future() for p in pending}
    jobs: dict[int, Future[tuple[ExtractedText, Analysis] | ExtractError]] = {}

    def on_done(o: Outcome) -> None:  # on the fetching thread
        if o.error is None or not _retry_page_later(o):
            jobs[o.pending.id] = executor.submit(analyse_in_worker, job_for(o))
        arrived[o.pending.id].set_result(o)

    with ThreadPoolExecutor(1, thread_name_prefix="monitor-fetch") as fetcher:
        fetching = fetcher.submit(asyncio.run, fetch_pages(ctx, pending, on_done=on_done))
        for p in pending:
            either: list[Future[Any]] = [arrived[p.id], fetching]
            wait(either, return_when=FIRST_COMPLETED)
            if not arrived[p.id].done():
                fetching.result()  # the fetching thread's error, if it died
                raise RuntimeError(f"fetching ended without an outcome for {p.url}")
            o = arrived[p.id].result()
            job = jobs.get(p.id)
            yield o if job is None else with_extraction(o, job.result())


async def fetch_pages(
    ctx: Context,
    pending: Sequence[PendingArticle],
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    limiter = fetch.HostLimiter(ctx.policy)
    policies = {s.name: ctx.policy_for(s.user_agent) for s in ctx.sources}
    async with ctx.http_client() as client:

        async def one(p: PendingArticle) -> Outcome:
            policy = policies.get(p.source, ctx.policy)
            try:
                async with limiter.slot(p.url):  # raises RetryLaterError while held
                    await check_robots(ctx, client, limiter, p.url, policy)
                    resp = await fetch.fetch(client, p.url, policy, accept=fetch.HTML_ACCEPT)
                html = fetch.decode_html(resp.body, resp.headers.get("content-type"))
                outcome = Outcome(p, html=html)
            except StageError as exc:
                if isinstance(exc, FetchError) and exc.retry_after_s is not None:
                    # 429/503 with Retry-After: the host that answered so (after redirects)
                    limiter.hold(exc.url or p.url, exc.retry_after_s)
                outcome = Outcome(p, error=exc)
            except Exception as exc:  # one poisoned page never stops the rest
                log.debug("fetching %s failed", p.url, exc_info=True)
                outcome = Outcome(p, error=FetchError(f"fetch failed: {describe(exc)}", url=p.url))
            if on_done is not None:
                on_done(outcome)
            return outcome

        return list(await asyncio.gather(*(one(p) for p in pending)))


async def check_robots(
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


def extract_all(ctx: Context, fetched: list[Outcome]) -> list[Outcome]:
    """Analyse every fetched page; a failed page download falls back to the feed's content."""
    jobs: list[Job | None] = []
    for o in fetched:
        if o.error is not None and _retry_page_later(o):
            jobs.append(None)
        else:
            jobs.append(job_for(o))
    work = [j for j in jobs if j is not None]
    results: list[tuple[ExtractedText, Analysis] | ExtractError]
    if ctx.executor is not None and len(work) > 1:
        results = list(ctx.executor.map(analyse_in_worker, work))
    else:
        stages = stages_for(ctx)
        results = [analyse(j, stages) for j in work]
    it = iter(results)
    return [
        o if job is None else with_extraction(o, next(it))
        for o, job in zip(fetched, jobs, strict=True)
    ]


def job_for(o: Outcome) -> Job:
    p = o.pending
    return Job(o.html, p.url, p.feed_html, p.title, p.source)


def with_extraction(o: Outcome, r: tuple[ExtractedText, Analysis] | ExtractError) -> Outcome:
    if isinstance(r, ExtractError):
        return Outcome(o.pending, html=o.html, error=o.error or r)
    return Outcome(o.pending, r[0], o.html, o.error, r[1])


def _retry_page_later(o: Outcome) -> bool:
    """A temporary page failure is retried on a later pass before the feed text is used."""
    if o.error is None:
        return False
    return retry.retry_page_later(
        o.error, attempts=o.pending.attempts + 1, max_attempts=MAX_PAGE_ATTEMPTS
    )


# --- storing -----------------------------------------------------------------------------


def record_batch(
    ctx: Context, outcomes: Sequence[Outcome], report: ProcessReport
) -> dict[int, int]:
    """Store a batch of outcomes in one transaction, in order: each article is linked to the
    duplicates and stories stored before it, this batch's included. Returns the originals
    put in a story by their words, each with the size of the story window it was weighed in
    (what `settle_stories` needs).

    When the batch cannot be stored (a value the database refuses, a bug), it is stored again
    one article per transaction, so that only the poisoned article is left out: it gets the
    error, with a retry later (a passing fault) until MAX_PAGE_ATTEMPTS, then fails for good.
    """
    mine = ProcessReport()
    try:
        clustered = _store_batch(ctx, outcomes, mine)
    except Exception as exc:  # find the poisoned article, store the rest
        if len(outcomes) == 1:
            _record_poisoned(ctx, outcomes[0], exc, report)
            return {}
        log.debug("storing a batch of %d failed; one by one", len(outcomes), exc_info=True)
        clustered = {}
        for o in outcomes:
            clustered |= record_batch(ctx, [o], report)
        return clustered
    report.add(mine)
    return clustered


def _record_poisoned(ctx: Context, o: Outcome, exc: Exception, report: ProcessReport) -> None:
    """An article whose outcome could not be stored: the error on the article, retried on a
    later pass (with back-off) until it has had MAX_PAGE_ATTEMPTS, then failed."""
    error = bounds.error_text(f"could not store: {describe(exc)}")
    log.warning("article %s: %s", o.pending.url, error)
    attempts = o.pending.attempts + 1
    failed = attempts >= MAX_PAGE_ATTEMPTS
    now = ctx.clock()
    retry_at = None if failed else now + retry.redelivery_delay(attempts)
    try:
        with ctx.db.transaction() as tx:
            articles.record_failure(
                tx, o.pending.id, error, attempted=True, retry_at=retry_at, failed=failed
            )
    except Exception:  # the database itself is failing: the cycle reports it
        log.warning("article %s: recording its failure failed too", o.pending.url, exc_info=True)
    if failed:
        report.failed[o.pending.url] = error
    else:
        report.retrying += 1


def _store_batch(
    ctx: Context, outcomes: Sequence[Outcome], report: ProcessReport
) -> dict[int, int]:
    now = ctx.clock()
    clustered: dict[int, int] = {}
    with ctx.db.transaction() as tx:
        headers = articles.load(tx, [o.pending.id for o in outcomes])
        analysed: list[tuple[int, Analysis]] = []
        for o in outcomes:
            header = headers[o.pending.id]
            attempted = retry.spends_attempt(o.error)
            if o.extracted is None:
                _record_failure(tx, header, o, report, now, attempted)
                continue
            a = o.analysis or derive(
                stages_for(ctx),
                header.title or o.extracted.title,
                header.source,
                o.extracted,
                o.html,
            )
            subject = articles.record_extracted(
                tx,
                header.id,
                extracted_fields(header, o.extracted, a.text_hash),
                attempted=attempted,
                html_gz=a.html_gz,
                error=None if o.error is None else bounds.error_text(str(o.error)),
                page=a.page,
            )
            seen = link(ctx.dedup, tx, subject, now, sig=a.sig, keys=a.story_keys)
            if seen is not None:
                clustered[header.id] = seen
            report.duplicates += articles.mark_processed(tx, header.id, now)
            report.processed += 1
            analysed.append((header.id, a))
        articles.store_mentions(tx, [(aid, a.mentions) for aid, a in analysed])
        report.matched += articles.store_matches(tx, [(aid, a.found) for aid, a in analysed], now)
    return clustered


def _record_failure(
    tx: Tx,
    header: ArticleHeader,
    o: Outcome,
    report: ProcessReport,
    now: datetime,
    attempted: bool,
) -> None:
    retry_at = None
    later = _retry_page_later(o)
    if later:
        report.retrying += 1
        assert o.error is not None
        retry_at = retry.page_retry_at(o.error, now)  # not before the server's Retry-After
    error = bounds.error_text(str(o.error))
    if not later:
        report.failed[header.url] = error
    articles.record_failure(
        tx, header.id, error, attempted=attempted, retry_at=retry_at, failed=not later
    )


def extracted_fields(header: ArticleHeader, ex: ExtractedText, text_hash: str) -> ExtractedFields:
    """What extraction sets on an article: the feed's title unless it had none, the text and
    metadata, and the published time chosen from the feed's, the page's and the URL's."""
    published_at, date_source = extract.choose_published(
        header.feed_published_at, ex.published_at, header.url
    )
    return ExtractedFields(
        title=header.title or ex.title,
        text=ex.text,
        author=ex.author,
        language=ex.language,
        site_name=ex.site_name,
        extraction_method=ex.method,
        published_at=published_at,
        date_source=date_source,
        text_hash=text_hash,
    )


def expire_html(ctx: Context) -> int:
    """Drop raw HTML of articles processed more than `keep_html_days` ago (0: all of it)."""
    cutoff = ctx.clock() - timedelta(days=max(0, ctx.keep_html_days))
    with ctx.db.transaction() as tx:
        return articles.expire_html(tx, cutoff)
