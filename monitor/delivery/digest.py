"""The digest ledger: which period is due, what it holds, and its delivery state, exactly once.

A digest is a ledger entry keyed by (watchlist, period_start) whose state is committed at each
step of `monitor.pipeline.retry`'s ledger machine: pending -> rendering -> sending -> sent |
failed. APScheduler only says "now is a good time to look"; the ledger decides what is due,
so a restart neither resends nor skips a period. A try claims its entry atomically (each step
is a compare-and-set on state and attempts, under a lease), so two processes never send one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from croniter import croniter

from monitor.delivery import content
from monitor.delivery.mailer import Mailer, address_of, build_message, send_to
from monitor.delivery.render import render_digest
from monitor.delivery.reports import write_reports
from monitor.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError
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

IN_FLIGHT = (retry.RENDERING, retry.SENDING)  # a try under way: its entry is claimed
# How long a claimed try is left to the process that claimed it before another may take it
# over: longer than any one try (render, write the reports, a few SMTP exchanges of at most
# smtp.timeout_s each). A process that ends is caught up at once by the writer lock's next
# holder (`recover_claims`); the lease matters only to processes working without the lock.
CLAIM_LEASE = timedelta(minutes=15)
EMAILED = "email: "  # an output: "email: ADDRESS" delivered, "email: ADDRESS refused: ..."


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
    """Create (or find) the ledger row for the period ending at `until`; return its id.

    DeliveryError when the period would be empty: `until` not after its start (the end of
    the last digest, or `since`).
    """
    with db.transaction() as tx:
        ledger.lock_watchlist(tx, watchlist)
        start = since if since is not None else last_period_end(tx, watchlist)
        if until <= start:
            after = "" if since is not None else " (where the last digest ended)"
            raise DeliveryError(
                f"nothing to send for {watchlist}: the period {_when(start)}{after} – "
                f"{_when(until)} is empty: a digest's period must end after it starts"
            )
        mid = message_id(watchlist, start, until)
        digest_id, _ = ledger.open_digest(tx, watchlist, start, until, mid, retry.opened())
        return digest_id


def _when(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


# --- claims ---------------------------------------------------------------------------


def leased_elsewhere(entry: LedgerState, now: datetime) -> bool:
    """In flight under a claim whose lease has not run out: another try is under way."""
    return (
        entry.state in IN_FLIGHT
        and entry.next_attempt_at is not None
        and entry.next_attempt_at > now
    )


def claimed(entry: LedgerState, now: datetime) -> LedgerState:
    """A try starts (`retry.begin`): rendering, one more attempt, leased until
    `now + CLAIM_LEASE` (its `next_attempt_at`)."""
    started = retry.begin(entry)
    if started is None:
        raise ValueError("ledger: a sent entry cannot be claimed")
    return replace(started, next_attempt_at=now + CLAIM_LEASE)


def settled(entry: LedgerState) -> LedgerState:
    """A try's last step: sent or failed for good keep no lease."""
    if entry.state in (retry.SENT, retry.FAILED):
        return replace(entry, next_attempt_at=None)
    return entry


def recover_claims(db: Database) -> int:
    """Make digests and alerts left in flight due at once; how many. Only for the writer
    lock's new holder: the process that claimed them has ended."""
    with db.transaction() as tx:
        return ledger.release_claims(tx, IN_FLIGHT)


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
    seen: LedgerState,
    entry: LedgerState,
    *,
    article_count: int | None = None,
    outputs: Sequence[str] | None = None,
) -> bool:
    """Commit a digest's step from `seen` to `entry`, then tell `on_state`; False (nothing
    changed) when another process has taken the digest over since."""
    with d.db.transaction() as tx:
        done = ledger.save_digest(
            tx, digest_id, entry, seen=seen, article_count=article_count, outputs=outputs
        )
    if not done:
        log.warning("digest %d: taken over by another process; leaving it to that one", digest_id)
        return False
    if d.on_state is not None:
        d.on_state(digest_id, entry.state)
    return True


