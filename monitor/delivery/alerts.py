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

from monitor.delivery.digest import Delivery, retry_delay, story_item
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
    watchlist: str
    state: str
    articles: int
    error: str | None = None


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
        attempts, mid, created = row.attempts, row.message_id, row.created_at
        ids = [int(i) for i in row.article_ids]
        groups = []
        for aid in ids:
            m = s.scalars(
                select(MatchRow).where(
                    MatchRow.watchlist == plan.watchlist, MatchRow.article_id == aid
                )
            ).first()
            a = s.get(ArticleRow, aid)
            if m is not None and a is not None:
                groups.append(story_item(s, [(m, a)]))
    _set(d, alert_id, state="sending", attempts=attempts + 1)
    start = min((g.matched_at for g in groups), default=created)
    content = DigestContent(
        watchlist=plan.watchlist,
        query=plan.query.text,
        period_start=start,
        period_end=created,
        timezone=plan.timezone,
        articles=tuple(groups),
        generated_at=now,
    )
    try:
        rendered = render_digest(content, templates_dir=d.templates_dir)
        first = groups[0].title[:SUBJECT_TITLE_CHARS] if groups else ""
        more = f" (+{len(groups) - 1} more)" if len(groups) > 1 else ""
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
        return AlertOutcome(plan.watchlist, "retrying", len(groups), str(exc))
    except DeliveryError as exc:
        _set(d, alert_id, state="failed", last_error=str(exc))
        return AlertOutcome(plan.watchlist, "failed", len(groups), str(exc))
    _set(d, alert_id, state="sent", sent_at=now, last_error=None)
    return AlertOutcome(plan.watchlist, "sent", len(groups))


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
