"""Polling: due sources, conditional GETs, feed parsing, back-off and new entries stored once.

Each source's poll is stored in a transaction of its own: one broken or poisoned source is
recorded on its row (with back-off) and never stops the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from monitor.errors import FeedError, StageError
from monitor.models import FeedEntry, HttpResponse, ParsedFeed, SourceState, Validators
from monitor.pipeline import bounds, dedup, feeds, fetch, retry
from monitor.pipeline.runner.context import Context, PollReport, SourceSpec, describe, log
from monitor.storage import sources
from monitor.storage.engine import Tx

# --- poll -----------------------------------------------------------------------------


def sync_sources(ctx: Context) -> None:
    """Make a row for every configured source; keep fetch state of known ones."""
    with ctx.db.transaction() as tx:
        sources.sync(tx, [(spec.name, spec.url) for spec in ctx.sources])


def _due(ctx: Context, only: str | None, force: bool) -> list[tuple[SourceSpec, Validators]]:
    now = ctx.clock()
    specs = {s.name: s for s in ctx.sources}
    out = []
    with ctx.db.transaction() as tx:
        stored = sources.states(tx)
    for state in stored:
        spec = specs.get(state.name)
        if spec is None or (only is not None and state.name != only):
            continue
        waiting = state.next_check_at is not None and state.next_check_at > now
        # Retry-After is a promise to the server: even a forced poll keeps it.
        if waiting and (not force or state.last_status in (429, 503)):
            continue
        out.append((spec, Validators(state.etag, state.last_modified)))
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
    for spec, result, feed in zip((spec for spec, _ in due), results, parsed, strict=True):
        report.polled += 1
        _record_one(ctx, spec, result, feed, report)
    return report


def _record_one(
    ctx: Context,
    spec: SourceSpec,
    result: HttpResponse | StageError,
    feed: ParsedFeed | FeedError | None,
    report: PollReport,
) -> None:
    """Store one source's poll in a transaction of its own. Whatever goes wrong (a value the
    database refuses, a bug) is recorded on that source, with back-off, and the rest go on."""
    mine = PollReport()
    try:
        with ctx.db.transaction() as tx:
            _record_poll(ctx, tx, spec, result, feed, mine)
    except Exception as exc:  # one poisoned source never stops the others
        log.debug("source %r: storing its poll failed", spec.name, exc_info=True)
        _record_failure(ctx, spec, exc, report)
        return
    report.not_modified += mine.not_modified
    report.new_articles += mine.new_articles
    report.failed |= mine.failed
    report.warnings |= mine.warnings


def _record_failure(ctx: Context, spec: SourceSpec, exc: Exception, report: PollReport) -> None:
    error = StageError(f"could not store this poll: {describe(exc)}")
    report.failed[spec.name] = bounds.error_text(str(error))
    try:
        with ctx.db.transaction() as tx:
            before = sources.state(tx, spec.name)
            if before is not None:
                now = ctx.clock()
                failed = _after_error(replace(before, last_polled_at=now), spec, error, now)
                sources.save(tx, failed)
    except Exception:  # the database itself is failing: the cycle reports it
        log.warning("source %r: recording the failure failed too", spec.name, exc_info=True)


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
    tx: Tx,
    spec: SourceSpec,
    result: HttpResponse | StageError,
    feed: ParsedFeed | FeedError | None,
    report: PollReport,
) -> None:
    now = ctx.clock()
    error: StageError | None = result if isinstance(result, StageError) else None
    if isinstance(feed, FeedError):
        error = feed
    before = sources.state(tx, spec.name)
    assert before is not None  # sync_sources made it
    state = replace(before, last_polled_at=now)
    if error is not None:
        sources.save(tx, _after_error(state, spec, error, now))
        report.failed[spec.name] = str(error)
        return
    assert isinstance(result, HttpResponse)
    parsed = feed if isinstance(feed, ParsedFeed) else None
    state = replace(
        state,
        last_status=304 if result.not_modified else result.status,
        error_count=0,
        last_error=None,
        last_success_at=now,
    )
    state = _after_success(state, spec, result, parsed, now)
    if result.not_modified:
        sources.save(tx, state)
        report.not_modified += 1
        return
    assert parsed is not None
    state = replace(
        state,
        etag=result.validators.etag,
        last_modified=result.validators.last_modified,
        feed_ttl_s=parsed.ttl_minutes * 60 if parsed.ttl_minutes else None,
        warning=parsed.warning,
    )
    if parsed.warning:
        report.warnings[spec.name] = parsed.warning
    limit = ctx.policy.max_entries_per_poll
    added, left = sources.store_entries(
        tx, spec.name, _fresh_entries(parsed.entries), now, limit=limit
    )
    if left:
        # Forget the validators, so that the next poll reads the feed again for the rest.
        note = f"{left} new entries left for the next polls (fetch.max_entries_per_poll: {limit})"
        state = replace(
            state,
            etag=None,
            last_modified=None,
            warning="; ".join(w for w in (state.warning, note) if w),
        )
        report.warnings[spec.name] = state.warning or note
    sources.save(tx, replace(state, items_seen=state.items_seen + added))
    report.new_articles += added


def _after_success(
    state: SourceState,
    spec: SourceSpec,
    result: HttpResponse,
    parsed: ParsedFeed | None,
    now: datetime,
) -> SourceState:
    """Next check after a good poll: the (adaptive) interval, no sooner than the server's own
    freshness (Cache-Control max-age, Expires, RSS <ttl>), all bounded by the back-off cap."""
    interval = spec.interval
    if spec.adaptive:
        if parsed is not None:
            dates = [e.published_at for e in parsed.entries]
            learned = retry.adaptive_interval(dates, now=now, base=spec.interval)
            state = replace(state, poll_interval_s=int(learned.total_seconds()))
        if state.poll_interval_s:
            interval = timedelta(seconds=state.poll_interval_s)
    floors = [fetch.freshness_s(result.headers)]
    if parsed is not None and parsed.ttl_minutes:
        floors.append(parsed.ttl_minutes * 60.0)
    elif result.not_modified and state.feed_ttl_s:
        floors.append(float(state.feed_ttl_s))
    fresh = max((f for f in floors if f is not None), default=None)
    at = retry.next_check(now, error_count=0, interval=interval, fresh_for_s=fresh)
    return replace(state, next_check_at=at)


def _after_error(
    state: SourceState, spec: SourceSpec, error: StageError, now: datetime
) -> SourceState:
    errors = state.error_count + 1
    at = retry.next_check(
        now,
        error_count=errors,
        interval=spec.interval,
        retry_after_s=getattr(error, "retry_after_s", None),
    )
    log.warning("source %r failed: %s (next check %s)", spec.name, error, at)
    return replace(
        state,
        error_count=errors,
        last_error=bounds.error_text(str(error)),
        last_status=getattr(error, "status", None),
        next_check_at=at,
    )


def store_entries(tx: Tx, source: str, entries: Sequence[FeedEntry], now: datetime) -> int:
    """Store a source's feed entries not seen before (by canonical URL, or by the source's
    GUID) as pending articles; the number stored."""
    return sources.store_entries(tx, source, _fresh_entries(entries), now)[0]


def _fresh_entries(entries: Sequence[FeedEntry]) -> list[tuple[str, FeedEntry]]:
    """The feed's entries with their canonical URLs, its own repeats left out (the first
    entry with a URL or GUID wins)."""
    fresh: list[tuple[str, FeedEntry]] = []
    urls: set[str] = set()
    guids: set[str] = set()
    for entry in entries:
        canon = dedup.storable_canonical_url(entry.url)
        if canon is None or canon in urls or (entry.guid and entry.guid in guids):
            continue
        urls.add(canon)
        if entry.guid:
            guids.add(entry.guid)
        fresh.append((canon, entry))
    return fresh
