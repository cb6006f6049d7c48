"""Immediate alerts: a watchlist's new matches that also satisfy its `alert.query`, batched.

The first unalerted match opens a batching window (default 10 min); when it closes, one mail
carries every alert-worthy match gathered, and no second alert mail for the watchlist goes
out within one window of the last (rate limit). Each match is alerted at most once: the
batch row and the matches' `alerted_at` are committed together, before sending, by one
process at a time; sending claims the batch as a digest's try claims its period. Whether a
match satisfies the alert query is decided when its article is processed (with the alert
query of that time); matches stored without that verdict are checked here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.delivery.content import story_items, with_terms
from monitor.delivery.digest import Delivery, claimed, leased_elsewhere, settled
from monitor.delivery.mailer import build_message
from monitor.delivery.render import render_digest
from monitor.errors import DeliveryError, TemporaryDeliveryError
from monitor.models import (
    AlertBatch,
    DigestContent,
    LedgerState,
    MatchDoc,
    MatchedReport,
    WaitingMatch,
)
from monitor.pipeline import retry
from monitor.pipeline.match import Query
from monitor.storage import articles, digests, ledger
from monitor.storage.engine import Tx

log = logging.getLogger("monitor.alerts")
SUBJECT_TITLE_CHARS = 90


@dataclass(frozen=True)
class AlertPlan:
    watchlist: str
    query: Query
    recipients: tuple[str, ...]
    window: timedelta
    timezone: str = "UTC"


@dataclass
class AlertOutcome:
    """`articles`: the matched reports the batch carried; `stories`: the items they made."""

    watchlist: str
    state: str
    articles: int
    error: str | None = None
    stories: int = 0


def _open_batch(d: Delivery, plan: AlertPlan, now: datetime) -> int | None:
    """Check new matches against the alert query; open a batch when its window has passed."""
    with d.db.transaction() as tx:
        # One process at a time decides on the watchlist's matches, so none is batched twice.
        ledger.lock_watchlist(tx, plan.watchlist)
        waiting = ledger.waiting_matches(tx, plan.watchlist)
        unjudged = [m.article_id for m in waiting if m.alert_worthy is None]
        docs = articles.match_docs(tx, unjudged)
        worthy = [m for m in waiting if _worthy(m, plan.query, docs)]
        chosen = {m.id for m in worthy}
        # Considered, not alert-worthy: never looked at again.
        ledger.mark_alerted(tx, [m.id for m in waiting if m.id not in chosen], now)
        if not worthy or now < worthy[0].matched_at + plan.window:
            return None
        last = ledger.last_alert_at(tx, plan.watchlist)
        if last is not None and now < last + plan.window:
            return None  # rate limit: at most one alert mail per window
        alert_id = ledger.open_alert_batch(
            tx,
            plan.watchlist,
            now,
            [m.article_id for m in worthy],
            retry.opened(),
            lambda batch_id: f"<alert.{plan.watchlist}.{batch_id}@monitor>",
        )
        ledger.mark_alerted(tx, [m.id for m in worthy], now)
        return alert_id


def _worthy(match: WaitingMatch, query: Query, docs: Mapping[int, MatchDoc]) -> bool:
    """The verdict taken at processing time, else (older matches) the alert query now."""
    if match.alert_worthy is not None:
        return match.alert_worthy
    return query.match(docs[match.article_id]) is not None


def _due_batches(d: Delivery, plan: AlertPlan, now: datetime) -> list[int]:
    """Batches not sent yet (a crash may have left one sending) whose back-off has passed."""
    with d.db.transaction() as tx:
        batches = ledger.alert_batches(tx, plan.watchlist, retry.OPEN)
    return [b.id for b in batches if retry.is_due(b.ledger, now)]


def _save(d: Delivery, alert_id: int, seen: LedgerState, entry: LedgerState) -> bool:
    """Commit a batch's step from `seen` to `entry`; False when another process has taken
    it over since."""
    with d.db.transaction() as tx:
        done = ledger.save_alert(tx, alert_id, entry, seen=seen)
    if not done:
        log.warning("alert %d: taken over by another process; leaving it to that one", alert_id)
    return done


def send_batch(d: Delivery, plan: AlertPlan, alert_id: int) -> AlertOutcome | None:
    """Claim, render and send one alert batch; temporary failures back off, 5xx marks it
    failed. None when it is sent already or another process is sending it."""
    now = d.clock()
    with d.db.transaction() as tx:
        batch = ledger.alert_batch(tx, alert_id)
        if batch.ledger.state == retry.SENT or leased_elsewhere(batch.ledger, now):
            return None
        content = _alert_content(tx, plan, batch, now)
        # Its content is built before the claim: one commit takes it to sending.
        entry = retry.rendered(claimed(batch.ledger, now))
        if not ledger.save_alert(tx, alert_id, entry, seen=batch.ledger):
            return None
    try:
        return _send(d, plan, batch, content, entry, now)
    except Exception as exc:
        if not isinstance(exc, DeliveryError):  # a bug, the database: back off, then raise
            error = TemporaryDeliveryError(f"internal error: {type(exc).__name__}: {exc}")
            retry_at = retry.alert_retry_at(entry.attempts, error, now)
            try:
                _save(d, alert_id, entry, retry.failed(entry, str(error), retry_at))
            except Exception:
                log.exception("recording the failed try of alert %d failed too", alert_id)
        raise


def _send(
    d: Delivery,
    plan: AlertPlan,
    batch: AlertBatch,
    content: DigestContent,
    entry: LedgerState,
    now: datetime,
) -> AlertOutcome:
    items, reports = content.articles, content.total_reports
    try:
        rendered = render_digest(content, templates_dir=d.templates_dir)
        first = items[0].title[:SUBJECT_TITLE_CHARS] if items else ""
        more = f" (+{len(items) - 1} more)" if len(items) > 1 else ""
        rendered = dataclasses.replace(
            rendered, subject=f"[monitor alert] {plan.watchlist}: {first}{more}"
        )
        if d.mailer is None:
            raise DeliveryError("alert recipients configured but no mailer (smtp:)")
        msg = build_message(
            rendered,
            sender=d.sender,
            recipients=plan.recipients,
            message_id=batch.message_id,
            list_id=f"{plan.watchlist}-alerts.monitor",
            date=now,
        )
        d.mailer.send(msg)
    except DeliveryError as exc:
        retry_at = retry.alert_retry_at(entry.attempts, exc, now)
        _save(d, batch.id, entry, settled(retry.failed(entry, str(exc), retry_at)))
        state = "failed" if retry_at is None else "retrying"
        return AlertOutcome(plan.watchlist, state, reports, str(exc), len(items))
    _save(d, batch.id, entry, settled(retry.delivered(entry, now)))
    return AlertOutcome(plan.watchlist, "sent", reports, stories=len(items))


def _alert_content(tx: Tx, plan: AlertPlan, batch: AlertBatch, now: datetime) -> DigestContent:
    """The batch as an alert: its stories and reports, what of the alert query they matched."""
    reports = _batch_reports(tx, plan, batch.article_ids)
    start = min((r.matched_at for r in reports), default=batch.created_at)
    items = story_items(tx, plan.watchlist, reports, start, plan.timezone, plan.query.terms)
    return DigestContent(
        watchlist=plan.watchlist,
        query=plan.query.text,
        period_start=start,
        period_end=batch.created_at,
        timezone=plan.timezone,
        articles=tuple(items),
        generated_at=now,
        total_reports=len(reports),
        total_stories=len(items),
        kind="alert",
    )


def _batch_reports(tx: Tx, plan: AlertPlan, ids: Sequence[int]) -> list[MatchedReport]:
    """The batch's matched articles, each with the terms of the alert query it satisfied
    (what triggered the alert), else the watchlist's terms if the alert query changed."""
    reports = digests.reports_of(tx, plan.watchlist, ids)
    docs = articles.match_docs(tx, [r.article_id for r in reports])
    out = []
    for report in reports:
        hit = plan.query.match(docs[report.article_id])
        out.append(with_terms(report, hit.terms) if hit is not None else report)
    return out


def deliver_alerts(d: Delivery, plans: Sequence[AlertPlan]) -> list[AlertOutcome]:
    """Retry batches in back-off, open new batches whose window has closed, send them."""
    now = d.clock()
    out = []
    for plan in plans:
        if not plan.recipients:
            continue
        _open_batch(d, plan, now)
        for alert_id in _due_batches(d, plan, now):
            outcome = send_batch(d, plan, alert_id)
            if outcome is not None:
                out.append(outcome)
                log.info("alert %s: %s", plan.watchlist, outcome.state)
    return out
