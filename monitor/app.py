"""The composition root: builds the real database, HTTP client, mailer and clock from settings.

Commands call one function here; tests build an App with their own clock and mailer.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import sys
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from monitor import config as configmod
from monitor.config import Settings
from monitor.delivery import digest as ledger
from monitor.delivery.alerts import AlertOutcome, AlertPlan, deliver_alerts
from monitor.delivery.digest import DigestOutcome, DigestPlan
from monitor.delivery.mailer import FileMailer, Mailer, SmtpMailer
from monitor.errors import ConfigError, DatabaseBusyError
from monitor.models import DigestContent, Entity, ExportedArticle, FetchPolicy, SourceState
from monitor.offline import load_tagger
from monitor.pipeline import fetch, runner
from monitor.pipeline.match import compile_query
from monitor.pipeline.tag import find_candidates
from monitor.storage import articles, runs, sources
from monitor.storage import ledger as ledger_store
from monitor.storage import writer as writer_lock
from monitor.storage.engine import Database, open_database

log = logging.getLogger("monitor")
Clock = Callable[[], datetime]
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Writer:
    """How an App takes the database's writer lock (one process at a time polls, processes,
    imports and delivers). `command` names this process in the refusal others get (default:
    its command line). `required`: a lock held by another process refuses the start
    (DatabaseBusyError); else the App goes on without it, relying on the ledger's atomic
    claims, as commands that only read do."""

    command: str = ""
    required: bool = True


# What `build` does unless told: take the lock when it is free (and so recover what a killed
# process left), work without it when another process has it.
WHEN_FREE = Writer(required=False)


@dataclass
class App:
    """A configured monitor: settings plus the live parts built from them."""

    settings: Settings
    db: Database
    ctx: runner.Context
    delivery: ledger.Delivery
    plans: list[DigestPlan]
    entities: tuple[Entity, ...]
    alert_plans: list[AlertPlan] = field(default_factory=list)
    _executor: Executor | None = field(default=None, repr=False)
    _writer: writer_lock.WriterLock | None = field(default=None, repr=False)

    @property
    def is_writer(self) -> bool:
        """Whether this process holds the database's writer lock."""
        return self._writer is not None

    def check_writer(self) -> None:
        """If this App holds the writer lock, make sure it still does (its PostgreSQL session
        or lock file may be gone); DatabaseBusyError when another process has it now."""
        if self._writer is not None:
            self._writer.check()

    def close(self) -> None:
        try:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
            self.db.dispose()
        finally:
            if self._writer is not None:
                self._writer.release()
                self._writer = None

    def __enter__(self) -> App:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def build_mailer(settings: Settings) -> Mailer:
    return SmtpMailer(**settings.smtp.model_dump(exclude={"sender"}))


def build(
    settings: Settings,
    *,
    clock: Clock = utc_now,
    mailer: Mailer | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    progress: Callable[[str], None] | None = None,
    workers: int | None = None,
    writer: Writer | None = WHEN_FREE,
) -> App:
    """Wire everything: the writer lock (see `Writer`; None: never take it), database
    (migrated), tagger, compiled queries, HTTP client, mailer.

    The lock's new holder closes the runs that killed processes left `running` as
    `interrupted`, and makes the deliveries they left in flight due at once.
    """
    lock = _take_writer_lock(settings.database, writer)
    try:
        app = _build(
            settings,
            clock=clock,
            mailer=mailer,
            transport=transport,
            progress=progress,
            workers=workers,
        )
        app._writer = lock
        if lock is not None and lock.fresh:
            _recover(app)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return app


def _take_writer_lock(url: str, writer: Writer | None) -> writer_lock.WriterLock | None:
    if writer is None:
        return None
    command = writer.command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200]
    try:
        return writer_lock.acquire(url, command)
    except DatabaseBusyError as exc:
        if writer.required:
            raise
        log.info("working without the writer lock: %s", exc)
        return None


def _recover(app: App) -> None:
    """What processes that ended left open: their runs, their deliveries in flight."""
    with app.db.transaction() as tx:
        closed = runs.close_interrupted(tx, app.ctx.clock())
    released = ledger.recover_claims(app.db)
    if closed:
        log.warning("closed %d run(s) left running by a process that ended: interrupted", closed)
    if released:
        log.warning("%d digest(s) or alert(s) left in flight by a process that ended", released)


