"""Every retry and back-off rule, side by side: sources, pages, digests and alerts, and the
delivery ledger's state machine. Pure: functions of (attempts, error, now); callers store.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from monitor.errors import (
    BlockedURLError,
    DeliveryError,
    FetchError,
    RetryLaterError,
    TemporaryDeliveryError,
    TooLargeError,
)
from monitor.models import LedgerState
from monitor.pipeline.fetch import MAX_RETRY_AFTER_S

# --- sources: when to look at a feed again -------------------------------------------------

SUCCESS_JITTER = 0.1  # up to +10 % on the normal interval, so sources drift apart
_MAX_DOUBLINGS = 40  # 2**40 intervals exceeds any sane cap; keeps the float arithmetic finite


def next_check(
    now: datetime,
    *,
    error_count: int,
    interval: timedelta,
    retry_after_s: float | None = None,
    fresh_for_s: float | None = None,
    cap: timedelta = timedelta(hours=24),
    rand: Callable[[], float] = random.random,
) -> datetime:
    """The next time to try, given `error_count` consecutive failures (0 = last try succeeded).

    Success: `now + interval`, plus up to 10 % jitter (never earlier than the interval).
    After n failures: a delay d = interval * 2**(n-1), "equal jitter" picks uniformly in
    [d/2, d], and the result is capped at max(cap, interval). So the first retry comes within
    one interval, the next within two, four, ..., and a source failing for weeks is still
    tried at least every `cap`.
    A server's Retry-After (seconds) is a floor on the delay, itself bounded by the cap: a
    server cannot park a source for longer than `cap`. `fresh_for_s` (how long the server
    says its answer stays fresh: Cache-Control max-age, Expires, RSS <ttl>) is the same kind
    of floor, applied on success only: an error is retried on its own schedule.
    `rand()` returns a float in [0, 1).
    """
    if error_count < 0:
        raise ValueError(f"error_count must be >= 0, got {error_count}")
    base = interval.total_seconds()
    if base <= 0:
        raise ValueError(f"interval must be positive, got {interval}")
    limit = max(cap.total_seconds(), base)
    jitter = min(max(rand(), 0.0), 1.0)
    if error_count == 0:
        delay = base * (1 + SUCCESS_JITTER * jitter)
    else:
        ceiling = min(base * 2.0 ** min(error_count - 1, _MAX_DOUBLINGS), limit)
        delay = ceiling / 2 * (1 + jitter)
    floors = [retry_after_s, fresh_for_s if error_count == 0 else None]
    for floor in floors:
        if floor is not None and math.isfinite(floor) and floor > 0:
            delay = max(delay, min(floor, limit))
    return now + timedelta(seconds=delay)


MIN_INTERVAL = timedelta(minutes=5)
MAX_INTERVAL = timedelta(hours=24)
ACTIVITY_WINDOW = timedelta(days=7)
_MIN_SPAN = timedelta(hours=1)  # a single fresh entry is not evidence of a 1-minute rhythm


def adaptive_interval(
    published: Iterable[datetime | None],
    *,
    now: datetime,
    base: timedelta,
    lo: timedelta = MIN_INTERVAL,
    hi: timedelta = MAX_INTERVAL,
) -> timedelta:
    """The polling interval for a source from the publication times its feed lists.

    Rule: half the mean gap between entries over the last 7 days, bounded to [lo, hi]
    (5 min - 24 h), so on average a new article waits a quarter of a gap. The gap is the
    7-day window divided by the entries in it, except when every listed entry is inside the
    window (the feed shows only its latest items): then the span from the oldest listed
    entry to `now` (at least 1 h) is divided instead. No dated entry at all: `base` (the
    configured interval). Dated entries, none in the window: `hi`. Future dates are ignored.
    """
    dates = sorted((d for d in published if d is not None and d <= now), reverse=True)
    if not dates:
        return base
    recent = [d for d in dates if d >= now - ACTIVITY_WINDOW]
    if not recent:
        return hi
    span = ACTIVITY_WINDOW if len(recent) < len(dates) else max(now - recent[-1], _MIN_SPAN)
    return min(max(span / len(recent) / 2, lo), hi)


# --- pages: a failed article download -------------------------------------------------------


def spends_attempt(error: Exception | None) -> bool:
    """Whether a page outcome counts as a try: all do but a request we did not make because
    the host's Retry-After had not passed (RetryLaterError)."""
    return not isinstance(error, RetryLaterError)


def retry_page_later(error: Exception, *, attempts: int, max_attempts: int) -> bool:
    """Whether a page whose download failed with `error` is fetched again on a later pass
    (True), or its feed's own text is used now (False). `attempts`: the tries made, this one
    included. Retried: a request held back by Retry-After (always: no try was spent), else a
    network error, a 5xx or a 429 while fewer than `max_attempts` tries were made. Never: a
    URL refused by rule (scheme, address, robots.txt) or a body over the size cap."""
    if isinstance(error, RetryLaterError):
        return True
    if attempts >= max_attempts:
        return False
    if isinstance(error, BlockedURLError | TooLargeError):
        return False
    if not isinstance(error, FetchError):
        return False
    return error.status is None or error.status >= 500 or error.status == 429


