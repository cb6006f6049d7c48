"""When to look at a source (or retry a digest) next: a pure policy of `now` and the error count.

Exponential back-off with jitter and a cap; a failing source is slowed down, never given up on.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import datetime, timedelta

SUCCESS_JITTER = 0.1  # up to +10 % on the normal interval, so sources drift apart
_MAX_DOUBLINGS = 40  # 2**40 intervals exceeds any sane cap; keeps the float arithmetic finite


def next_check(
    now: datetime,
    *,
    error_count: int,
    interval: timedelta,
    retry_after_s: float | None = None,
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
    server cannot park a source for longer than `cap`. `rand()` returns a float in [0, 1).
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
    if retry_after_s is not None and math.isfinite(retry_after_s) and retry_after_s > 0:
        delay = max(delay, min(retry_after_s, limit))
    return now + timedelta(seconds=delay)
