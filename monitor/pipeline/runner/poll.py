"""Polling: due sources, conditional GETs, feed parsing, back-off and new entries stored once.

One broken source is recorded on its row and never stops the rest of the batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from monitor.errors import FeedError, StageError
from monitor.models import FeedEntry, HttpResponse, ParsedFeed, Validators
from monitor.pipeline import backoff, dedup, feeds, fetch
from monitor.pipeline.runner.context import Context, PollReport, SourceSpec, log
from monitor.storage.schema import ArticleRow, SourceRow

RECORD_BATCH = 50  # sources recorded per transaction

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
    parsed = _parse_all(ctx, results)
    done = list(zip((spec for spec, _ in due), results, parsed, strict=True))
    for start in range(0, len(done), RECORD_BATCH):
        with ctx.db.session() as s:
            for spec, result, feed in done[start : start + RECORD_BATCH]:
                report.polled += 1
                _record_poll(ctx, s, spec, result, feed, report)
    return report


def _parse_all(
    ctx: Context, results: Sequence[HttpResponse | StageError]
) -> list[ParsedFeed | FeedError | None]:
    """Each downloaded feed parsed (None where there is nothing to parse: an error, a 304);
    in the process pool when there is one, as parsing is CPU work."""
    now = ctx.clock()
    jobs = [
        (r.body, r.final_url, dict(r.headers), now)
        if isinstance(r, HttpResponse) and not r.not_modified
        else None
        for r in results
    ]
    work = [j for j in jobs if j is not None]
    if ctx.executor is not None and len(work) > 1:
        done = iter(list(ctx.executor.map(_parse_one, work, chunksize=4)))
    else:
        done = iter([_parse_one(j) for j in work])
    return [None if j is None else next(done) for j in jobs]


def _parse_one(job: tuple[bytes, str, dict[str, str], datetime]) -> ParsedFeed | FeedError:
    body, url, headers, now = job
    try:
        return feeds.parse_feed(body, url=url, headers=headers, now=now)
    except FeedError as exc:
        return exc


async def _fetch_feeds(
    ctx: Context, due: Sequence[tuple[SourceSpec, Validators]]
) -> list[HttpResponse | StageError]:
    limiter = fetch.HostLimiter(ctx.policy)
    async with ctx.http_client() as client:

        async def one(spec: SourceSpec, validators: Validators) -> HttpResponse | StageError:
            policy = ctx.policy_for(spec.user_agent)
            try:
                async with limiter.slot(spec.url):
                    return await fetch.fetch(
                        client, spec.url, policy, validators, accept=fetch.FEED_ACCEPT
                    )
            except StageError as exc:
                return exc

        return list(await asyncio.gather(*(one(spec, v) for spec, v in due)))


def _record_poll(
    ctx: Context,
    s: Session,
    spec: SourceSpec,
    result: HttpResponse | StageError,
    feed: ParsedFeed | FeedError | None,
    report: PollReport,
) -> None:
    now = ctx.clock()
    error: StageError | None = result if isinstance(result, StageError) else None
    if isinstance(feed, FeedError):
        error = feed
    row = s.scalars(select(SourceRow).where(SourceRow.name == spec.name)).one()
    row.last_polled_at = now
    if error is not None:
        _record_source_error(row, spec, error, now)
        report.failed[spec.name] = str(error)
        return
    assert isinstance(result, HttpResponse)
    parsed = feed if isinstance(feed, ParsedFeed) else None
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
    """Store the entries not seen before (by canonical URL, or by this source's GUID): two
    lookups and one insert per feed, whatever its length."""
    fresh: list[tuple[str, FeedEntry]] = []
    urls: set[str] = set()
    guids: set[str] = set()
    for entry in entries:  # the feed's own repeats: its first entry wins
        canon = dedup.canonical_url(entry.url)
        if canon in urls or (entry.guid and entry.guid in guids):
            continue
        urls.add(canon)
        if entry.guid:
            guids.add(entry.guid)
        fresh.append((canon, entry))
    if not fresh:
        return 0
    known_urls = set(
        s.scalars(select(ArticleRow.canonical_url).where(ArticleRow.canonical_url.in_(urls)))
    )
    known_guids = (
        set(
            s.scalars(
                select(ArticleRow.guid).where(
                    ArticleRow.source_id == source.id, ArticleRow.guid.in_(guids)
                )
            )
        )
        if guids
        else set()
    )
    rows = [
        {
            "source_id": source.id,
            "source_name": source.name,
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
        for canon, entry in fresh
        if canon not in known_urls and not (entry.guid and entry.guid in known_guids)
    ]
    if rows:
        s.execute(insert(ArticleRow), rows)
    return len(rows)