def _claim(
    d: Delivery, digest_id: int, now: datetime
) -> tuple[DigestPeriod, LedgerState | None, list[str]]:
    """Read a digest and claim it in one transaction: the period, the claimed state (None
    when it is sent, or another process holds it) and what earlier tries delivered."""
    with d.db.transaction() as tx:
        period = ledger.digest(tx, digest_id)
        if period.ledger.state == retry.SENT or leased_elsewhere(period.ledger, now):
            return period, None, []
        entry = claimed(period.ledger, now)
        if not ledger.save_digest(tx, digest_id, entry, seen=period.ledger):
            return period, None, []
        done = ledger.digest_outputs(tx, digest_id)
    if d.on_state is not None:
        d.on_state(digest_id, entry.state)
    return period, entry, done


def deliver(d: Delivery, plan: DigestPlan, digest_id: int) -> DigestOutcome:
    """Claim one ledger row, render and send it, committing each state; failures are recorded,
    not raised. DeliveryError when another process is delivering it right now."""
    now = d.clock()
    period, entry, done = _claim(d, digest_id, now)
    outcome = None
    if entry is not None:
        outcome = _attempt(d, plan, period, entry, done, now)
    elif period.ledger.state == retry.SENT:
        outcome = _outcome(plan, period, "sent", period.article_count)
    if outcome is None:
        raise DeliveryError(
            f"the {plan.watchlist} digest for {_when(period.period_start)} – "
            f"{_when(period.period_end)} is being delivered by another process; "
            "`monitor status` shows how it went"
        )
    return outcome


def _outcome(
    plan: DigestPlan,
    period: DigestPeriod,
    state: str,
    articles: int,
    error: str | None = None,
    outputs: Sequence[str] = (),
) -> DigestOutcome:
    start, end = period.period_start, period.period_end
    return DigestOutcome(plan.watchlist, start, end, state, articles, error, list(outputs))


def _attempt(
    d: Delivery,
    plan: DigestPlan,
    period: DigestPeriod,
    entry: LedgerState,
    done: Sequence[str],
    now: datetime,
) -> DigestOutcome | None:
    """One try of a claimed digest; None when another process took it over before sending.
    An unexpected error (a bug, the database) is recorded as a failed try, then raised."""
    try:
        return _render_and_send(d, plan, period, entry, done, now)
    except Exception as exc:
        error = TemporaryDeliveryError(f"internal error: {type(exc).__name__}: {exc}")
        with _unless_it_fails(f"recording the failed try of digest {period.id}"):
            with d.db.transaction() as tx:
                current = ledger.digest(tx, period.id).ledger
            if current.state in IN_FLIGHT and current.attempts == entry.attempts:
                retry_at = retry.digest_retry_at(current.attempts, error, now)
                _save(d, period.id, current, retry.failed(current, str(error), retry_at))
        raise


@contextmanager
def _unless_it_fails(what: str) -> Iterator[None]:
    """Clean-up on an error path: its own failure is logged, never hides the first error."""
    try:
        yield
    except Exception:
        log.exception("%s failed too; the claim's lease will free it", what)


