"""The one pipeline module that touches storage: polls due sources, processes pending articles.

Stages stay pure; this module loads their inputs, calls them in order and records outcomes.
One broken source or page is recorded on its row and never stops the rest of the batch.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import httpx
from sqlalchemy import (
    Integer,
    Select,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    union,
    union_all,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from monitor.errors import (
    BlockedURLError,
    ExtractError,
    FeedError,
    FetchError,
    StageError,
    TooLargeError,
)
from monitor.models import (
    EntityHit,
    ExtractedText,
    FeedEntry,
    FetchPolicy,
    HttpResponse,
    MatchDoc,
    ParsedFeed,
    Validators,
)
from monitor.pipeline import backoff, dedup, extract, feeds, fetch
from monitor.pipeline.match import Query, prepare
from monitor.pipeline.tag import Tagger
from monitor.storage.engine import Database
from monitor.storage.schema import (
    ArticleRow,
    BandRow,
    EntityRow,
    MatchRow,
    MentionRow,
    SignatureRow,
    SourceRow,
    StoryKeyRow,
    StoryRow,
)

log = logging.getLogger("monitor.runner")
MAX_PAGE_ATTEMPTS = 3


@dataclass(frozen=True)
class SourceSpec:
    """What the runner needs of a configured source."""

    name: str
    url: str
    interval: timedelta
    user_agent: str | None = None
    adaptive: bool = True  # the interval follows how often the source publishes


@dataclass(frozen=True)
class WatchlistSpec:
    """A watchlist's compiled query and the sources it covers (None = all)."""

    name: str
    query: Query
    sources: frozenset[str] | None = None


@dataclass
class Context:
    """Everything the runner needs, injected by the composition root (or a test)."""

    db: Database
    sources: Sequence[SourceSpec]
    watchlists: Sequence[WatchlistSpec]
    tagger: Tagger
    entity_rows: Sequence[tuple[str, str, str]]
    policy: FetchPolicy
    clock: Callable[[], datetime]
    http_client: Callable[[], httpx.AsyncClient]
    executor: Executor | None = None
    progress: Callable[[str], None] = field(default=lambda _msg: None)
    keep_html: bool = True
    keep_html_days: int = 30  # raw HTML older than this is dropped at the end of `process`
    robots: fetch.RobotsCache | None = None  # None: robots.txt not consulted for pages
    dedup: dedup.DedupParams = field(default_factory=dedup.DedupParams)


@dataclass
class PollReport:
    polled: int = 0
    not_modified: int = 0
    new_articles: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)


@dataclass
class ProcessReport:
    processed: int = 0
    duplicates: int = 0
    matched: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    retrying: int = 0


# --- poll -----------------------------------------------------------------------------


def sync_sources(ctx: Context) -> None:
    """Make a row for every configured source; keep fetch state of known ones."""
    with ctx.db.session() as s:
        rows = {r.name: r for r in s.scalars(select(SourceRow))}
        for spec in ctx.sources:
            row = rows.get(spec.name)
            if row is None:
                s.add(SourceRow(name=spec.name, url=spec.url))
            elif row.url != spec.url:
                row.url, row.etag, row.last_modified = spec.url, None, None


def _due(ctx: Context, only: str | None, force: bool) -> list[tuple[SourceSpec, Validators]]:
    now = ctx.clock()
    specs = {s.name: s for s in ctx.sources}
    out = []
    with ctx.db.session() as s:
        for row in s.scalars(select(SourceRow).order_by(SourceRow.name)):
            spec = specs.get(row.name)
            if spec is None or (only is not None and row.name != only):
                continue
            waiting = row.next_check_at is not None and row.next_check_at > now
            # Retry-After is a promise to the server: even a forced poll keeps it.
            if waiting and (not force or row.last_status in (429, 503)):
                continue
            out.append((spec, Validators(row.etag, row.last_modified)))
    return out


def poll(ctx: Context, *, only: str | None = None, force: bool = False) -> PollReport:
    """Poll due sources (all named ones with `force`), store their new entries."""
    sync_sources(ctx)
    due = _due(ctx, only, force)
    report = PollReport()
    if not due:
        return report
    ctx.progress(f"polling {len(due)} source(s)")
    results = asyncio.run(_fetch_feeds(ctx, due))
    for (spec, _), result in zip(due, results, strict=True):
        report.polled += 1
        _record_poll(ctx, spec, result, report)
    return report


