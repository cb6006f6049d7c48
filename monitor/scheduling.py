"""The daemon: the only module that imports APScheduler (3.x, one scheduler process at a time).

APScheduler only says "now is a good time to look": polls per source interval, digests per
watchlist cron. What is due is decided by the database (source next_check, digest ledger),
so missed or late runs are caught up, and the first cycle after a start catches up digests.
The daemon holds the database's writer lock (taken by `app.build`); should it lose it to
another process, it stops.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from types import FrameType
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor import app as appmod
from monitor.app import App
from monitor.errors import DatabaseBusyError

log = logging.getLogger("monitor.daemon")


class Daemon:
    """Runs cycles when APScheduler fires; stops cleanly after the current unit of work."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.failure: DatabaseBusyError | None = None
        self._stop = threading.Event()
        self._work = threading.Lock()
        # One worker thread: jobs never overlap, so SQLite sees one writer at a time.
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=ZoneInfo(app.settings.timezone),
        )

    def _guarded(self, name: str, fn: Callable[[], object]) -> Callable[[], None]:
        def job() -> None:
            if self._stop.is_set():
                return
            with self._work:
                try:
                    fn()
                except DatabaseBusyError as exc:  # another process writes now: leave it be
                    log.error("job %s: lost the writer lock, stopping: %s", name, exc)
                    self.failure = exc
                    self._stop.set()
                except Exception:  # one failed job must not kill the daemon
                    log.exception("job %s failed; the next run will try again", name)

        return job

    def schedule(self) -> None:
        app = self.app
        cycle = self._guarded("cycle", lambda: appmod.run_cycle(app))
        # The first cycle runs at once: it polls never-polled sources and catches up digests.
        self.scheduler.add_job(cycle, "date", id="startup")
        shortest = min((s.interval for s in app.settings.sources), default=timedelta(minutes=15))
        for source in app.settings.sources:
            poll = self._guarded(
                f"poll:{source.name}", partial(appmod.run_cycle, app, only=source.name)
            )
            self.scheduler.add_job(
                poll,
                IntervalTrigger(seconds=source.interval.total_seconds(), jitter=30),
                id=f"poll:{source.name}",
            )
        for w in app.settings.watchlists:
            self.scheduler.add_job(
                cycle,
                CronTrigger.from_crontab(w.digest.schedule, timezone=ZoneInfo(w.digest.timezone)),
                id=f"digest:{w.name}",
            )
        # A slow heartbeat retries digests in back-off and sources whose back-off has passed.
        self.scheduler.add_job(
            cycle, IntervalTrigger(seconds=max(60, shortest.total_seconds() // 2)), id="heartbeat"
        )

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping after the current unit of work", signum)
        self._stop.set()

    def run_forever(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        self.schedule()
        self.scheduler.start()
        log.info(
            "monitor daemon started: %d source(s), %d watchlist(s)",
            len(self.app.settings.sources),
            len(self.app.settings.watchlists),
        )
        try:
            while not self._stop.wait(1.0):
                pass
        finally:
            self.scheduler.shutdown(wait=True)
            log.info("monitor daemon stopped")
        if self.failure is not None:
            raise self.failure
