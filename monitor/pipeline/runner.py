"""The one pipeline module that touches storage: polls due sources, processes pending articles.

Stages stay pure; this module loads their inputs, calls them in order and records outcomes.
One broken source or page is recorded on its row and never stops the rest of the batch.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

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

from monitor.errors import ExtractError, FeedError, FetchError, StageError
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
from monitor.pipeline.match import Query
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
        row.next_check_at = backoff.next_check(now, error_count=0, interval=spec.interval)
        if result.not_modified:
            report.not_modified += 1
            return
        row.etag, row.last_modified = result.validators.etag, result.validators.last_modified
        assert parsed is not None
        row.warning = parsed.warning
        if parsed.warning:
            report.warnings[spec.name] = parsed.warning
        added = _store_entries(s, row, parsed.entries, now)
        row.items_seen += added
        report.new_articles += added


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


@dataclass(frozen=True)
class _Outcome:
    pending: _Pending
    extracted: ExtractedText | None = None
    html: str = ""
    error: StageError | None = None


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
            _Pending(r.id, r.url, r.feed_content or r.feed_summary, r.attempts) for r in rows
        ]
    report = ProcessReport()
    if not pending:
        return report
    ctx.progress(f"processing {len(pending)} article(s)")
    outcomes = _extract_all(ctx, asyncio.run(_fetch_pages(ctx, pending)))
    for i, outcome in enumerate(outcomes, 1):
        _record_article(ctx, outcome, report)
        if i % 50 == 0:
            ctx.progress(f"  {i}/{len(outcomes)} articles stored")
    return report


async def _fetch_pages(ctx: Context, pending: Sequence[_Pending]) -> list[_Outcome]:
    limiter = fetch.HostLimiter(ctx.policy)
    async with ctx.http_client() as client:

        async def one(p: _Pending) -> _Outcome:
            try:
                async with limiter.slot(p.url):
                    resp = await fetch.fetch(client, p.url, ctx.policy, accept=fetch.HTML_ACCEPT)
            except StageError as exc:
                return _Outcome(p, error=exc)
            html = fetch.decode_html(resp.body, resp.headers.get("content-type"))
            return _Outcome(p, html=html)

        return list(await asyncio.gather(*(one(p) for p in pending)))


def _extract_one(html: str, url: str, fallback: str) -> ExtractedText | ExtractError:
    try:
        return extract.extract(html, url=url, fallback_html=fallback)
    except ExtractError as exc:
        return exc


def _extract_all(ctx: Context, fetched: list[_Outcome]) -> list[_Outcome]:
    """Extract every fetched page; a failed page download falls back to the feed's content."""
    jobs: list[tuple[str, str, str] | None] = []
    for o in fetched:
        if o.error is not None and _retry_page_later(o):
            jobs.append(None)
        else:
            jobs.append((o.html, o.pending.url, o.pending.feed_html))
    work = [j for j in jobs if j is not None]
    if ctx.executor is not None and len(work) > 1:
        results = list(ctx.executor.map(_extract_one, *zip(*work, strict=True)))
    else:
        results = [_extract_one(*j) for j in work]
    it = iter(results)
    out = []
    for o, job in zip(fetched, jobs, strict=True):
        if job is None:
            out.append(o)
            continue
        r = next(it)
        if isinstance(r, ExtractError):
            out.append(_Outcome(o.pending, html=o.html, error=o.error or r))
        else:
            out.append(_Outcome(o.pending, extracted=r, html=o.html))
    return out


def _retry_page_later(o: _Outcome) -> bool:
    """A temporary page failure is retried on a later pass before the feed text is used."""
    if o.pending.attempts + 1 >= MAX_PAGE_ATTEMPTS:
        return False
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
        if ctx.keep_html and o.html:
            row.html_gz = gzip.compress(o.html.encode("utf-8"))
        _apply_extraction(row, o.extracted)
        if o.error is not None:
            row.last_error = str(o.error)
        hits = ctx.tagger.tag(document_text(row.title, row.text))
        _link_duplicate(ctx, s, row, o.extracted, hits, now)
        report.duplicates += row.duplicate_of_id is not None
        _store_mentions(s, row, hits)
        report.matched += _store_matches(ctx, s, row, hits, now)
        row.state, row.processed_at = "processed", now
        report.processed += 1


