"""The digest ledger: which period is due, what it holds, and its delivery state, exactly once.

A digest is a row keyed by (watchlist, period_start) whose state is committed at each step:
pending -> rendering -> sending -> sent | failed. APScheduler only says "now is a good time
to look"; the ledger decides what is due, so a restart neither resends nor skips a period.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.delivery import content
from monitor.delivery.mailer import Mailer, build_message
from monitor.delivery.render import render_digest
from monitor.delivery.reports import write_reports
from monitor.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError
from monitor.models import DigestContent, RenderedDigest, UndeliveredDigest
from monitor.pipeline.match import compile_query
from monitor.storage.engine import Database
from monitor.storage.schema import DigestRow, WatchlistRow

log = logging.getLogger("monitor.digest")
RETRY_FIRST = timedelta(seconds=60)
RETRY_CAP = timedelta(hours=1)


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
    """Back-off after a temporary failure: 1 min, then doubling, capped at 1 h."""
    delay: timedelta = RETRY_FIRST * 2 ** min(attempts_before, 10)
    return min(RETRY_CAP, delay)


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
    with db.session() as s:
        known = {r.name: r for r in s.scalars(select(WatchlistRow))}
        for p in plans:
            if p.watchlist not in known:
                s.add(WatchlistRow(name=p.watchlist, first_seen_at=now, query=p.query))
            else:
                known[p.watchlist].query = p.query


def last_period_end(s: Session, watchlist: str) -> datetime:
    end = s.scalar(select(func.max(DigestRow.period_end)).where(DigestRow.watchlist == watchlist))
    if end is not None:
        return end
    first = s.get(WatchlistRow, watchlist)
    if first is None:
        raise DeliveryError(f"watchlist {watchlist!r} has not been seen yet")
    return first.first_seen_at


def message_id(watchlist: str, start: datetime, end: datetime) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    return f"<digest.{watchlist}.{start.astimezone(UTC):{fmt}}.{end.astimezone(UTC):{fmt}}@monitor>"


def open_period(
    db: Database, watchlist: str, until: datetime, since: datetime | None = None
) -> int:
    """Create (or find) the ledger row for the period ending at `until`; return its id."""
    with db.session() as s:
        start = since if since is not None else last_period_end(s, watchlist)
        row = s.scalars(
            select(DigestRow).where(
                DigestRow.watchlist == watchlist, DigestRow.period_start == start
            )
        ).first()
        if row is not None:
            return row.id
        row = DigestRow(
            watchlist=watchlist,
            period_start=start,
            period_end=until,
            state="pending",
            message_id=message_id(watchlist, start, until),
            created_at=until,
            outputs=[],
        )
        s.add(row)
        s.flush()
        return row.id


# --- content --------------------------------------------------------------------------


def build_content(
    db: Database, plan: DigestPlan, start: datetime, end: datetime, now: datetime
) -> DigestContent:
    """Everything matched in [start, end): one item per story listing its matched reports,
    the leading actors, failing sources, and earlier digests that failed."""
    with db.session() as s:
        reports = content.matched_reports(s, plan.watchlist, start, end)
        terms = compile_query(plan.query).terms
        items = content.story_items(s, plan.watchlist, reports, start, plan.timezone, terms)
        failing = content.failing_sources(s)
        trends = content.actor_trends(s, plan.watchlist, start, end)
        undelivered = undelivered_digests(s, plan.watchlist, start)
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


def undelivered_digests(
    s: Session, watchlist: str, before: datetime
) -> tuple[UndeliveredDigest, ...]:
    """The watchlist's digests that failed for good and started before `before`."""
    rows = s.scalars(
        select(DigestRow)
        .where(
            DigestRow.watchlist == watchlist,
            DigestRow.state == "failed",
            DigestRow.period_start < before,
        )
        .order_by(DigestRow.period_start)
    ).all()
    return tuple(UndeliveredDigest(r.period_start, r.period_end, r.last_error or "") for r in rows)


# --- delivery -------------------------------------------------------------------------


def _set_state(d: Delivery, digest_id: int, state: str, **values: object) -> None:
    with d.db.session() as s:
        row = s.get_one(DigestRow, digest_id)
        row.state = state
        for k, v in values.items():
            setattr(row, k, v)
    if d.on_state is not None:
        d.on_state(digest_id, state)