async def _fetch_feeds(
    ctx: Context, due: Sequence[tuple[SourceSpec, Validators]]
) -> list[HttpResponse | StageError]:
    limiter = fetch.HostLimiter(ctx.policy)
    async with ctx.http_client() as client:

        async def one(spec: SourceSpec, validators: Validators) -> HttpResponse | StageError:
            policy = ctx.policy
            if spec.user_agent:
                policy = FetchPolicy(**{**policy.__dict__, "user_agent": spec.user_agent})
            try:
                async with limiter.slot(spec.url):
                    return await fetch.fetch(
                        client, spec.url, policy, validators, accept=fetch.FEED_ACCEPT
                    )
            except StageError as exc:
                return exc

        return list(await asyncio.gather(*(one(spec, v) for spec, v in due)))


def _record_poll(
    ctx: Context, spec: SourceSpec, result: HttpResponse | StageError, report: PollReport
) -> None:
    now = ctx.clock()
    parsed: ParsedFeed | None = None
    error: StageError | None = result if isinstance(result, StageError) else None
    if isinstance(result, HttpResponse) and not result.not_modified:
        try:
            parsed = feeds.parse_feed(result.body, url=result.final_url, headers=result.headers)
        except FeedError as exc:
            error = exc
    with ctx.db.session() as s:
        row = s.scalars(select(SourceRow).where(SourceRow.name == spec.name)).one()
        row.last_polled_at = now
        if error is not None:
            _record_source_error(row, spec, error, now)
            report.failed[spec.name] = str(error)
            return
        assert isinstance(result, HttpResponse)
        row.last_status = 304 if result.not_modified else result.status
        row.error_count, row.last_error, row.last_success_at = 0, None, now
        _schedule_success(row, spec, result, parsed, now)
        if result.not_modified:
            report.not_modified += 1
            return
        row.etag, row.last_modified = result.validators.etag, result.validators.last_modified
        assert parsed is not None
        row.feed_ttl_s = parsed.ttl_minutes * 60 if parsed.ttl_minutes else None
        row.warning = parsed.warning
        if parsed.warning:
            report.warnings[spec.name] = parsed.warning
        added = _store_entries(s, row, parsed.entries, now)
        row.items_seen += added
        report.new_articles += added


def _schedule_success(
    row: SourceRow,
    spec: SourceSpec,
    result: HttpResponse,
    parsed: ParsedFeed | None,
    now: datetime,
) -> None:
    """Next check after a good poll: the (adaptive) interval, no sooner than the server's own
    freshness (Cache-Control max-age, Expires, RSS <ttl>), all bounded by the back-off cap."""
    interval = spec.interval
    if spec.adaptive:
        if parsed is not None:
            dates = [e.published_at for e in parsed.entries]
            learned = backoff.adaptive_interval(dates, now=now, base=spec.interval)
            row.poll_interval_s = int(learned.total_seconds())
        if row.poll_interval_s:
            interval = timedelta(seconds=row.poll_interval_s)
    floors = [fetch.freshness_s(result.headers)]
    if parsed is not None and parsed.ttl_minutes:
        floors.append(parsed.ttl_minutes * 60.0)
    elif result.not_modified and row.feed_ttl_s:
        floors.append(float(row.feed_ttl_s))
    fresh = max((f for f in floors if f is not None), default=None)
    row.next_check_at = backoff.next_check(now, error_count=0, interval=interval, fresh_for_s=fresh)


def _record_source_error(
    row: SourceRow, spec: SourceSpec, error: StageError, now: datetime
) -> None:
    row.error_count += 1
    row.last_error = str(error)
    status = getattr(error, "status", None)
    row.last_status = status
    retry_after = getattr(error, "retry_after_s", None)
    row.next_check_at = backoff.next_check(
        now, error_count=row.error_count, interval=spec.interval, retry_after_s=retry_after
    )
    log.warning("source %r failed: %s (next check %s)", spec.name, error, row.next_check_at)


def _store_entries(
    s: Session, source: SourceRow, entries: Sequence[FeedEntry], now: datetime
) -> int:
    added = 0
    for entry in entries:
        canon = dedup.canonical_url(entry.url)
        clauses = [ArticleRow.canonical_url == canon]
        if entry.guid:
            clauses.append((ArticleRow.source_id == source.id) & (ArticleRow.guid == entry.guid))
        if s.scalar(select(ArticleRow.id).where(or_(*clauses)).limit(1)) is not None:
            continue
        s.add(
            ArticleRow(
                source_id=source.id,
                source_name=source.name,
                guid=entry.guid,
                url=entry.url,
                canonical_url=canon,
                title=entry.title,
                feed_summary=entry.summary,
                feed_content=entry.content_html,
                feed_published_at=entry.published_at,
                discovered_at=now,
                state="pending",
            )
        )
        s.flush()
        added += 1
    return added


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