def page_retry_at(error: Exception, now: datetime) -> datetime | None:
    """Not before when a page retried later is fetched again: the server's Retry-After
    (429/503), held for at most MAX_RETRY_AFTER_S (24 h) as the host limiter does; None when
    the server gave none (the next pass)."""
    wait = getattr(error, "retry_after_s", None)
    if wait is None:
        return None
    return now + timedelta(seconds=min(max(0.0, float(wait)), MAX_RETRY_AFTER_S))


# --- digests and alerts: redelivery after a failed try --------------------------------------

REDELIVERY_FIRST = timedelta(seconds=60)
REDELIVERY_CAP = timedelta(hours=1)
_MAX_REDELIVERY_DOUBLINGS = 10  # 2**10 minutes is past the cap already


def redelivery_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed try (1, 2, ...): 1 min, then doubling, at
    most 1 h."""
    doublings = min(max(attempts - 1, 0), _MAX_REDELIVERY_DOUBLINGS)
    return min(REDELIVERY_CAP, REDELIVERY_FIRST * (1 << doublings))


def digest_retry_at(attempts: int, error: DeliveryError, now: datetime) -> datetime | None:
    """When a digest whose `attempts`-th try failed with `error` is tried again: after a
    temporary failure (SMTP 4xx, timeout, refused connection) `redelivery_delay` later, with
    no limit on tries (it is never skipped); after a permanent one never (None: the digest is
    failed, named in the next digests, until `monitor digest WATCHLIST --resend`)."""
    if not isinstance(error, TemporaryDeliveryError):
        return None
    return now + redelivery_delay(attempts)


def alert_retry_at(attempts: int, error: DeliveryError, now: datetime) -> datetime | None:
    """When an alert batch whose `attempts`-th try failed with `error` is tried again: the
    digest's rule (temporary failures back off from 1 min to 1 h, for ever; a permanent one
    gives up, None)."""
    return digest_retry_at(attempts, error, now)


# --- the delivery ledger: one state machine for digest periods and alert batches ----------
#
#   from                        event                    to
#   pending, rendering,         begin                    rendering, one more attempt
#     sending, failed           (rendering/sending: a crash interrupted the last try)
#   sent                        begin                    - (None: nothing to do)
#   rendering                   rendered                 sending
#   rendering, sending          delivered(now)           sent (rendering: an empty digest
#                                                          skipped); last error cleared
#   rendering, sending          failed(error, at)        pending until `at` (a retry policy's
#                                                          answer), or failed when it is None
#   any                         reopened (`--resend`)    pending, due now
#
# Alerts build their content before their first commit: begin and rendered, committed once.

PENDING = "pending"  # waiting for a try; `next_attempt_at` while backing off
RENDERING = "rendering"  # a try started: its content is being built
SENDING = "sending"  # content built: the mail and report files are going out
SENT = "sent"  # delivered (or skipped as empty): never sent again unless reopened
FAILED = "failed"  # given up on a permanent error, until reopened by hand
OPEN = (PENDING, RENDERING, SENDING)  # what the next delivery pass picks up
_IN_FLIGHT = (RENDERING, SENDING)


def opened() -> LedgerState:
    """A new ledger entry: pending, never tried."""
    return LedgerState(PENDING)


def is_due(entry: LedgerState, now: datetime) -> bool:
    """Open, and not backing off past `now`."""
    return entry.state in OPEN and (entry.next_attempt_at is None or entry.next_attempt_at <= now)


def begin(entry: LedgerState) -> LedgerState | None:
    """A try starts: rendering, one more attempt. From any state but sent (a failed one is
    tried again when asked to); None when it was sent already: nothing to do."""
    if entry.state == SENT:
        return None
    _require(entry, (*OPEN, FAILED), "begin")
    return replace(entry, state=RENDERING, attempts=entry.attempts + 1)


def rendered(entry: LedgerState) -> LedgerState:
    """The content is built: sending."""
    _require(entry, (RENDERING,), "rendered")
    return replace(entry, state=SENDING)


def delivered(entry: LedgerState, now: datetime) -> LedgerState:
    """Sent (or skipped as empty) at `now`; an earlier try's error is cleared."""
    _require(entry, _IN_FLIGHT, "delivered")
    return replace(entry, state=SENT, sent_at=now, last_error=None)


def failed(entry: LedgerState, error: str, retry_at: datetime | None) -> LedgerState:
    """The try failed with `error`: pending until `retry_at` (a retry policy's answer), or
    failed for good when there is none."""
    _require(entry, _IN_FLIGHT, "failed")
    if retry_at is None:
        return replace(entry, state=FAILED, last_error=error)
    return replace(entry, state=PENDING, last_error=error, next_attempt_at=retry_at)


def reopened(entry: LedgerState) -> LedgerState:
    """Asked for again by hand (`--resend`): pending and due now, whatever its state."""
    return replace(entry, state=PENDING, next_attempt_at=None)


def _require(entry: LedgerState, allowed: Collection[str], event: str) -> None:
    if entry.state not in allowed:
        raise ValueError(f"ledger: cannot apply {event!r} in state {entry.state!r}")
