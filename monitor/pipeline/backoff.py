"""When to look at a source (or retry a digest) next: a pure policy of `now` and the error count.

Exponential back-off with jitter and a cap; a failing source is slowed down, never given up on.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

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


# --- how often to look: adaptive to how often the source publishes --------------------------

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
