"""Immediate alerts: a watchlist's new matches that also satisfy its `alert.query`, batched.

The first unalerted match opens a batching window (default 10 min); when it closes, one mail
carries every alert-worthy match gathered, and no second alert mail for the watchlist goes
out within one window of the last (rate limit). Each match is alerted at most once: the
batch row and the matches' `alerted_at` are committed together, before sending. Whether a
match satisfies the alert query is decided when its article is processed (with the alert
query of that time); matches stored without that verdict are checked here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.delivery.content import MatchedReport, matched_report, story_items, with_terms
from monitor.delivery.digest import Delivery, retry_delay
from monitor.delivery.mailer import build_message
from monitor.delivery.render import render_digest
from monitor.errors import DeliveryError, TemporaryDeliveryError
from monitor.models import DigestContent
from monitor.pipeline.match import Query
from monitor.pipeline.runner.stored import stored_doc
from monitor.storage.schema import AlertRow, ArticleRow, MatchRow

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
    with d.db.session() as s:
        pairs = s.execute(
            select(MatchRow, ArticleRow)
            .join(ArticleRow, ArticleRow.id == MatchRow.article_id)
            .where(MatchRow.watchlist == plan.watchlist, MatchRow.alerted_at.is_(None))
            .order_by(MatchRow.matched_at, MatchRow.id)
        ).all()
        worthy = []
        for m, a in pairs:
            # The verdict taken at processing time, else (older matches) the query now.
            if m.alert_worthy is False or (
                m.alert_worthy is None and plan.query.match(stored_doc(s, a)) is None
            ):
                m.alerted_at = now  # considered: not alert-worthy, never looked at again
            else:
                worthy.append(m)
        if not worthy or now < worthy[0].matched_at + plan.window:
            return None
        last = s.scalar(
            select(func.max(AlertRow.created_at)).where(AlertRow.watchlist == plan.watchlist)
        )
        if last is not None and now < last + plan.window:
            return None  # rate limit: at most one alert mail per window
        row = AlertRow(
            watchlist=plan.watchlist,
            created_at=now,
            state="pending",
            message_id="",
            article_ids=[m.article_id for m in worthy],
        )
        s.add(row)
        s.flush()
        row.message_id = f"<alert.{plan.watchlist}.{row.id}@monitor>"
        for m in worthy:
            m.alerted_at = now
        return row.id


def _due_batches(d: Delivery, plan: AlertPlan, now: datetime) -> list[int]:
    with d.db.session() as s:
        rows = s.scalars(
            select(AlertRow)
            .where(AlertRow.watchlist == plan.watchlist, AlertRow.state.in_(("pending", "sending")))
            .order_by(AlertRow.id)
        ).all()
        return [r.id for r in rows if r.next_attempt_at is None or r.next_attempt_at <= now]


def _set(d: Delivery, alert_id: int, **values: object) -> None:
    with d.db.session() as s:
        row = s.get_one(AlertRow, alert_id)
        for k, v in values.items():
            setattr(row, k, v)


def send_batch(d: Delivery, plan: AlertPlan, alert_id: int) -> AlertOutcome:
    """Render and send one alert batch; temporary failures back off, 5xx marks it failed."""
    now = d.clock()
    with d.db.session() as s:
        row = s.get_one(AlertRow, alert_id)
        attempts, mid = row.attempts, row.message_id
        content = _alert_content(s, plan, row, now)
    _set(d, alert_id, state="sending", attempts=attempts + 1)
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
            message_id=mid,
            list_id=f"{plan.watchlist}-alerts.monitor",
            date=now,
        )
        d.mailer.send(msg)
    except TemporaryDeliveryError as exc:
        wait = retry_delay(attempts)
        _set(d, alert_id, state="pending", last_error=str(exc), next_attempt_at=now + wait)
        return AlertOutcome(plan.watchlist, "retrying", reports, str(exc), len(items))
    except DeliveryError as exc:
        _set(d, alert_id, state="failed", last_error=str(exc))
        return AlertOutcome(plan.watchlist, "failed", reports, str(exc), len(items))
    _set(d, alert_id, state="sent", sent_at=now, last_error=None)
    return AlertOutcome(plan.watchlist, "sent", reports, stories=len(items))


def _alert_content(s: Session, plan: AlertPlan, row: AlertRow, now: datetime) -> DigestContent:
    """The batch as an alert: its stories and reports, what of the alert query they matched."""
    reports = _batch_reports(s, plan, [int(i) for i in row.article_ids])
    start = min((r.matched_at for r in reports), default=row.created_at)
    items = story_items(s, plan.watchlist, reports, start, plan.timezone, plan.query.terms)
    return DigestContent(
        watchlist=plan.watchlist,
        query=plan.query.text,
        period_start=start,
        period_end=row.created_at,
        timezone=plan.timezone,
        articles=tuple(items),
        generated_at=now,
        total_reports=len(reports),
        total_stories=len(items),
        kind="alert",
    )


def _batch_reports(s: Session, plan: AlertPlan, ids: list[int]) -> list[MatchedReport]:
    """The batch's matched articles, each with the terms of the alert query it satisfied
    (what triggered the alert), else the watchlist's terms if the alert query changed."""
    pairs = s.execute(
        select(MatchRow, ArticleRow)
        .join(ArticleRow, ArticleRow.id == MatchRow.article_id)
        .where(MatchRow.watchlist == plan.watchlist, MatchRow.article_id.in_(ids))
        .order_by(MatchRow.matched_at, ArticleRow.id)
    ).all()
    reports = []
    for m, a in pairs:
        hit = plan.query.match(stored_doc(s, a))
        report = matched_report(m, a)
        reports.append(with_terms(report, hit.terms) if hit is not None else report)
    return reports


def deliver_alerts(d: Delivery, plans: Sequence[AlertPlan]) -> list[AlertOutcome]:
    """Retry batches in back-off, open new batches whose window has closed, send them."""
    now = d.clock()
    out = []
    for plan in plans:
        if not plan.recipients:
            continue
        _open_batch(d, plan, now)
        for alert_id in _due_batches(d, plan, now):
            out.append(send_batch(d, plan, alert_id))
            log.info("alert %s: %s", plan.watchlist, out[-1].state)
    return out