# --- duplicates and stories -------------------------------------------------------------

MAX_NEAR_CANDIDATES = 200  # a flooded bucket (shared boilerplate) must not stall a lookup
# Counting a window's articles stops here: past it, "rare" means under a share of this many,
# so a busy week costs the same as a quiet one.
STORY_WINDOW_SAMPLE = 2000
STORY_KEY_TYPES = frozenset({"armed_group", "state_org", "person", "international_org", "media"})


def _link_duplicate(
    ctx: Context,
    s: Session,
    row: ArticleRow,
    ex: ExtractedText,
    hits: Sequence[EntityHit],
    now: datetime,
) -> None:
    """Link a copy to its group's original (tiers 1-3), put the article in a story, index it.

    Groups and stories are the connected parts of a symmetric relation, and the original is
    the earliest published member, so the outcome does not depend on processing order.
    Lookups read plain rows through prepared Core statements, not ORM objects: one statement
    finds the identity matches and the LSH candidates with their sketches.
    """
    p = ctx.dedup
    if ex.canonical_url:
        page = dedup.canonical_url(ex.canonical_url)
        row.page_canonical_url = page if page != row.canonical_url else None
    at = _article_time(row)
    sig = dedup.signature(row.text, p)
    found = _lookup(s, row, sig)
    copies = {o.id: o for o, _, same in found if same}
    exact = any(o.text_hash == row.text_hash for o in copies.values())
    related: dict[int, _Other] = {}
    sig = None if exact else sig
    if sig is not None:
        for other, sim in _near_matches(s, row, sig, [(o, st) for o, st, _ in found], p):
            if dedup.is_duplicate(sim, p):
                copies[other.id] = other
            elif sim.best >= p.story_similarity and abs(other.at - at) <= p.story_window:
                related[other.id] = other
    keys = () if exact else _story_keys(row, hits, p)
    stories = _story_key_matches(s, row, keys, at, p)
    _join_group(s, row, {o.duplicate_of_id or o.id for o in copies.values()})
    stories |= {o.story_id for o in [*copies.values(), *related.values()] if o.story_id is not None}
    _join_story(s, row, stories, now)
    _index_article(s, row, sig, keys, at)


@dataclass(frozen=True)
class _Other:
    """What linking needs of a stored article found by a lookup (a plain row, no ORM object)."""

    id: int
    text_hash: str | None
    duplicate_of_id: int | None
    story_id: int | None
    at: datetime  # published, or else discovered


_OTHER_COLUMNS = (
    ArticleRow.id,
    ArticleRow.text_hash,
    ArticleRow.duplicate_of_id,
    ArticleRow.story_id,
    func.coalesce(ArticleRow.published_at, ArticleRow.discovered_at),
)
_Stored = tuple[int, bytes] | None  # a candidate's sketch (shingle count, bytes), if any


def _article_time(row: ArticleRow) -> datetime:
    return row.published_at or row.discovered_at


@lru_cache(maxsize=32)
def _lookup_statement(
    null_hash: bool, page: bool, guid: bool, guid_url: bool, near: bool
) -> Select[int, str | None, int | None, int | None, datetime, int, bytes, bool]:
    """Tiers 1-3 in one statement: the processed articles that are the same page (canonical
    URL either way round, a global GUID) or text, found by a union of indexed lookups (an OR
    across columns would scan), and those sharing an LSH bucket (when `near`), each with its
    sketch and whether it is an identity match."""
    clauses = [
        ArticleRow.text_hash.is_(None) if null_hash else ArticleRow.text_hash == bindparam("h"),
        ArticleRow.page_canonical_url == bindparam("url"),
    ]
    if page:
        clauses.append(ArticleRow.canonical_url == bindparam("page"))
        clauses.append(ArticleRow.page_canonical_url == bindparam("page"))
    if guid:
        clauses.append(ArticleRow.guid == bindparam("guid"))
        if guid_url:
            clauses.append(ArticleRow.canonical_url == bindparam("guid_url"))
    parts = [select(ArticleRow.id).where(c) for c in clauses]
    if near:
        candidates = (
            select(BandRow.article_id)
            .where(
                BandRow.bucket.in_(bindparam("buckets", expanding=True)),
                BandRow.article_id != bindparam("me"),
            )
            .distinct()
            .limit(MAX_NEAR_CANDIDATES)
        )
        parts.append(select(candidates.subquery().c.article_id))
    return (
        select(*_OTHER_COLUMNS, SignatureRow.shingles, SignatureRow.sketch, or_(*clauses))
        .outerjoin(SignatureRow, SignatureRow.article_id == ArticleRow.id)
        .where(
            ArticleRow.id.in_(union(*parts)),
            ArticleRow.id != bindparam("me"),
            ArticleRow.state == "processed",
        )
    )