def document_text(title: str, text: str) -> str:
    """The string tagged for an article: mention offsets count from the title's first char."""
    return f"{title}\n\n{text}" if title else text


def _apply_extraction(row: ArticleRow, ex: ExtractedText) -> None:
    row.title = row.title or ex.title
    row.text = ex.text
    row.author = ex.author
    row.language = ex.language
    row.extraction_method = ex.method
    row.published_at = row.feed_published_at or ex.published_at
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
    """
    p = ctx.dedup
    if ex.canonical_url:
        page = dedup.canonical_url(ex.canonical_url)
        row.page_canonical_url = page if page != row.canonical_url else None
    at = _article_time(row)
    copies = set(_identity_matches(s, row))
    exact = any(o.text_hash == row.text_hash for o in copies)
    related: set[ArticleRow] = set()
    sig = None if exact else dedup.signature(row.text, p)
    if sig is not None:
        for other, sim in _near_matches(s, row, sig, p):
            if dedup.is_duplicate(sim, p):
                copies.add(other)
            elif (
                sim.best >= p.story_similarity and abs(_article_time(other) - at) <= p.story_window
            ):
                related.add(other)
    keys = () if exact else _story_keys(row, hits, p)
    related |= _story_key_matches(s, row, keys, at, p)
    _join_group(s, row, {o.duplicate_of_id or o.id for o in copies})
    _join_story(s, row, {o.story_id for o in copies | related if o.story_id is not None}, now)
    _index_article(s, row, sig, keys, at)


def _article_time(row: ArticleRow) -> datetime:
    return row.published_at or row.discovered_at


def _identity_matches(s: Session, row: ArticleRow) -> list[ArticleRow]:
    """Tiers 1-2: the same page (canonical URL either way round, a global GUID) or text."""
    clauses = [
        ArticleRow.text_hash == row.text_hash,
        ArticleRow.page_canonical_url == row.canonical_url,
    ]
    if row.page_canonical_url:
        clauses.append(ArticleRow.canonical_url == row.page_canonical_url)
        clauses.append(ArticleRow.page_canonical_url == row.page_canonical_url)
    guid = dedup.guid_key(row.guid)
    if guid is not None:
        clauses.append(ArticleRow.guid == row.guid)
        if guid != row.canonical_url and guid.startswith("http"):
            clauses.append(ArticleRow.canonical_url == guid)
    # A union of indexed lookups: an OR across columns would scan the table.
    ids = set(s.scalars(union(*(select(ArticleRow.id).where(c) for c in clauses))))
    ids.discard(row.id)
    if not ids:
        return []
    return list(
        s.scalars(select(ArticleRow).where(ArticleRow.id.in_(ids), ArticleRow.state == "processed"))
    )


def _near_matches(
    s: Session, row: ArticleRow, sig: dedup.Signature, p: dedup.DedupParams
) -> list[tuple[ArticleRow, dedup.Similarity]]:
    """Tier 3: articles sharing an LSH bucket, verified on their stored sketches."""
    ids = s.scalars(
        select(BandRow.article_id)
        .where(BandRow.bucket.in_(sig.band_keys), BandRow.article_id != row.id)
        .distinct()
        .limit(MAX_NEAR_CANDIDATES)
    ).all()
    if not ids:
        return []
    found = s.execute(
        select(ArticleRow, SignatureRow)
        .join(SignatureRow, SignatureRow.article_id == ArticleRow.id)
        .where(ArticleRow.id.in_(ids), ArticleRow.state == "processed")
    ).all()
    out = []
    mine = None
    for other, stored in found:
        sim = dedup.compare(sig, dedup.Signature(stored.shingles, stored.sketch, ()), p.sketch_size)
        if dedup.undecided(sim, p):
            # Rare (a bucket shared, yet no clear call): verify on the stored texts.
            mine = dedup.text_shingles(row.text, p) if mine is None else mine
            sim = dedup.exact_compare(mine, dedup.text_shingles(other.text, p))
        out.append((other, sim))
    return out


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
) -> set[ArticleRow]:
    """Articles inside the story window sharing enough of the window's rarer actors and names."""
    if len(keys) <= p.story_min_shared_keys:
        return set()
    in_window = (
        StoryKeyRow.at >= at - p.story_window,
        StoryKeyRow.at <= at + p.story_window,
        StoryKeyRow.article_id != row.id,
    )
    window = (at - p.story_window, at + p.story_window, row.id)
    articles = _window_counts(s, [dedup.ANY_KEY], window, STORY_WINDOW_SAMPLE).get(dedup.ANY_KEY, 0)
    cap = dedup.rare_cap(articles, p)
    df = _window_counts(s, [k for k in keys if k != dedup.ANY_KEY], window, cap + 1)
    rare = dedup.distinctive(df, articles, p)
    if len(rare) < p.story_min_shared_keys:
        return set()
    ids = s.scalars(
        select(StoryKeyRow.article_id)
        .where(StoryKeyRow.key.in_(rare), *in_window)
        .group_by(StoryKeyRow.article_id)
        .having(func.count() >= p.story_min_shared_keys)
        .limit(MAX_NEAR_CANDIDATES)
    ).all()
    if not ids:
        return set()
    return set(s.scalars(select(ArticleRow).where(ArticleRow.id.in_(ids))))