def _render_and_send(
    d: Delivery,
    plan: DigestPlan,
    period: DigestPeriod,
    entry: LedgerState,
    done: Sequence[str],
    now: datetime,
) -> DigestOutcome | None:
    content = build_content(d.db, plan, period.period_start, period.period_end, now)
    articles = len(content.articles)
    if not content.articles and plan.skip_empty:
        skipped = ["skipped: empty"]
        sent = settled(retry.delivered(entry, now))
        if not _save(d, period.id, entry, sent, article_count=0, outputs=skipped):
            return None
        return _outcome(plan, period, "sent", 0, outputs=skipped)
    try:
        rendered = render_digest(content, templates_dir=d.templates_dir)
        sending = retry.rendered(entry)
        if not _save(d, period.id, entry, sending, article_count=articles):
            return None
        entry = sending
        result = _send_and_write(d, plan, content, rendered, period.message_id, now, done)
    except DeliveryError as exc:
        return _failed(d, plan, period, entry, exc, articles, now)
    if result.deferred:
        return _deferred(d, plan, period, entry, result, articles, now)
    _save(d, period.id, entry, settled(retry.delivered(entry, now)), outputs=result.outputs)
    return _outcome(plan, period, "sent", articles, outputs=result.outputs)


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
    _save(d, period.id, entry, settled(retry.failed(entry, str(exc), retry_at)))
    start, end = period.period_start, period.period_end
    if retry_at is not None:
        log.warning("digest %s: temporary failure, retry at %s: %s", plan.watchlist, retry_at, exc)
        return _outcome(plan, period, "retrying", articles, str(exc))
    hint = f"; once fixed, `monitor digest {plan.watchlist} --resend` sends it"
    log.error("digest %s %s – %s failed: %s%s", plan.watchlist, start, end, exc, hint)
    return _outcome(plan, period, "failed", articles, str(exc) + hint)


def _deferred(
    d: Delivery,
    plan: DigestPlan,
    period: DigestPeriod,
    entry: LedgerState,
    result: _Sent,
    articles: int,
    now: datetime,
) -> DigestOutcome:
    """Some recipients got it, the server refused others for now (4xx, e.g. 452): pending,
    retried with back-off for those only (the outputs say who has it)."""
    refusals = "; ".join(f"{a}: {code} {reply}" for a, (code, reply) in result.deferred.items())
    exc = TemporaryDeliveryError(f"recipients refused for now, retried later: {refusals}")
    retry_at = retry.digest_retry_at(entry.attempts, exc, now)
    failed = retry.failed(entry, str(exc), retry_at)
    _save(d, period.id, entry, settled(failed), outputs=result.outputs)
    log.warning("digest %s: %s (retry at %s)", plan.watchlist, exc, retry_at)
    return _outcome(plan, period, "retrying", articles, str(exc), result.outputs)


def resend(d: Delivery, plan: DigestPlan, digest_id: int | None = None) -> DigestOutcome:
    """Deliver a recorded digest again, for humans (`--resend`): by default the oldest one
    that failed for good, else the newest one. Same period, content and Message-ID, to every
    recipient."""
    with d.db.transaction() as tx:
        if digest_id is None:
            digest_id = resend_candidate(tx, plan.watchlist)
        if digest_id is None:
            raise DeliveryError(f"watchlist {plan.watchlist!r} has no recorded digest to resend")
        entry = ledger.digest(tx, digest_id).ledger
    if leased_elsewhere(entry, d.clock()) or not _save(
        d, digest_id, entry, retry.reopened(entry), outputs=[]
    ):
        raise DeliveryError(
            f"the {plan.watchlist} digest is being delivered by another process right now; "
            "try --resend again when `monitor status` shows it done"
        )
    return deliver(d, plan, digest_id)


def resend_candidate(tx: Tx, watchlist: str) -> int | None:
    """The oldest digest of `watchlist` that failed for good, else its newest digest."""
    failed = ledger.digests(tx, watchlist, (retry.FAILED,))
    if failed:
        return failed[0].id
    newest = ledger.latest_digest(tx, watchlist)
    return None if newest is None else newest.id


@dataclass(frozen=True)
class _Sent:
    """A try's outputs (report files, "email: ADDRESS" per recipient who has it or refused it
    for good) and the recipients refused for now (address -> (code, reply))."""

    outputs: list[str]
    deferred: dict[str, tuple[int, str]]


def _emailed(outputs: Sequence[str]) -> list[str]:
    """The "email: ..." outputs of earlier tries: recipients done with (sent, or refused)."""
    return [o for o in outputs if o.startswith(EMAILED)]