def _lookup(
    s: Session, row: ArticleRow, sig: dedup.Signature | None
) -> list[tuple[_Other, _Stored, bool]]:
    """Tiers 1-3: each article found, its stored sketch, and whether it is the same page or
    text. An identity match compared on its sketch too only confirms what it is already."""
    guid = dedup.guid_key(row.guid)
    guid_url = guid is not None and guid != row.canonical_url and guid.startswith("http")
    stmt = _lookup_statement(
        row.text_hash is None,
        bool(row.page_canonical_url),
        guid is not None,
        guid_url,
        sig is not None,
    )
    params = {
        "h": row.text_hash,
        "url": row.canonical_url,
        "page": row.page_canonical_url,
        "guid": row.guid,
        "guid_url": guid,
        "me": row.id,
        "buckets": [] if sig is None else list(sig.band_keys),
    }
    # The ORM session runs it, so the article's pending changes are flushed first.
    return [
        (
            _Other(aid, text_hash, dup, story, at),
            None if sketch is None else (shingles, sketch),
            bool(same),
        )
        for aid, text_hash, dup, story, at, shingles, sketch, same in s.execute(stmt, params)
    ]


def _near_matches(
    s: Session,
    row: ArticleRow,
    sig: dedup.Signature,
    found: Sequence[tuple[_Other, _Stored]],
    p: dedup.DedupParams,
) -> list[tuple[_Other, dedup.Similarity]]:
    """Tier 3: the articles found, verified on their stored sketches."""
    out = []
    mine = None
    for other, stored in found:
        if stored is None:
            continue
        shingles, sketch = stored
        sim = dedup.compare(sig, dedup.Signature(shingles, sketch, ()), p.sketch_size)
        if dedup.undecided(sim, p):
            # Rare (a bucket shared, yet no clear call): verify on the stored texts.
            mine = dedup.text_shingles(row.text, p) if mine is None else mine
            text = s.connection().scalar(_TEXT_OF, {"id": other.id}) or ""
            sim = dedup.exact_compare(mine, dedup.text_shingles(text, p))
        out.append((other, sim))
    return out


_TEXT_OF = select(ArticleRow.text).where(ArticleRow.id == bindparam("id"))


def _story_keys(
    row: ArticleRow, hits: Sequence[EntityHit], p: dedup.DedupParams
) -> tuple[int, ...]:
    lead = dedup.story_lead(row.title, row.text, p)
    # Mention offsets count from the title's first character, as the lead does.
    ids = frozenset(
        h.id
        for h in hits
        if h.type in STORY_KEY_TYPES and any(m.start < len(lead) for m in h.mentions)
    )
    return dedup.story_keys(lead, ids)


def _story_key_matches(
    s: Session, row: ArticleRow, keys: Sequence[int], at: datetime, p: dedup.DedupParams
) -> set[int]:
    """Stories of the articles inside the story window sharing enough of the window's rarer
    actors and names."""
    if len(keys) <= p.story_min_shared_keys:
        return set()
    window = (at - p.story_window, at + p.story_window, row.id)
    # A key in more window articles than the rare cap of the largest window count is never
    # rare, so the keys are counted that far at most, before the window's articles are.
    key_limit = dedup.rare_cap(STORY_WINDOW_SAMPLE, p) + 1
    df = _window_counts(s, [k for k in keys if k != dedup.ANY_KEY], window, key_limit)
    if len(df) < p.story_min_shared_keys:
        return set()  # too few keys in the window at all: none of its counts can change that
    need = _articles_needed(max(df.values()), p)
    articles = _window_counts(s, [dedup.ANY_KEY], window, need, slots=1).get(dedup.ANY_KEY, 0)
    rare = dedup.distinctive(df, articles, p)
    if len(rare) < p.story_min_shared_keys:
        return set()
    lo, hi, me = window
    found = s.connection().scalars(
        _story_match_statement(),
        {"keys": sorted(rare), "lo": lo, "hi": hi, "me": me, "n": p.story_min_shared_keys},
    )
    return {story for story in found if story is not None}


