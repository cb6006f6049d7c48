"""The digest ledger: which period is due, what it holds, and its delivery state, exactly once.

A digest is a ledger entry keyed by (watchlist, period_start) whose state is committed at each
step of `monitor.pipeline.retry`'s ledger machine: pending -> rendering -> sending -> sent |
failed. APScheduler only says "now is a good time to look"; the ledger decides what is due,
so a restart neither resends nor skips a period.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from croniter import croniter

from monitor.delivery import content
from monitor.delivery.mailer import Mailer, build_message
from monitor.delivery.render import render_digest
from monitor.delivery.reports import write_reports
from monitor.errors import DeliveryError, PermanentDeliveryError
from monitor.models import (
    DigestContent,
    DigestPeriod,
    LedgerState,
    RenderedDigest,
    UndeliveredDigest,
)
from monitor.pipeline import retry
from monitor.pipeline.match import compile_query
from monitor.storage import digests, ledger
from monitor.storage.engine import Database, Tx

log = logging.getLogger("monitor.digest")


@dataclass(frozen=True)
class DigestPlan:
    """What the composition root knows of a watchlist's delivery."""

    watchlist: str
    query: str
    schedule: str
    timezone: str
    recipients: tuple[str, ...]
    formats: tuple[str, ...]
    skip_empty: bool = False
    max_articles: int = 100
    terms: tuple[str, ...] = ()


@dataclass
class Delivery:
    """The mail and file side, injected."""

    db: Database
    mailer: Mailer | None
    sender: str
    reports_dir: Path
    clock: Callable[[], datetime]
    templates_dir: Path | None = None
    # Called after each committed state change (digest id, state): progress, tests' crash points.
    on_state: Callable[[int, str], None] | None = None


@dataclass
class DigestOutcome:
    watchlist: str
    period_start: datetime
    period_end: datetime
    state: str
    articles: int = 0
    error: str | None = None
    outputs: list[str] = field(default_factory=list)


def retry_delay(attempts_before: int) -> timedelta:
    """Back-off after a temporary failure: 1 min, then doubling, capped at 1 h (the rule is
    `monitor.pipeline.retry.redelivery_delay`)."""
    return retry.redelivery_delay(attempts_before + 1)


# --- periods --------------------------------------------------------------------------


def latest_slot(schedule: str, tz: str, now: datetime) -> datetime:
    """The latest cron slot at or before `now`, in UTC."""
    local = now.astimezone(ZoneInfo(tz)) + timedelta(seconds=1)
    prev = croniter(schedule, local).get_prev(datetime)
    assert isinstance(prev, datetime)
    return prev.astimezone(UTC)


def next_slot(schedule: str, tz: str, after: datetime) -> datetime:
    nxt = croniter(schedule, after.astimezone(ZoneInfo(tz))).get_next(datetime)
    assert isinstance(nxt, datetime)
    return nxt.astimezone(UTC)


def ensure_watchlists(db: Database, plans: Sequence[DigestPlan], now: datetime) -> None:
    """Record when each watchlist is first seen: its first digest period starts there."""
    with db.transaction() as tx:
        ledger.sync_watchlists(tx, {p.watchlist: p.query for p in plans}, now)


def last_period_end(tx: Tx, watchlist: str) -> datetime:
    """Where the watchlist's next digest period starts: the end of its latest digest, else
    when it was first seen."""
    start = ledger.next_period_start(tx, watchlist)
    if start is None:
        raise DeliveryError(f"watchlist {watchlist!r} has not been seen yet")
    return start


def message_id(watchlist: str, start: datetime, end: datetime) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    return f"<digest.{watchlist}.{start.astimezone(UTC):{fmt}}.{end.astimezone(UTC):{fmt}}@monitor>"


