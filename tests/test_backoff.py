"""next_check(): the back-off policy, by tables. `rand` is pinned, so every row is exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.pipeline.retry import adaptive_interval, next_check

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)
H = timedelta(hours=1)


def low() -> float:
    return 0.0


def high() -> float:
    return 1 - 1e-9


def mid() -> float:
    return 0.5


@pytest.mark.parametrize(
    ("error_count", "interval", "rand", "expected"),
    [
        # success: the interval, plus at most 10 % jitter, never less
        (0, 15 * M, low, 15 * M),
        (0, 15 * M, mid, 15 * M + 45 * timedelta(seconds=1)),
        (0, 60 * M, high, 66 * M),
        # failures: d = interval * 2**(n-1), picked in [d/2, d]
        (1, 15 * M, low, 7.5 * M),
        (1, 15 * M, high, 15 * M),
        (2, 15 * M, low, 15 * M),
        (2, 15 * M, high, 30 * M),
        (3, 15 * M, mid, 45 * M),
        (5, 15 * M, high, 4 * H),
        # the cap (24 h by default) bounds the ceiling: equal jitter within [12 h, 24 h]
        (8, 15 * M, high, 24 * H),
        (8, 15 * M, low, 12 * H),
        (30, 15 * M, mid, 18 * H),
        (10_000, 15 * M, high, 24 * H),  # never "disabled for good", and no overflow
        # an interval longer than the cap: errors never wait longer than the interval...
        (3, 48 * H, high, 48 * H),
        # ...and the first retry still comes sooner than the next normal poll
        (1, 48 * H, low, 24 * H),
        # a digest-style retry: first within a minute, growing
        (1, M, high, M),
        (2, M, high, 2 * M),
    ],
)
def test_schedule(error_count: int, interval: timedelta, rand: object, expected: timedelta) -> None:
    assert callable(rand)
    got = next_check(NOW, error_count=error_count, interval=interval, rand=rand)
    assert abs((got - NOW) - expected) < timedelta(milliseconds=1)


@pytest.mark.parametrize(
    ("error_count", "retry_after_s", "cap", "expected"),
    [
        (1, 3600.0, 24 * H, 1 * H),  # longer than the back-off: honoured
        (1, 60.0, 24 * H, 15 * M),  # shorter than the back-off: back-off wins
        (0, 7200.0, 24 * H, 2 * H),  # even after a success (e.g. a 503 on the next page)
        (1, 10 * 86400.0, 24 * H, 24 * H),  # a server cannot park us beyond the cap
        (1, 10 * 86400.0, 6 * H, 6 * H),
        (1, 0.0, 24 * H, 15 * M),
        (1, -5.0, 24 * H, 15 * M),  # nonsense ignored
        (1, float("nan"), 24 * H, 15 * M),
        (1, float("inf"), 24 * H, 15 * M),
        (1, None, 24 * H, 15 * M),
    ],
)
def test_retry_after(
    error_count: int, retry_after_s: float | None, cap: timedelta, expected: timedelta
) -> None:
    got = next_check(
        NOW,
        error_count=error_count,
        interval=15 * M,
        retry_after_s=retry_after_s,
        cap=cap,
        rand=high,
    )
    assert abs((got - NOW) - expected) < timedelta(milliseconds=1)


def test_default_randomness_stays_in_bounds() -> None:
    for errors in range(12):
        for _ in range(50):
            delay = next_check(NOW, error_count=errors, interval=15 * M) - NOW
            if errors == 0:
                assert 15 * M <= delay <= 16.5 * M
            else:
                ceiling = min(15 * M * 2 ** (errors - 1), 24 * H)
                assert ceiling / 2 <= delay <= ceiling


def test_later_errors_never_come_sooner_than_earlier_ones_at_the_same_jitter() -> None:
    delays = [next_check(NOW, error_count=n, interval=5 * M, rand=mid) - NOW for n in range(1, 40)]
    assert delays == sorted(delays)
    assert delays[-1] == 18 * H


def test_rand_outside_unit_interval_is_clamped() -> None:
    assert next_check(NOW, error_count=1, interval=H, rand=lambda: 7.0) - NOW == H
    assert next_check(NOW, error_count=1, interval=H, rand=lambda: -1.0) - NOW == H / 2


def test_keeps_the_timezone_of_now() -> None:
    assert next_check(NOW, error_count=0, interval=H, rand=low).tzinfo is UTC


@pytest.mark.parametrize(("error_count", "interval"), [(-1, H), (0, timedelta(0)), (2, -H)])
def test_bad_arguments(error_count: int, interval: timedelta) -> None:
    with pytest.raises(ValueError):
        next_check(NOW, error_count=error_count, interval=interval)


@pytest.mark.parametrize(
    ("error_count", "fresh_for_s", "expected"),
    [
        (0, 3600.0, 1 * H),  # max-age / Expires / <ttl> longer than the interval: honoured
        (0, 60.0, 15 * M),  # shorter: the interval wins (never polled more often)
        (0, 10 * 86400.0, 24 * H),  # a year-long max-age still comes back within the cap
        (0, None, 15 * M),
        (0, 0.0, 15 * M),
        (1, 3600.0, 7.5 * M),  # freshness says nothing about errors: back-off alone
    ],
)
def test_freshness_floor(error_count: int, fresh_for_s: float | None, expected: timedelta) -> None:
    got = next_check(
        NOW, error_count=error_count, interval=15 * M, fresh_for_s=fresh_for_s, rand=low
    )
    assert abs((got - NOW) - expected) < timedelta(milliseconds=1)


def ago(*deltas: timedelta) -> list[datetime | None]:
    return [NOW - d for d in deltas]


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        ([], 15 * M),  # nothing dated: the configured interval
        ([None, None], 15 * M),
        # a wire service: 20 items over the last 2 h -> gap 6 min -> half is under the floor
        (ago(*(i * 6 * M for i in range(20))), 5 * M),
        # 10 items over the last 10 h (all in the window): gap 1 h -> every 30 min
        (ago(*(i * H for i in range(1, 11))), 30 * M),
        # a daily blog: 7 in the window, older ones listed too -> gap 1 day -> 12 h
        (ago(*(H + d * 24 * H for d in range(14))), 12 * H),
        # a weekly: one item in the week, older listed -> 7 d / 1 / 2, capped at 24 h
        (ago(2 * 24 * H, 9 * 24 * H, 16 * 24 * H), 24 * H),
        # dated, but nothing in the last week: the cap
        (ago(30 * 24 * H, 60 * 24 * H), 24 * H),
        # a single item minutes old: the span counts at least 1 h -> 30 min
        (ago(2 * M), 30 * M),
        # future dates are ignored (timezone typos)
        ([NOW + 5 * H, NOW + 6 * H], 15 * M),
    ],
)
def test_adaptive_interval(published: list[datetime | None], expected: timedelta) -> None:
    got = adaptive_interval(published, now=NOW, base=15 * M)
    assert abs(got - expected) < timedelta(seconds=1)


def test_adaptive_interval_bounds_are_parameters() -> None:
    busy = ago(*(i * M for i in range(50)))
    assert adaptive_interval(busy, now=NOW, base=H, lo=2 * M) == 2 * M
    assert adaptive_interval(ago(90 * 24 * H), now=NOW, base=H, hi=6 * H) == 6 * H