@lru_cache(maxsize=1)
def _story_match_statement() -> Select[Any]:
    """The stories of the articles sharing `n` of `keys` in the window, in one statement."""
    ids = (
        select(StoryKeyRow.article_id)
        .where(
            StoryKeyRow.key.in_(bindparam("keys", expanding=True)),
            StoryKeyRow.at >= bindparam("lo"),
            StoryKeyRow.at <= bindparam("hi"),
            StoryKeyRow.article_id != bindparam("me"),
        )
        .group_by(StoryKeyRow.article_id)
        .having(func.count() >= bindparam("n", type_=Integer))
        .limit(MAX_NEAR_CANDIDATES)
    )
    return select(ArticleRow.story_id).where(ArticleRow.id.in_(ids)).distinct()


_NO_KEY = 0  # pads a statement's key slots; no stored key hashes to it in practice
_COUNT_SLOTS = 16  # keys per counting statement; padded, so one compiled statement serves


@lru_cache(maxsize=4)
def _window_count_statement(slots: int) -> Select[Any]:
    """SELECT key, count(*) over a union of one bounded index range per key slot."""
    parts = [
        select(StoryKeyRow.key)
        .where(
            StoryKeyRow.key == bindparam(f"k{i}"),
            StoryKeyRow.at >= bindparam("lo"),
            StoryKeyRow.at <= bindparam("hi"),
            StoryKeyRow.article_id != bindparam("me"),
        )
        .limit(bindparam("lim", type_=Integer))
        .subquery()
        for i in range(slots)
    ]
    hits = union_all(*(select(part.c.key) for part in parts)).subquery()
    return select(hits.c.key, func.count()).group_by(hits.c.key)


def _articles_needed(most: int, p: dedup.DedupParams) -> int:
    """How far to count the window's articles to tell which keys are rare, when no key is in
    more than `most` of them: to `STORY_WINDOW_SAMPLE`, or sooner, to a count whose rare cap
    reaches `most` (every key is rare from there on, as the cap only grows with the count)."""
    share = p.story_max_key_share
    need = p.story_min_window_articles
    if share > 0:
        need = max(need, int(most / share) - 2)
    while need < STORY_WINDOW_SAMPLE and dedup.rare_cap(need, p) < most:
        need += 1
    return min(need, STORY_WINDOW_SAMPLE)


def _window_counts(
    s: Session,
    keys: Sequence[int],
    window: tuple[datetime, datetime, int],
    limit: int,
    slots: int = _COUNT_SLOTS,
) -> dict[int, int]:
    """Articles carrying each key in the window, counted up to `limit` (all a caller needs)."""
    lo, hi, me = window
    out: dict[int, int] = {}
    stmt = _window_count_statement(slots)
    conn = s.connection()
    for start in range(0, len(keys), slots):
        chunk = list(keys[start : start + slots])
        chunk += [_NO_KEY] * (slots - len(chunk))
        params = {f"k{i}": k for i, k in enumerate(chunk)}
        rows = conn.execute(stmt, {**params, "lo": lo, "hi": hi, "me": me, "lim": limit})
        out.update({key: n for key, n in rows if key != _NO_KEY})
    return out


def _original_order(a: ArticleRow) -> tuple[datetime, str]:
    # Published time first; the canonical URL breaks ties the same way in any order.
    return (_article_time(a), a.canonical_url)


def _join_group(s: Session, row: ArticleRow, roots: set[int]) -> None:
    """Merge `row` and the groups whose originals are `roots`; the earliest becomes original."""
    if not roots:
        row.duplicate_of_id = None
        return
    heads = list(s.scalars(select(ArticleRow).where(ArticleRow.id.in_(roots))))
    original = min([*heads, row], key=_original_order)
    for head in heads:
        if head is original:
            continue
        s.execute(
            update(ArticleRow)
            .where(ArticleRow.duplicate_of_id == head.id)
            .values(duplicate_of_id=original.id)
            .execution_options(synchronize_session="fetch")
        )
        head.duplicate_of_id = original.id
    original.duplicate_of_id = None
    if original is not row:
        row.duplicate_of_id = original.id
        return
    s.flush()