def _send_and_write(
    d: Delivery,
    plan: DigestPlan,
    content: DigestContent,
    rendered: RenderedDigest,
    mid: str,
    now: datetime,
    done: Sequence[str],
) -> _Sent:
    """Write the report files, then mail every recipient the earlier tries of this digest
    (`done`, their outputs) did not reach."""
    outputs: list[str] = []
    files = [f for f in plan.formats if f != "email"]
    if files:
        # write_reports raises DeliveryError (naming the path) when a file cannot be written.
        paths = write_reports(content, rendered, d.reports_dir, files)
        outputs += [str(p) for p in paths]
    emailed = _emailed(done)
    if "email" not in plan.formats or not plan.recipients:
        return _Sent(outputs + emailed, {})
    if d.mailer is None:
        raise PermanentDeliveryError("email requested but no mailer is configured (smtp:)")
    reached = {o.removeprefix(EMAILED).split(" ", 1)[0] for o in emailed}
    left = [a for a in dict.fromkeys(address_of(r) for r in plan.recipients) if a not in reached]
    if not left:
        return _Sent(outputs + emailed, {})
    msg = build_message(
        rendered,
        sender=d.sender,
        recipients=plan.recipients,
        message_id=mid,
        list_id=f"{plan.watchlist}.monitor",
        date=now,
    )
    sent = send_to(d.mailer, msg, left)
    if sent.path is not None:
        return _Sent([*outputs, str(sent.path)], {})
    rejected = sent.rejected
    for a in left:
        if a in rejected:
            code, reply = rejected[a]
            emailed.append(f"{EMAILED}{a} refused: {code} {reply}")
        elif a not in sent.deferred:
            emailed.append(EMAILED + a)
    return _Sent(outputs + emailed, sent.deferred)


def deliver_due(d: Delivery, plans: Sequence[DigestPlan]) -> list[DigestOutcome]:
    """Retry digests whose back-off has passed, then open and deliver every period now due.

    After downtime this opens ONE period covering the whole gap up to the latest slot.
    Deciding a period is due, recording it and claiming it are one transaction, so two
    processes never both open it; a digest another process is delivering is left to it.
    """
    now = d.clock()
    ensure_watchlists(d.db, plans, now)
    outcomes = []
    for plan in plans:
        for digest_id in _due(d.db, plan.watchlist, now):
            period, entry, done = _claim(d, digest_id, d.clock())
            if entry is not None:
                outcomes.append(_attempt(d, plan, period, entry, done, d.clock()))
        opened = _open_due(d, plan, now)
        if opened is not None:
            outcomes.append(_attempt(d, plan, *opened, [], d.clock()))
    return [o for o in outcomes if o is not None]


def _open_due(
    d: Delivery, plan: DigestPlan, now: datetime
) -> tuple[DigestPeriod, LedgerState] | None:
    """In one transaction: whether a period is due (the latest slot is past the end of the
    last digest), its ledger row, and the claim on it; None when none is due."""
    slot = latest_slot(plan.schedule, plan.timezone, now)
    with d.db.transaction() as tx:
        ledger.lock_watchlist(tx, plan.watchlist)
        start = last_period_end(tx, plan.watchlist)
        if slot <= start:
            return None
        entry = claimed(retry.opened(), now)
        mid = message_id(plan.watchlist, start, slot)
        digest_id, created = ledger.open_digest(tx, plan.watchlist, start, slot, mid, entry)
        if not created:  # a row for that start exists already: `_due` looks after it
            return None
        period = ledger.digest(tx, digest_id)
    if d.on_state is not None:
        d.on_state(digest_id, entry.state)
    return period, entry


def _due(db: Database, watchlist: str, now: datetime) -> list[int]:
    """Digests left pending (their back-off passed), or interrupted by a crash (their claim's
    lease ran out, or the writer lock's holder released it)."""
    with db.transaction() as tx:
        entries = ledger.digests(tx, watchlist, retry.OPEN)
    return [e.id for e in entries if retry.is_due(e.ledger, now)]