def _build(
    settings: Settings,
    *,
    clock: Clock,
    mailer: Mailer | None,
    transport: httpx.AsyncBaseTransport | None,
    progress: Callable[[str], None] | None,
    workers: int | None,
) -> App:
    entities, tagger = load_tagger(settings.entities)
    db = open_database(settings.database)
    policy = settings.fetch.policy()
    n = workers if workers is not None else (os.cpu_count() or 1)
    watchlists = [
        runner.WatchlistSpec(
            w.name,
            compile_query(w.query),
            None if w.sources == "all" else frozenset(w.sources),
            compile_query(w.alert.query) if w.alert is not None else None,
        )
        for w in settings.watchlists
    ]

    def http_client() -> httpx.AsyncClient:
        return make_http_client(policy, transport)

    ctx = runner.Context(
        db=db,
        sources=[
            runner.SourceSpec(s.name, s.url, s.interval, s.user_agent, s.is_adaptive())
            for s in settings.sources
            if s.enabled
        ],
        watchlists=watchlists,
        tagger=tagger,
        entity_rows=[(e.id, e.name, e.type) for e in entities],
        policy=policy,
        clock=clock,
        http_client=http_client,
        keep_html_days=settings.fetch.keep_html_days,
        robots=fetch.RobotsCache(policy) if settings.fetch.obey_robots_txt else None,
        progress=progress or (lambda msg: log.info(msg)),
        dedup=settings.dedup.params(),
    )
    executor: Executor | None = None
    if n > 1:
        # Workers extract, tag, match and sign (the stages are pure); this process stores.
        executor = ctx.executor = ProcessPoolExecutor(
            max_workers=n,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=runner.init_worker,
            initargs=(runner.stages_for(ctx),),
        )
    delivery = ledger.Delivery(
        db=db,
        mailer=mailer if mailer is not None else build_mailer(settings),
        sender=settings.smtp.sender,
        reports_dir=settings.reports_dir,
        clock=clock,
    )
    plans = [
        DigestPlan(
            watchlist=w.name,
            query=w.query,
            schedule=w.digest.schedule,
            timezone=w.digest.timezone,
            recipients=w.digest.recipients,
            formats=w.digest.formats,
            skip_empty=w.digest.skip_empty,
            max_articles=w.digest.max_articles,
        )
        for w in settings.watchlists
    ]
    alert_plans = [
        AlertPlan(w.name, spec.alert, w.alert.recipients, w.alert.window, w.digest.timezone)
        for w, spec in zip(settings.watchlists, watchlists, strict=True)
        if w.alert is not None and spec.alert is not None
    ]
    ledger.ensure_watchlists(db, plans, clock())
    return App(settings, db, ctx, delivery, plans, entities, alert_plans, executor)


# --- jobs -----------------------------------------------------------------------------


@dataclass
class CycleReport:
    """What a cycle did; `errors`: step (poll, process, digests, alerts) -> the unexpected
    error it stopped on (the other steps still ran)."""

    poll: runner.PollReport
    process: runner.ProcessReport
    digests: list[DigestOutcome]
    alerts: list[AlertOutcome] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "failed" if self.errors else "ok"

    def summary(self) -> dict[str, Any]:
        return {
            "sources_polled": self.poll.polled,
            "not_modified": self.poll.not_modified,
            "new_articles": self.poll.new_articles,
            "sources_failed": self.poll.failed,
            "processed": self.process.processed,
            "duplicates": self.process.duplicates,
            "matches": self.process.matched,
            "articles_failed": self.process.failed,
            "digests": [
                {
                    "watchlist": d.watchlist,
                    "state": d.state,
                    "articles": d.articles,
                    "error": d.error,
                }
                for d in self.digests
            ],
            "alerts": [
                {"watchlist": a.watchlist, "state": a.state, "articles": a.articles}
                for a in self.alerts
            ],
            "errors": dict(self.errors),
        }


def _record_run(
    app: App,
    kind: str,
    fn: Callable[[], T],
    summary: Callable[[T], dict[str, Any]],
    status_of: Callable[[T], str] = lambda _: "ok",
) -> T:
    """Run `fn` as a recorded run (for `monitor status`): running, then ok or failed (or, if
    the process is killed meanwhile, interrupted: see `build`)."""
    with app.db.transaction() as tx:
        run_id = runs.start(tx, kind, app.ctx.clock())
    status, recorded = "failed", {}
    try:
        result = fn()
        status, recorded = status_of(result), summary(result)
        return result
    finally:
        with app.db.transaction() as tx:
            runs.finish(tx, run_id, app.ctx.clock(), status, recorded)