_NO_KEY = 0  # pads a statement's key slots; no stored key hashes to it in practice
_COUNT_SLOTS = 8  # keys per counting statement; padded, so one compiled statement serves


@lru_cache(maxsize=4)
def _window_count_statement(slots: int) -> Select[int, int]:
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


def _window_counts(
    s: Session, keys: Sequence[int], window: tuple[datetime, datetime, int], limit: int
) -> dict[int, int]:
    """Articles carrying each key in the window, counted up to `limit` (all a caller needs)."""
    lo, hi, me = window
    out: dict[int, int] = {}
    stmt = _window_count_statement(_COUNT_SLOTS)
    for start in range(0, len(keys), _COUNT_SLOTS):
        chunk = list(keys[start : start + _COUNT_SLOTS])
        chunk += [_NO_KEY] * (_COUNT_SLOTS - len(chunk))
        params = {f"k{i}": k for i, k in enumerate(chunk)}
        rows = s.execute(stmt, {**params, "lo": lo, "hi": hi, "me": me, "lim": limit})
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
        story = StoryRow(created_at=now, updated_at=now, title=row.title)
        s.add(story)
        s.flush()
        row.story_id = story.id
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
    s.flush()
    if merged:
        s.execute(delete(StoryRow).where(StoryRow.id.in_(merged)))
    s.get_one(StoryRow, keep).updated_at = now


def _index_article(
    s: Session,
    row: ArticleRow,
    sig: dedup.Signature | None,
    keys: Sequence[int],
    at: datetime,
) -> None:
    """Store the sketch, LSH buckets and story keys: the index every process shares."""
    if sig is not None:
        s.add(SignatureRow(article_id=row.id, shingles=sig.shingles, sketch=sig.sketch))
        s.execute(insert(BandRow), [{"bucket": k, "article_id": row.id} for k in sig.band_keys])
    if keys:
        s.execute(
            insert(StoryKeyRow),
            [{"key": k, "at": at, "article_id": row.id} for k in dict.fromkeys(keys)],
        )


def _store_mentions(s: Session, row: ArticleRow, hits: Sequence[EntityHit]) -> None:
    for h in hits:
        evidence = [{"start": m.start, "end": m.end, "text": m.text} for m in h.mentions]
        s.merge(MentionRow(article_id=row.id, entity_id=h.id, count=h.count, evidence=evidence))


def _store_matches(
    ctx: Context, s: Session, row: ArticleRow, hits: Sequence[EntityHit], now: datetime
) -> int:
    doc = MatchDoc(
        title=row.title,
        text=row.text,
        source=row.source_name,
        entity_ids=frozenset(h.id for h in hits),
        entity_types=frozenset(h.type for h in hits),
    )
    matched = 0
    for w in ctx.watchlists:
        if w.sources is not None and row.source_name not in w.sources:
            continue
        m = w.query.match(doc)
        if m is None:
            continue
        exists = s.scalar(
            select(MatchRow.id).where(MatchRow.watchlist == w.name, MatchRow.article_id == row.id)
        )
        if exists is None:
            s.add(
                MatchRow(watchlist=w.name, article_id=row.id, matched_at=now, terms=list(m.terms))
            )
            matched += 1
    return matched


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