def open_period(
    db: Database, watchlist: str, until: datetime, since: datetime | None = None
) -> int:
    """Create (or find) the ledger row for the period ending at `until`; return its id."""
    with db.transaction() as tx:
        start = since if since is not None else last_period_end(tx, watchlist)
        mid = message_id(watchlist, start, until)
        return ledger.open_digest(tx, watchlist, start, until, mid, retry.opened())


# --- content --------------------------------------------------------------------------


def build_content(
    db: Database, plan: DigestPlan, start: datetime, end: datetime, now: datetime
) -> DigestContent:
    """Everything matched in [start, end): one item per story listing its matched reports,
    the leading actors, failing sources, and earlier digests that failed."""
    with db.transaction() as tx:
        reports = digests.matched_reports(tx, plan.watchlist, start, end)
        terms = compile_query(plan.query).terms
        items = content.story_items(tx, plan.watchlist, reports, start, plan.timezone, terms)
        failing = content.failing_sources(tx)
        trends = content.actor_trends(tx, plan.watchlist, start, end)
        undelivered = undelivered_digests(tx, plan.watchlist, start)
    return DigestContent(
        watchlist=plan.watchlist,
        query=plan.query,
        period_start=start,
        period_end=end,
        timezone=plan.timezone,
        articles=tuple(items[: plan.max_articles]),
        failing_sources=failing,
        generated_at=now,
        actor_trends=trends,
        total_reports=len(reports),
        total_stories=len(items),
        undelivered=undelivered,
    )


def undelivered_digests(tx: Tx, watchlist: str, before: datetime) -> tuple[UndeliveredDigest, ...]:
    """The watchlist's digests that failed for good and started before `before`."""
    failed = ledger.digests(tx, watchlist, (retry.FAILED,), started_before=before)
    return tuple(
        UndeliveredDigest(d.period_start, d.period_end, d.ledger.last_error or "") for d in failed
    )


# --- delivery -------------------------------------------------------------------------


def _save(
    d: Delivery,
    digest_id: int,
    entry: LedgerState,
    *,
    article_count: int | None = None,
    outputs: Sequence[str] | None = None,
) -> LedgerState:
    """Commit a digest's new ledger state, then tell `on_state`."""
    with d.db.transaction() as tx:
        ledger.save_digest(tx, digest_id, entry, article_count=article_count, outputs=outputs)
    if d.on_state is not None:
        d.on_state(digest_id, entry.state)
    return entry


def deliver(d: Delivery, plan: DigestPlan, digest_id: int) -> DigestOutcome:
    """Render and send one ledger row, committing each state; failures are recorded, not raised."""
    now = d.clock()
    with d.db.transaction() as tx:
        period = ledger.digest(tx, digest_id)
    start, end = period.period_start, period.period_end
    started = retry.begin(period.ledger)
    if started is None:  # sent already
        return DigestOutcome(plan.watchlist, start, end, "sent", period.article_count)
    entry = _save(d, digest_id, started)
    content = build_content(d.db, plan, start, end, now)
    articles = len(content.articles)
    if not content.articles and plan.skip_empty:
        skipped = ["skipped: empty"]
        _save(d, digest_id, retry.delivered(entry, now), article_count=0, outputs=skipped)
        return DigestOutcome(plan.watchlist, start, end, "sent", 0, outputs=skipped)
    try:
        rendered = render_digest(content, templates_dir=d.templates_dir)
        entry = _save(d, digest_id, retry.rendered(entry), article_count=articles)
        outputs = _send_and_write(d, plan, content, rendered, period.message_id, now)
    except DeliveryError as exc:
        return _failed(d, plan, period, entry, exc, articles, now)
    _save(d, digest_id, retry.delivered(entry, now), outputs=outputs)
    return DigestOutcome(plan.watchlist, start, end, "sent", articles, outputs=outputs)