def make_http_client(
    policy: FetchPolicy, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The HTTP client of one poll or process pass (or `monitor extract URL`).

    In-flight requests are capped by the runner's HostLimiter (fetch.concurrency,
    fetch.per_host); the pools only keep connections alive, one pool per origin (see
    PerOriginTransport). Capping connections at `concurrency` made one host's idle
    connection close to open another's: a new TCP (and TLS) connection for nearly every
    page when many hosts are polled at once. Unless private networks are allowed, the
    connections go only to the public addresses checked (GuardedBackend: no DNS
    rebinding). With a proxy in the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY), httpx's
    own client is used so the proxy applies (it connects, so there is nothing to pin).
    """
    if transport is not None:  # tests
        return httpx.AsyncClient(transport=transport, timeout=policy.timeout_s)
    if any(k in ("http", "https", "all") for k in urllib.request.getproxies()):
        return httpx.AsyncClient(timeout=policy.timeout_s)
    ssl_context = httpx.create_ssl_context()
    limits = httpx.Limits(
        max_connections=None, max_keepalive_connections=max(1, policy.per_host) * 2
    )
    if policy.allow_private_networks:
        per_origin = fetch.PerOriginTransport(
            lambda: httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits)
        )
    else:
        backend = fetch.GuardedBackend()
        per_origin = fetch.PerOriginTransport(
            lambda: fetch.guarded_transport(ssl_context, limits, backend)
        )
    return httpx.AsyncClient(transport=per_origin, timeout=policy.timeout_s)


def run_cycle(app: App, *, force_poll: bool = False, only: str | None = None) -> CycleReport:
    """One cycle: poll due sources (or just `only`), process pending articles, deliver digests
    and alerts. A step that fails unexpectedly (a bug, the database) is logged with its
    traceback and recorded in `errors`; the next steps still run, so what is stored is
    delivered. DatabaseBusyError when this App lost the writer lock to another process."""
    app.check_writer()

    def cycle() -> CycleReport:
        errors: dict[str, str] = {}
        # Arguments run left to right: poll, process, then delivery.
        return CycleReport(
            _step(errors, "poll", lambda: runner.poll(app.ctx, only=only, force=force_poll),
                  runner.PollReport),
            _step(errors, "process", lambda: runner.process(app.ctx), runner.ProcessReport),
            _step(errors, "digests", lambda: ledger.deliver_due(app.delivery, app.plans), list),
            _step(errors, "alerts", lambda: deliver_alerts(app.delivery, app.alert_plans), list),
            errors,
        )  # fmt: skip

    return _record_run(app, "cycle", cycle, CycleReport.summary, lambda r: r.status)


def _step(errors: dict[str, str], name: str, fn: Callable[[], T], nothing: Callable[[], T]) -> T:
    """One step of a cycle, its last line of defence: an unexpected exception is logged with
    its traceback and recorded in `errors`, and the step counts as having done `nothing()`."""
    try:
        return fn()
    except Exception as exc:
        log.exception("cycle: the %s step failed; the cycle goes on", name)
        errors[name] = f"{type(exc).__name__}: {exc}"
        return nothing()


def poll_now(app: App, source: str | None = None) -> runner.PollReport:
    if source is not None:
        app.settings.source(source)
    return _record_run(
        app,
        "poll",
        lambda: runner.poll(app.ctx, only=source, force=True),
        lambda r: {"polled": r.polled, "new_articles": r.new_articles, "failed": r.failed},
    )


def process_now(app: App, *, reextract: bool = False) -> runner.ProcessReport:
    """Process pending articles; with `reextract`, redo extraction from stored HTML instead."""
    step = runner.reextract if reextract else runner.process
    return _record_run(
        app,
        "reextract" if reextract else "process",
        lambda: step(app.ctx),
        lambda r: {"processed": r.processed, "duplicates": r.duplicates, "failed": r.failed},
    )


def plan_for(app: App, watchlist: str) -> DigestPlan:
    app.settings.watchlist(watchlist)
    return next(p for p in app.plans if p.watchlist == watchlist)


def send_digest(
    app: App, watchlist: str, *, since: datetime | None = None, until: datetime | None = None
) -> DigestOutcome:
    """Send now for the period since the last delivered digest (or since/until) and record it."""
    plan = plan_for(app, watchlist)
    end = until or app.ctx.clock()
    digest_id = ledger.open_period(app.db, watchlist, end, since)
    return ledger.deliver(app.delivery, plan, digest_id)


def resend_digest(app: App, watchlist: str) -> DigestOutcome:
    """Deliver the oldest failed digest of `watchlist` again, else its newest (same period
    and Message-ID)."""
    return ledger.resend(app.delivery, plan_for(app, watchlist))


def preview_digest(
    app: App, watchlist: str, *, since: datetime | None = None, until: datetime | None = None
) -> DigestContent:
    """The content of a digest without recording or sending anything."""
    plan = plan_for(app, watchlist)
    now = app.ctx.clock()
    with app.db.transaction() as tx:
        start = since or ledger.last_period_end(tx, watchlist)
    return ledger.build_content(app.db, plan, start, until or now, now)


def search(app: App, query: str, *, since: datetime | None, limit: int) -> list[runner.Hit]:
    return runner.backtest(app.ctx, compile_query(query), since=since, limit=limit)


# --- reading the store ----------------------------------------------------------------


def export_articles(
    app: App, *, query: str | None = None, since: datetime | None = None
) -> Iterator[ExportedArticle]:
    """Processed articles (those `query` matches, if given), oldest first."""
    ids: set[int] | None = None
    if query is not None:
        ids = {
            h.article_id
            for h in runner.backtest(app.ctx, compile_query(query), since=since, limit=10**9)
        }
    with app.db.transaction() as tx:
        yield from articles.exported(tx, since, ids)


def source_health(app: App) -> list[SourceState]:
    """Every configured source's stored state (errors, back-off, next check)."""
    runner.sync_sources(app.ctx)
    with app.db.transaction() as tx:
        return sources.states(tx)


