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
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.delivery.mailer import Mailer, build_message
from monitor.delivery.render import render_digest
from monitor.delivery.reports import write_reports
from monitor.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError
from monitor.models import (
    ActorChip,
    ActorTrend,
    DigestArticle,
    DigestContent,
    OtherReport,
    RenderedDigest,
    SourceHealth,
)
from monitor.storage.engine import Database
from monitor.storage.schema import (
    ArticleRow,
    DigestRow,
    EntityRow,
    MatchRow,
    MentionRow,
    SourceRow,
    WatchlistRow,
)

log = logging.getLogger("monitor.digest")
RETRY_FIRST = timedelta(seconds=60)
RETRY_CAP = timedelta(hours=1)
SNIPPET_CHARS = 320


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
    """Everything matched in [start, end): one item per story, with the other outlets."""
    with db.session() as s:
        pairs = s.execute(
            select(MatchRow, ArticleRow)
            .join(ArticleRow, ArticleRow.id == MatchRow.article_id)
            .where(
                MatchRow.watchlist == plan.watchlist,
                MatchRow.matched_at >= start,
                MatchRow.matched_at < end,
            )
            .order_by(MatchRow.matched_at, ArticleRow.id)
        ).all()
        by_story: dict[int, list[tuple[MatchRow, ArticleRow]]] = {}
        for m, a in pairs:
            by_story.setdefault(a.story_id or -a.id, []).append((m, a))
        articles = [story_item(s, group) for group in by_story.values()]
        articles.sort(key=_relevance)
        failing = _failing_sources(s)
        trends = actor_trends(s, plan.watchlist, start, end)
    return DigestContent(
        watchlist=plan.watchlist,
        query=plan.query,
        period_start=start,
        period_end=end,
        timezone=plan.timezone,
        articles=tuple(articles[: plan.max_articles]),
        failing_sources=failing,
        generated_at=now,
        actor_trends=trends,
        total_reports=len(pairs),
    )


def _relevance(d: DigestArticle) -> tuple[int, int, int, datetime]:
    """Most relevant first: more outlets, more distinct matched terms, more actor mentions."""
    mentions = sum(c.count for c in d.actors)
    return (-len(d.also_reported_by), -len(set(d.matched_terms)), -mentions, d.matched_at)


TREND_DAYS = 14
BASELINE_DAYS = 7
TREND_ACTORS = 8