def deliver(d: Delivery, plan: DigestPlan, digest_id: int) -> DigestOutcome:
    """Render and send one ledger row, committing each state; failures are recorded, not raised."""
    now = d.clock()
    with d.db.session() as s:
        row = s.get_one(DigestRow, digest_id)
        start, end, mid, attempts = row.period_start, row.period_end, row.message_id, row.attempts
        if row.state == "sent":
            return DigestOutcome(plan.watchlist, start, end, "sent", row.article_count)
    _set_state(d, digest_id, "rendering", attempts=attempts + 1)
    content = build_content(d.db, plan, start, end, now)
    outcome = DigestOutcome(plan.watchlist, start, end, "sent", len(content.articles))
    if not content.articles and plan.skip_empty:
        _set_state(d, digest_id, "sent", sent_at=now, article_count=0, outputs=["skipped: empty"])
        outcome.outputs.append("skipped: empty")
        return outcome
    try:
        rendered = render_digest(content, templates_dir=d.templates_dir)
        _set_state(d, digest_id, "sending", article_count=len(content.articles))
        outcome.outputs = _send_and_write(d, plan, content, rendered, mid, now)
    except TemporaryDeliveryError as exc:
        wait = retry_delay(attempts)
        _set_state(d, digest_id, "pending", last_error=str(exc), next_attempt_at=now + wait)
        log.warning(
            "digest %s: temporary failure, retry at %s: %s", plan.watchlist, now + wait, exc
        )
        return DigestOutcome(
            plan.watchlist, start, end, "retrying", len(content.articles), str(exc)
        )
    except DeliveryError as exc:
        _set_state(d, digest_id, "failed", last_error=str(exc))
        hint = f"; once fixed, `monitor digest {plan.watchlist} --resend` sends it"
        log.error("digest %s %s – %s failed: %s%s", plan.watchlist, start, end, exc, hint)
        return DigestOutcome(
            plan.watchlist, start, end, "failed", len(content.articles), str(exc) + hint
        )
    _set_state(d, digest_id, "sent", sent_at=now, last_error=None, outputs=outcome.outputs)
    return outcome


def resend(d: Delivery, plan: DigestPlan, digest_id: int | None = None) -> DigestOutcome:
    """Deliver a recorded digest again, for humans (`--resend`): by default the oldest one
    that failed for good, else the newest one. Same period, content and Message-ID."""
    with d.db.session() as s:
        if digest_id is None:
            digest_id = resend_candidate(s, plan.watchlist)
        if digest_id is None:
            raise DeliveryError(f"watchlist {plan.watchlist!r} has no recorded digest to resend")
    _set_state(d, digest_id, "pending", next_attempt_at=None)
    return deliver(d, plan, digest_id)


def resend_candidate(s: Session, watchlist: str) -> int | None:
    """The oldest digest of `watchlist` that failed for good, else its newest digest."""
    failed: int | None = s.scalar(
        select(DigestRow.id)
        .where(DigestRow.watchlist == watchlist, DigestRow.state == "failed")
        .order_by(DigestRow.period_start)
        .limit(1)
    )
    if failed is not None:
        return failed
    newest: int | None = s.scalar(
        select(DigestRow.id)
        .where(DigestRow.watchlist == watchlist)
        .order_by(DigestRow.period_end.desc())
        .limit(1)
    )
    return newest


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
        for digest_id in _retryable(d.db, plan.watchlist, now):
            outcomes.append(deliver(d, plan, digest_id))
        slot = latest_slot(plan.schedule, plan.timezone, now)
        with d.db.session() as s:
            last_end = last_period_end(s, plan.watchlist)
        if slot > last_end:
            outcomes.append(deliver(d, plan, open_period(d.db, plan.watchlist, slot)))
    return outcomes


def _retryable(db: Database, watchlist: str, now: datetime) -> list[int]:
    """Digests left pending, or interrupted while rendering/sending by a crash."""
    with db.session() as s:
        rows = s.scalars(
            select(DigestRow)
            .where(
                DigestRow.watchlist == watchlist,
                DigestRow.state.in_(("pending", "rendering", "sending")),
            )
            .order_by(DigestRow.period_start)
        ).all()
        return [r.id for r in rows if r.next_attempt_at is None or r.next_attempt_at <= now]