def reset_source(app: App, name: str) -> None:
    """Clear a source's errors and back-off so the next cycle polls it."""
    app.settings.source(name)
    runner.sync_sources(app.ctx)
    with app.db.transaction() as tx:
        state = sources.state(tx, name)
        assert state is not None  # synced just now
        sources.save(
            tx,
            replace(
                state,
                error_count=0,
                last_error=None,
                next_check_at=None,
                etag=None,
                last_modified=None,
            ),
        )


def status(app: App, *, limit: int = 10) -> dict[str, list[dict[str, Any]]]:
    with app.db.transaction() as tx:
        recent = runs.recent(tx, limit)
        digests = ledger_store.recent_digests(tx, limit)
        failed = articles.failed(tx, limit)
    return {
        "runs": [
            {
                "kind": r.kind,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "status": r.status,
                "summary": r.summary,
            }
            for r in recent
        ],
        "digests": [
            {
                "watchlist": d.watchlist,
                "period_start": d.period_start,
                "period_end": d.period_end,
                "state": d.ledger.state,
                "articles": d.article_count,
                "attempts": d.ledger.attempts,
                "last_error": d.ledger.last_error,
                "next_attempt_at": d.ledger.next_attempt_at,
            }
            for d in digests
        ],
        "failed_articles": [
            {
                "url": f.url,
                "source": f.source,
                "attempts": f.attempts,
                "error": f.error,
                "discovered_at": f.discovered_at,
            }
            for f in failed
        ],
    }


# --- import ---------------------------------------------------------------------------


def import_articles(app: App, records: Iterable[runner.ImportRecord]) -> runner.stored.ImportReport:
    """Store and process imported articles (read from a file by `monitor.importing`)."""
    return runner.import_articles(app.ctx, records)


def file_mailer(directory: Path) -> FileMailer:
    return FileMailer(directory)


# --- commands without a database ------------------------------------------------------


async def extract_target(target: str, config: str | None) -> Any:
    """Extract from a local HTML file, or download a URL with the configured fetch policy."""
    from monitor.pipeline import extract, fetch

    if re.match(r"^https?://", target):
        path = configmod.config_path(config)
        policy = configmod.load_settings(path).fetch.policy() if path.exists() else FetchPolicy()
        async with make_http_client(policy) as client:
            resp = await fetch.fetch(client, target, policy)
        html = fetch.decode_html(resp.body, resp.headers.get("content-type"))
        return extract.extract(html, url=resp.final_url)
    try:
        data = Path(target).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=target) from None
    return extract.extract(fetch.decode_html(data, None), url=Path(target).resolve().as_uri())


def upgrade_database(settings: Settings) -> None:
    open_database(settings.database).dispose()


def render_format(content: DigestContent, fmt: str) -> str:
    """A digest's content in one of DIGEST_FORMATS, as text."""
    from monitor.delivery import render

    if fmt == "json":
        return render.render_json(content)
    if fmt == "csv":
        return render.render_csv(content)
    if fmt == "markdown":
        return render.render_markdown(content)
    if fmt == "atom":
        return render.render_atom(content)
    rendered = render.render_digest(content)
    if fmt == "html":
        return render.inline_images(rendered)
    if fmt == "email":
        from monitor.delivery.mailer import build_message

        msg = build_message(
            rendered,
            sender="Monitor <monitor@localhost>",
            recipients=["preview@localhost"],
            message_id=ledger.message_id(
                content.watchlist, content.period_start, content.period_end
            ),
            list_id=f"{content.watchlist}.monitor",
            date=content.generated_at or utc_now(),
        )
        return msg.as_string()
    return rendered.text


def entity_candidates(app: App) -> list[dict[str, Any]]:
    """Names near actor words (leader of, militia, Abu …) in matched originals (a watchlist
    matched them), not listed yet; first and last seen by published (else found) time."""
    with app.db.transaction() as tx:
        rows = articles.matched_originals(tx)
    docs = [(runner.document_text(t, x), when) for t, x, when in rows]
    return [
        {
            "name": c.name,
            "count": c.count,
            "first_seen": c.first_seen,
            "last_seen": c.last_seen,
            "example": c.example,
        }
        for c in find_candidates(app.ctx.tagger, docs)
    ]