def _join_story(s: Session, row: ArticleRow, story_ids: set[int], now: datetime) -> None:
    """Put `row` in the story it belongs to; an article bridging stories merges them."""
    if not story_ids:
        row.story_id = s.connection().scalar(
            _NEW_STORY, {"created_at": now, "updated_at": now, "title": row.title}
        )
        return
    keep, *merged = sorted(story_ids)
    if merged:
        s.execute(
            update(ArticleRow)
            .where(ArticleRow.story_id.in_(merged))
            .values(story_id=keep)
            .execution_options(synchronize_session="fetch")
        )
    row.story_id = keep
    if merged:
        s.flush()
        s.execute(delete(StoryRow).where(StoryRow.id.in_(merged)))
    s.connection().execute(_TOUCH_STORY, {"story": keep, "at": now})
    loaded = s.identity_map.get(identity_key(StoryRow, keep))
    if loaded is not None:  # a StoryRow this session holds sees the change too
        set_committed_value(loaded, "updated_at", now)


_NEW_STORY = insert(StoryRow).returning(StoryRow.id)
_TOUCH_STORY = (
    update(StoryRow).where(StoryRow.id == bindparam("story")).values(updated_at=bindparam("at"))
)


def _index_article(
    s: Session,
    row: ArticleRow,
    sig: dedup.Signature | None,
    keys: Sequence[int],
    at: datetime,
) -> None:
    """Store the sketch, LSH buckets and story keys: the index every process shares."""
    conn = s.connection()
    if sig is not None:
        conn.execute(
            insert(SignatureRow),
            [{"article_id": row.id, "shingles": sig.shingles, "sketch": sig.sketch}],
        )
        conn.execute(insert(BandRow), [{"bucket": k, "article_id": row.id} for k in sig.band_keys])
    if keys:
        conn.execute(
            insert(StoryKeyRow),
            [{"key": k, "at": at, "article_id": row.id} for k in dict.fromkeys(keys)],
        )


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


def reextract(ctx: Context, *, batch: int = 200) -> ProcessReport:
    """Redo extraction, tagging and matching of processed articles from their stored HTML,
    without refetching (after an extractor upgrade). Articles whose HTML has expired are left
    as they are; duplicate links and stories are kept. `processed` counts the redone ones."""
    sync_entities(ctx)
    report = ProcessReport()
    last_id = 0
    while True:
        with ctx.db.session() as s:
            rows = s.execute(
                select(
                    ArticleRow.id,
                    ArticleRow.url,
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
                _Pending(r.id, r.url, r.feed_content or r.feed_summary, MAX_PAGE_ATTEMPTS),
                html=gzip.decompress(r.html_gz).decode("utf-8", errors="replace"),
            )
            for r in rows
        ]
        for o in _extract_all(ctx, stored):
            _rerecord(ctx, o, report)
        ctx.progress(f"  {len(report.failed) + report.processed} articles re-extracted")


def _rerecord(ctx: Context, o: _Outcome, report: ProcessReport) -> None:
    with ctx.db.session() as s:
        row = s.get_one(ArticleRow, o.pending.id)
        if o.extracted is None:
            report.failed[row.url] = str(o.error)
            return
        _apply_extraction(row, o.extracted)
        hits = _hits(ctx, o, row)
        _store_mentions(s, row, hits)
        report.matched += _store_matches(ctx, s, row, hits, ctx.clock(), o.matches)
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
        _record_article(ctx, outcome, report)
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


def backtest(
    ctx: Context, query: Query, *, since: datetime | None = None, limit: int = 50
) -> list[Hit]:
    """Run a query over stored articles, newest first, as if they had just been processed."""
    hits: list[Hit] = []
    with ctx.db.session() as s:
        q = select(ArticleRow).where(ArticleRow.state == "processed")
        if since is not None:
            q = q.where(ArticleRow.processed_at >= since)
        types = {r.id: r.type for r in s.scalars(select(EntityRow))}
        for row in s.scalars(q.order_by(ArticleRow.processed_at.desc(), ArticleRow.id.desc())):
            ids = frozenset(
                s.scalars(select(MentionRow.entity_id).where(MentionRow.article_id == row.id))
            )
            doc = MatchDoc(
                title=row.title,
                text=row.text,
                source=row.source_name,
                entity_ids=ids,
                entity_types=frozenset(types[i] for i in ids if i in types),
            )
            m = query.match(doc)
            if m is not None:
                hits.append(
                    Hit(row.id, row.url, row.title, row.source_name, row.processed_at, m.terms)
                )
                if len(hits) >= limit:
                    break
    return hits