def _failed(
    d: Delivery,
    plan: DigestPlan,
    period: DigestPeriod,
    entry: LedgerState,
    exc: DeliveryError,
    articles: int,
    now: datetime,
) -> DigestOutcome:
    """Record a failed try: pending until the retry policy's time, else failed for good."""
    retry_at = retry.digest_retry_at(entry.attempts, exc, now)
    _save(d, period.id, retry.failed(entry, str(exc), retry_at))
    start, end = period.period_start, period.period_end
    if retry_at is not None:
        log.warning("digest %s: temporary failure, retry at %s: %s", plan.watchlist, retry_at, exc)
        return DigestOutcome(plan.watchlist, start, end, "retrying", articles, str(exc))
    hint = f"; once fixed, `monitor digest {plan.watchlist} --resend` sends it"
    log.error("digest %s %s – %s failed: %s%s", plan.watchlist, start, end, exc, hint)
    return DigestOutcome(plan.watchlist, start, end, "failed", articles, str(exc) + hint)


def resend(d: Delivery, plan: DigestPlan, digest_id: int | None = None) -> DigestOutcome:
    """Deliver a recorded digest again, for humans (`--resend`): by default the oldest one
    that failed for good, else the newest one. Same period, content and Message-ID."""
    with d.db.transaction() as tx:
        if digest_id is None:
            digest_id = resend_candidate(tx, plan.watchlist)
        if digest_id is None:
            raise DeliveryError(f"watchlist {plan.watchlist!r} has no recorded digest to resend")
        entry = ledger.digest(tx, digest_id).ledger
    _save(d, digest_id, retry.reopened(entry))
    return deliver(d, plan, digest_id)


def resend_candidate(tx: Tx, watchlist: str) -> int | None:
    """The oldest digest of `watchlist` that failed for good, else its newest digest."""
    failed = ledger.digests(tx, watchlist, (retry.FAILED,))
    if failed:
        return failed[0].id
    newest = ledger.latest_digest(tx, watchlist)
    return None if newest is None else newest.id


def _send_and_write(
    d: Delivery,
    plan: DigestPlan,
    content: DigestContent,
    rendered: RenderedDigest,
    mid: str,
    now: datetime,
) -> list[str]:
    outputs: list[str] = []
    files = [f for f in plan.formats if f != "email"]
    if files:
        # write_reports raises DeliveryError (naming the path) when a file cannot be written.
        paths = write_reports(content, rendered, d.reports_dir, files)
        outputs += [str(p) for p in paths]
    if "email" in plan.formats and plan.recipients:
        if d.mailer is None:
            raise PermanentDeliveryError("email requested but no mailer is configured (smtp:)")
        msg = build_message(
            rendered,
            sender=d.sender,
            recipients=plan.recipients,
            message_id=mid,
            list_id=f"{plan.watchlist}.monitor",
            date=now,
        )
        sent = d.mailer.send(msg)
        outputs.append(
            str(sent) if isinstance(sent, Path) else "email: " + ", ".join(plan.recipients)
        )
    return outputs


def deliver_due(d: Delivery, plans: Sequence[DigestPlan]) -> list[DigestOutcome]:
    """Retry digests whose back-off has passed, then open and deliver every period now due.

    After downtime this opens ONE period covering the whole gap up to the latest slot.
    """
    now = d.clock()
    ensure_watchlists(d.db, plans, now)
    outcomes = []
    for plan in plans:
        for digest_id in _due(d.db, plan.watchlist, now):
            outcomes.append(deliver(d, plan, digest_id))
        slot = latest_slot(plan.schedule, plan.timezone, now)
        with d.db.transaction() as tx:
            last_end = last_period_end(tx, plan.watchlist)
        if slot > last_end:
            outcomes.append(deliver(d, plan, open_period(d.db, plan.watchlist, slot)))
    return outcomes


def _due(db: Database, watchlist: str, now: datetime) -> list[int]:
    """Digests left pending (their back-off passed), or interrupted by a crash."""
    with db.transaction() as tx:
        entries = ledger.digests(tx, watchlist, retry.OPEN)
    return [e.id for e in entries if retry.is_due(e.ledger, now)]