def actor_trends(
    s: Session, watchlist: str, start: datetime, end: datetime
) -> tuple[ActorTrend, ...]:
    """Leading actors of the period: matched originals naming each, vs the 7 days before.

    `baseline` scales the previous week's count to the period's length; an actor is `rising`
    with at least 3 articles and more than twice its baseline. Copies are not counted, so
    syndication does not inflate an actor.
    """
    since = min(start - timedelta(days=BASELINE_DAYS), end - timedelta(days=TREND_DAYS))
    rows = s.execute(
        select(MatchRow.matched_at, MentionRow.entity_id, EntityRow.name, EntityRow.type)
        .join(ArticleRow, ArticleRow.id == MatchRow.article_id)
        .join(MentionRow, MentionRow.article_id == MatchRow.article_id)
        .join(EntityRow, EntityRow.id == MentionRow.entity_id, isouter=True)
        .where(
            MatchRow.watchlist == watchlist,
            MatchRow.matched_at >= since,
            MatchRow.matched_at < end,
            ArticleRow.duplicate_of_id.is_(None),
        )
    ).all()
    period_days = max((end - start).total_seconds() / 86400, 1 / 24)
    stats: dict[str, dict[str, Any]] = {}
    for matched_at, eid, name, etype in rows:
        st = stats.setdefault(
            eid,
            {
                "name": name or eid,
                "type": etype or "",
                "now": 0,
                "before": 0,
                "daily": [0] * TREND_DAYS,
            },
        )
        if matched_at >= start:
            st["now"] += 1
        elif matched_at >= start - timedelta(days=BASELINE_DAYS):
            st["before"] += 1
        day = int((end - matched_at).total_seconds() // 86400)
        if 0 <= day < TREND_DAYS:
            st["daily"][TREND_DAYS - 1 - day] += 1
    leading = sorted(
        (e for e in stats.items() if e[1]["now"]), key=lambda e: (-e[1]["now"], e[1]["name"])
    )
    out = []
    for eid, st in leading[:TREND_ACTORS]:
        baseline = round(st["before"] / BASELINE_DAYS * period_days, 2)
        out.append(
            ActorTrend(
                id=eid,
                name=st["name"],
                type=st["type"],
                articles=st["now"],
                baseline=baseline,
                rising=st["now"] >= 3 and st["now"] > 2 * baseline,
                daily=tuple(st["daily"]),
            )
        )
    return tuple(out)


def story_item(s: Session, group: list[tuple[MatchRow, ArticleRow]]) -> DigestArticle:
    # The original (not a copy) and the earliest published is the story's face.
    match, best = min(
        group,
        key=lambda p: (
            p[1].duplicate_of_id is not None,
            p[1].published_at or p[1].discovered_at,
            p[1].id,
        ),
    )
    others: list[OtherReport] = []
    if best.story_id is not None:
        for o in s.scalars(
            select(ArticleRow)
            .where(ArticleRow.story_id == best.story_id, ArticleRow.id != best.id)
            .order_by(ArticleRow.id)
        ):
            others.append(OtherReport(source=o.source_name, url=o.url, title=o.title))
    return DigestArticle(
        url=best.url,
        title=best.title or best.url,
        source=best.source_name,
        published_at=best.published_at,
        matched_at=match.matched_at,
        snippet=_snippet(best.text, [str(t) for t in match.terms]),
        actors=_actors(s, best.id),
        matched_terms=tuple(str(t) for t in match.terms),
        also_reported_by=tuple(others),
        story_id=best.story_id,
    )


def _snippet(text: str, terms: Sequence[str]) -> str:
    """A window of text around the first matched term (else the opening), on word bounds."""
    lower = text.lower()
    hits = [i for i in (lower.find(t.lower()) for t in terms if t) if i >= 0]
    start = max(0, min(hits) - SNIPPET_CHARS // 3) if hits else 0
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 40 else start
    piece = " ".join(text[start : start + SNIPPET_CHARS].split())
    prefix = "… " if start else ""
    suffix = " …" if start + SNIPPET_CHARS < len(text) else ""
    return f"{prefix}{piece}{suffix}"


def _actors(s: Session, article_id: int) -> tuple[ActorChip, ...]:
    rows = s.execute(
        select(MentionRow.entity_id, MentionRow.count, EntityRow.name, EntityRow.type)
        .join(EntityRow, EntityRow.id == MentionRow.entity_id, isouter=True)
        .where(MentionRow.article_id == article_id)
        .order_by(MentionRow.count.desc(), MentionRow.entity_id)
        .limit(10)
    ).all()
    return tuple(
        ActorChip(eid, name or eid, etype or "", count) for eid, count, name, etype in rows
    )


def _failing_sources(s: Session) -> tuple[SourceHealth, ...]:
    rows = s.scalars(select(SourceRow).where(SourceRow.error_count > 0).order_by(SourceRow.name))
    return tuple(
        SourceHealth(r.name, r.url, r.error_count, r.last_error, r.next_check_at) for r in rows
    )


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
        return DigestOutcome(plan.watchlist, start, end, "failed", len(content.articles), str(exc))
    _set_state(d, digest_id, "sent", sent_at=now, last_error=None, outputs=outcome.outputs)
    return outcome


def resend(d: Delivery, plan: DigestPlan, digest_id: int | None = None) -> DigestOutcome:
    """Deliver a recorded digest again (the newest one by default), for humans: `--resend`."""
    with d.db.session() as s:
        if digest_id is None:
            digest_id = s.scalar(
                select(DigestRow.id)
                .where(DigestRow.watchlist == plan.watchlist)
                .order_by(DigestRow.period_end.desc())
                .limit(1)
            )
        if digest_id is None:
            raise DeliveryError(f"watchlist {plan.watchlist!r} has no recorded digest to resend")
    _set_state(d, digest_id, "pending", next_attempt_at=None)
    return deliver(d, plan, digest_id)


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
