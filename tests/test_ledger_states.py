"""The delivery ledger's one state machine (digest periods and alert batches) and the retry
policies beside it, by tables of cases: pure, no database, no clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from monitor.delivery import digest
from monitor.errors import (
    BlockedURLError,
    DeliveryError,
    ExtractError,
    FetchError,
    PermanentDeliveryError,
    RetryLaterError,
    TemporaryDeliveryError,
    TooLargeError,
)
from monitor.models import LedgerState
from monitor.pipeline import retry
from monitor.pipeline.retry import FAILED, PENDING, RENDERING, SENDING, SENT

NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=4)
EARLIER = NOW - timedelta(hours=2)
S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)

Step = Callable[[LedgerState], LedgerState | None]


state = LedgerState

# --- the state machine ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "step", "after"),
    [
        # begin: a try starts, one more attempt; from any open state, and again after failing
        (state(PENDING), retry.begin, state(RENDERING, attempts=1)),
        (
            state(PENDING, attempts=2, next_attempt_at=NOW, last_error="451"),
            retry.begin,
            state(RENDERING, attempts=3, next_attempt_at=NOW, last_error="451"),
        ),
        # a crash left it rendering or sending: the try starts again
        (state(RENDERING, attempts=1), retry.begin, state(RENDERING, attempts=2)),
        (state(SENDING, attempts=1), retry.begin, state(RENDERING, attempts=2)),
        (
            state(FAILED, attempts=1, last_error="550"),
            retry.begin,
            state(RENDERING, attempts=2, last_error="550"),
        ),
        # sent already: nothing to do
        (state(SENT, attempts=1, sent_at=EARLIER), retry.begin, None),
        # rendered: the content is built
        (state(RENDERING, attempts=1), retry.rendered, state(SENDING, attempts=1)),
        # delivered: from sending, or from rendering (an empty digest skipped); error cleared
        (
            state(SENDING, attempts=2, last_error="451", next_attempt_at=EARLIER),
            lambda e: retry.delivered(e, NOW),
            state(SENT, attempts=2, sent_at=NOW, next_attempt_at=EARLIER),
        ),
        (
            state(RENDERING, attempts=1),
            lambda e: retry.delivered(e, NOW),
            state(SENT, attempts=1, sent_at=NOW),
        ),
        # failed: pending until the policy's time, or failed for good without one
        (
            state(SENDING, attempts=1),
            lambda e: retry.failed(e, "451 try later", LATER),
            state(PENDING, attempts=1, last_error="451 try later", next_attempt_at=LATER),
        ),
        (
            state(RENDERING, attempts=1),
            lambda e: retry.failed(e, "disk full", None),
            state(FAILED, attempts=1, last_error="disk full"),
        ),
        (
            state(SENDING, attempts=3, next_attempt_at=EARLIER),
            lambda e: retry.failed(e, "550 denied", None),
            state(FAILED, attempts=3, last_error="550 denied", next_attempt_at=EARLIER),
        ),
        # reopened (`--resend`): pending and due now, from any state
        (
            state(FAILED, attempts=1, last_error="550"),
            retry.reopened,
            state(PENDING, attempts=1, last_error="550"),
        ),
        (
            state(SENT, attempts=1, sent_at=EARLIER),
            retry.reopened,
            state(PENDING, attempts=1, sent_at=EARLIER),
        ),
        (
            state(PENDING, attempts=2, next_attempt_at=LATER),
            retry.reopened,
            state(PENDING, attempts=2),
        ),
        (state(SENDING, attempts=1), retry.reopened, state(PENDING, attempts=1)),
    ],
)
def test_transition(before: LedgerState, step: Step, after: LedgerState | None) -> None:
    assert step(before) == after


@pytest.mark.parametrize(
    ("before", "step"),
    [
        (state(PENDING), retry.rendered),
        (state(SENDING), retry.rendered),
        (state(SENT), retry.rendered),
        (state(FAILED), retry.rendered),
        (state(PENDING), lambda e: retry.delivered(e, NOW)),
        (state(SENT), lambda e: retry.delivered(e, NOW)),
        (state(FAILED), lambda e: retry.delivered(e, NOW)),
        (state(PENDING), lambda e: retry.failed(e, "x", None)),
        (state(SENT), lambda e: retry.failed(e, "x", LATER)),
        (state(FAILED), lambda e: retry.failed(e, "x", LATER)),
    ],
)
def test_a_step_out_of_order_is_refused(before: LedgerState, step: Step) -> None:
    with pytest.raises(ValueError, match=f"in state '{before.state}'"):
        step(before)


@pytest.mark.parametrize(
    ("entry", "due"),
    [
        (state(PENDING), True),
        (state(PENDING, next_attempt_at=NOW), True),  # its back-off ends now
        (state(PENDING, next_attempt_at=NOW - S), True),
        (state(PENDING, next_attempt_at=NOW + S), False),  # still backing off
        (state(RENDERING), True),  # a crash left it: picked up again
        (state(SENDING), True),
        (state(SENDING, next_attempt_at=NOW + H), False),
        (state(SENT, sent_at=EARLIER), False),
        (state(FAILED, last_error="550"), False),  # until resent by hand
    ],
)
def test_due(entry: LedgerState, due: bool) -> None:
    assert retry.is_due(entry, NOW) is due


def test_a_new_entry_is_pending_and_due() -> None:
    assert retry.opened() == LedgerState(PENDING)
    assert retry.is_due(retry.opened(), NOW)
    assert set(retry.OPEN) == {PENDING, RENDERING, SENDING}


def _try(entry: LedgerState, error: DeliveryError | None, now: datetime) -> LedgerState:
    """One digest try as `delivery.digest.deliver` makes it."""
    started = retry.begin(entry)
    assert started is not None
    sending = retry.rendered(started)
    if error is None:
        return retry.delivered(sending, now)
    return retry.failed(sending, str(error), retry.digest_retry_at(sending.attempts, error, now))


def test_a_digest_backs_off_through_temporary_failures_then_is_sent_once() -> None:
    entry, now, waits = retry.opened(), NOW, []
    for _ in range(8):
        entry = _try(entry, TemporaryDeliveryError("451 try again later"), now)
        assert entry.state == PENDING and entry.next_attempt_at is not None
        assert not retry.is_due(entry, entry.next_attempt_at - S)
        waits.append(entry.next_attempt_at - now)
        now = entry.next_attempt_at
    assert waits == [1 * M, 2 * M, 4 * M, 8 * M, 16 * M, 32 * M, H, H]
    entry = _try(entry, None, now)
    assert entry == LedgerState(SENT, attempts=9, next_attempt_at=now, sent_at=now)
    assert retry.begin(entry) is None and not retry.is_due(entry, now + 24 * H)


def test_a_permanent_failure_waits_for_a_resend() -> None:
    entry = _try(retry.opened(), PermanentDeliveryError("550 relaying denied"), NOW)
    assert (entry.state, entry.last_error) == (FAILED, "550 relaying denied")
    assert not retry.is_due(entry, NOW + 365 * 24 * H)
    entry = retry.reopened(entry)
    assert retry.is_due(entry, NOW)
    assert _try(entry, None, LATER) == LedgerState(SENT, attempts=2, sent_at=LATER)


# --- redelivery: digests and alerts -------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [
        (0, 1 * M),  # no try counted yet: the first wait
        (1, 1 * M),
        (2, 2 * M),
        (3, 4 * M),
        (4, 8 * M),
        (5, 16 * M),
        (6, 32 * M),
        (7, H),  # 64 min, capped
        (11, H),
        (12, H),
        (1000, H),  # no overflow however long it fails
    ],
)
def test_redelivery_delay(attempts: int, delay: timedelta) -> None:
    assert retry.redelivery_delay(attempts) == delay


@pytest.mark.parametrize("attempts_before", [0, 1, 2, 5, 6, 10, 50])
def test_digest_retry_delay_keeps_its_meaning(attempts_before: int) -> None:
    """`delivery.digest.retry_delay` counts the tries before the failed one."""
    expected = min(H, timedelta(seconds=60) * 2 ** min(attempts_before, 10))
    assert digest.retry_delay(attempts_before) == expected


@pytest.mark.parametrize("policy", [retry.digest_retry_at, retry.alert_retry_at])
@pytest.mark.parametrize(
    ("attempts", "error", "expected"),
    [
        (1, TemporaryDeliveryError("451 try again later"), NOW + 1 * M),
        (2, TemporaryDeliveryError("timed out"), NOW + 2 * M),
        (9, TemporaryDeliveryError("connection refused"), NOW + H),
        (1, PermanentDeliveryError("550 relaying denied"), None),
        (1, DeliveryError("cannot write reports/kh.json"), None),
        (7, PermanentDeliveryError("554"), None),
    ],
)
def test_redelivery_time(
    policy: Callable[[int, DeliveryError, datetime], datetime | None],
    attempts: int,
    error: DeliveryError,
    expected: datetime | None,
) -> None:
    assert policy(attempts, error, NOW) == expected


# --- pages --------------------------------------------------------------------------------------

URL = "https://example.org/a"


@pytest.mark.parametrize(
    ("error", "attempts", "later"),
    [
        (RetryLaterError("held by Retry-After", url=URL, retry_after_s=30), 1, True),
        (RetryLaterError("held by Retry-After", url=URL, retry_after_s=30), 9, True),  # no try
        (FetchError("connection reset", url=URL), 1, True),
        (FetchError("connection reset", url=URL), 2, True),
        (FetchError("connection reset", url=URL), 3, False),  # the 3rd try was the last
        (FetchError("503", url=URL, status=503, retry_after_s=120), 1, True),
        (FetchError("500", url=URL, status=500), 2, True),
        (FetchError("429", url=URL, status=429), 1, True),
        (FetchError("404", url=URL, status=404), 1, False),
        (FetchError("403", url=URL, status=403), 1, False),
        (BlockedURLError("robots.txt disallows", url=URL), 1, False),
        (TooLargeError("over 10 MB", url=URL), 1, False),
        (ExtractError("no text"), 1, False),
    ],
)
def test_retry_page_later(error: Exception, attempts: int, later: bool) -> None:
    assert retry.retry_page_later(error, attempts=attempts, max_attempts=3) is later


@pytest.mark.parametrize(
    ("error", "at"),
    [
        (FetchError("503", url=URL, status=503, retry_after_s=120), NOW + 2 * M),
        (RetryLaterError("held", url=URL, retry_after_s=0.5), NOW + S / 2),
        (FetchError("429", url=URL, status=429, retry_after_s=10 * 24 * 3600), NOW + 24 * H),
        (FetchError("429", url=URL, status=429, retry_after_s=-5), NOW),
        (FetchError("503", url=URL, status=503), None),  # no Retry-After: the next pass
        (FetchError("connection reset", url=URL), None),
        (ExtractError("no text"), None),
    ],
)
def test_page_retry_at(error: Exception, at: datetime | None) -> None:
    assert retry.page_retry_at(error, NOW) == at


@pytest.mark.parametrize(
    ("error", "spends"),
    [
        (None, True),
        (FetchError("503", url=URL, status=503), True),
        (BlockedURLError("robots.txt", url=URL), True),
        (RetryLaterError("held", url=URL, retry_after_s=30), False),
    ],
)
def test_spends_attempt(error: Exception | None, spends: bool) -> None:
    assert retry.spends_attempt(error) is spends


# --- sources --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errors", "retry_after_s", "delay"),
    [
        (0, None, 15 * M),  # success: the interval (jitter pinned to 0)
        (1, None, 15 * M / 2),  # first failure: within one interval
        (3, None, 30 * M),
        (20, None, 12 * H),  # capped at 24 h, equal jitter: half of it at least
        (1, 3600.0, H),  # a server's Retry-After is a floor
        (1, 10 * 24 * 3600.0, 24 * H),  # bounded by the cap
    ],
)
def test_source_next_check(errors: int, retry_after_s: float | None, delay: timedelta) -> None:
    at = retry.next_check(
        NOW, error_count=errors, interval=15 * M, retry_after_s=retry_after_s, rand=lambda: 0.0
    )
    assert at - NOW == delay
