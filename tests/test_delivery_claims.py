"""Delivery claims its ledger row atomically, so no two processes send one digest or alert
even past the writer lock; no digest for an empty period; a recipient refused for now (452)
gets the digest on a retry; a cycle whose poll or processing fails still delivers."""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from monitor import app as appmod
from monitor import cli
from monitor.config import load_settings
from monitor.delivery import digest as ledger
from monitor.delivery.alerts import deliver_alerts
from monitor.delivery.mailer import SmtpMailer
from monitor.errors import DeliveryError
from monitor.pipeline import retry, runner
from monitor.pipeline.runner import ImportRecord
from monitor.storage import runs
from monitor.storage.schema import DigestRow
from tests import conftest
from tests.conftest import REPO, Clock, SmtpSink

ROCKETS = "Kataib Hezbollah fired rockets at a base near Baghdad, officials said. " * 4
WAIT_S = 60  # an upper bound for a thread to reach a barrier, never a pause


class Killed(BaseException):
    """The process dies here: nothing after it runs, not even an `except Exception`."""


def write_config(
    tmp_path: Path, database_url: str, port: int, recipients: list[str] | None = None
) -> Path:
    cfg = {
        "database": database_url,
        "entities": str(REPO / "config" / "entities.yaml"),
        "reports_dir": str(tmp_path / "reports"),
        "smtp": {"host": "127.0.0.1", "port": port},
        "watchlists": [
            {
                "name": "kh",
                "query": "entity:kataib-hezbollah",
                "digest": {
                    "schedule": "0 7 * * *",
                    "recipients": recipients or ["a@example.org"],
                    "formats": ["email"],
                },
                "alert": {
                    "query": "entity:kataib-hezbollah AND rocket*",
                    "recipients": ["duty@example.org"],
                    "window": "10m",
                },
            }
        ],
    }
    path = tmp_path / "monitor.yaml"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


@pytest.fixture
def deliverers(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, clock: Clock
) -> Iterator[Callable[..., appmod.App]]:
    """Apps on one database, as separate processes past the writer lock would be: each its
    own connections, none holding the lock (unless asked)."""
    made: list[appmod.App] = []

    def make(
        recipients: list[str] | None = None, writer: appmod.Writer | None = None
    ) -> appmod.App:
        path = write_config(tmp_path, database_url, smtp_sink.port, recipients)
        mailer = SmtpMailer(host="127.0.0.1", port=smtp_sink.port)
        app = appmod.build(
            load_settings(path), clock=clock, mailer=mailer, workers=1, writer=writer
        )
        made.append(app)
        return app

    try:
        yield make
    finally:
        for app in made:
            app.close()


def add(app: appmod.App, n: int) -> None:
    record = ImportRecord(url=f"https://example.org/{n}", title=f"Rockets {n}", text=ROCKETS)
    assert appmod.import_articles(app, [record]).matched == 1


def periods(app: appmod.App) -> list[tuple[str, Any, Any]]:
    with app.db.session() as s:
        rows = s.execute(
            select(DigestRow.state, DigestRow.period_start, DigestRow.period_end).order_by(
                DigestRow.period_start
            )
        )
        return [tuple(r) for r in rows]


# --- claims --------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["rendering", "sending"])
def test_a_digest_another_process_is_delivering_is_left_to_it(
    deliverers: Callable[..., appmod.App], smtp_sink: SmtpSink, clock: Clock, state: str
) -> None:
    first, second = deliverers(), deliverers()
    add(first, 1)
    clock.advance(hours=1, minutes=1)  # 07:01: the 06:00 – 07:00 period is due
    meanwhile: list[list[ledger.DigestOutcome]] = []

    def the_other_one_looks(_digest_id: int, committed: str) -> None:
        if committed == state and not meanwhile:  # `first` holds the claim right now
            meanwhile.append(ledger.deliver_due(second.delivery, second.plans))
            with pytest.raises(DeliveryError, match="being delivered by another process"):
                appmod.resend_digest(second, "kh")

    first.delivery.on_state = the_other_one_looks
    out = ledger.deliver_due(first.delivery, first.plans)
    assert [(o.state, o.articles) for o in out] == [("sent", 1)]
    assert meanwhile == [[]]
    assert ledger.deliver_due(second.delivery, second.plans) == []
    assert len(smtp_sink.messages) == 1
    assert [p[0] for p in periods(first)] == ["sent"]


def test_racing_deliverers_send_each_period_once(
    deliverers: Callable[..., appmod.App], smtp_sink: SmtpSink, clock: Clock
) -> None:
    apps = [deliverers() for _ in range(4)]
    for day in range(3):
        add(apps[0], day)
        clock.advance(**({"days": 1} if day else {"hours": 1, "minutes": 1}))  # a slot passed
        outcomes = race([lambda a=a: ledger.deliver_due(a.delivery, a.plans) for a in apps])
        assert [(o.state, o.articles) for out in outcomes for o in out] == [("sent", 1)]
        assert len(smtp_sink.messages) == day + 1
    assert len({m["Message-ID"] for m in smtp_sink.messages}) == 3
    stored = periods(apps[0])
    assert [p[0] for p in stored] == ["sent"] * 3
    assert all(start < end for _, start, end in stored)  # no empty period
    assert all(a[2] == b[1] for a, b in itertools.pairwise(stored))  # they tile


def test_racing_alert_deliverers_send_each_batch_once(
    deliverers: Callable[..., appmod.App], smtp_sink: SmtpSink, clock: Clock
) -> None:
    apps = [deliverers() for _ in range(4)]
    add(apps[0], 1)
    clock.advance(minutes=11)  # the batching window has closed
    outcomes = race([lambda a=a: deliver_alerts(a.delivery, a.alert_plans) for a in apps])
    assert [(o.state, o.articles) for out in outcomes for o in out] == [("sent", 1)]
    assert [e[1] for e in smtp_sink.envelopes] == [["duty@example.org"]]


def race(jobs: list[Callable[[], list[Any]]]) -> list[list[Any]]:
    """Run the jobs in threads released together; their results (any error re-raised)."""
    barrier = threading.Barrier(len(jobs))
    results: list[list[Any]] = [[] for _ in jobs]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(WAIT_S)
            results[i] = jobs[i]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S * 2)
    if errors:
        raise errors[0]
    return results


def test_no_digest_is_ever_opened_for_an_empty_period(
    deliverers: Callable[..., appmod.App], smtp_sink: SmtpSink, clock: Clock
) -> None:
    app = deliverers()
    add(app, 1)
    clock.advance(hours=1, minutes=1)
    assert [o.state for o in ledger.deliver_due(app.delivery, app.plans)] == ["sent"]
    assert ledger.deliver_due(app.delivery, app.plans) == []  # the same instant: nothing due
    sent = appmod.send_digest(app, "kh")  # by hand: 07:00 – 07:01
    assert (sent.state, sent.articles) == ("sent", 0)
    with pytest.raises(DeliveryError, match=r"nothing to send for kh: the period .* is empty"):
        appmod.send_digest(app, "kh")  # 07:01 – 07:01
    with pytest.raises(DeliveryError, match="is empty"):
        appmod.send_digest(app, "kh", since=clock(), until=clock() - timedelta(hours=1))
    assert len(smtp_sink.messages) == 2
    assert all(start < end for _, start, end in periods(app))


# --- a process that dies mid-try ------------------------------------------------------------


def die_at(state: str) -> Callable[[int, str], None]:
    def on_state(_digest_id: int, committed: str) -> None:
        if committed == state:
            raise Killed

    return on_state


def test_a_try_killed_mid_flight_is_taken_over_once_its_lease_runs_out(
    deliverers: Callable[..., appmod.App], smtp_sink: SmtpSink, clock: Clock
) -> None:
    dead, other = deliverers(), deliverers()
    add(dead, 1)
    clock.advance(hours=1, minutes=1)
    dead.delivery.on_state = die_at("sending")  # claimed, rendered, then killed
    with pytest.raises(Killed):
        ledger.deliver_due(dead.delivery, dead.plans)
    assert ledger.deliver_due(other.delivery, other.plans) == []  # it may still be sending
    clock.advance(seconds=ledger.CLAIM_LEASE.total_seconds() - 1)
    assert ledger.deliver_due(other.delivery, other.plans) == []
    clock.advance(seconds=2)  # the lease has run out: the claimant is gone
    out = ledger.deliver_due(other.delivery, other.plans)
    assert [(o.state, o.articles) for o in out] == [("sent", 1)]
    assert len(smtp_sink.messages) == 1


def test_the_writer_locks_new_holder_resumes_at_once_what_a_dead_process_left(
    deliverers: Callable[..., appmod.App], smtp_sink: SmtpSink, clock: Clock
) -> None:
    dead = deliverers()
    add(dead, 1)
    with dead.db.transaction() as tx:
        runs.start(tx, "cycle", clock())  # a cycle that never finished
    clock.advance(hours=1, minutes=1)
    dead.delivery.on_state = die_at("sending")
    with pytest.raises(Killed):
        ledger.deliver_due(dead.delivery, dead.plans)
    dead.close()
    holder = deliverers(writer=appmod.Writer("monitor run"))  # nobody else runs now
    assert holder.is_writer
    out = ledger.deliver_due(holder.delivery, holder.plans)  # no lease to wait for
    assert [(o.state, o.articles) for o in out] == [("sent", 1)]
    assert len(smtp_sink.messages) == 1
    assert [r["status"] for r in appmod.status(holder)["runs"]] == ["interrupted"]


def test_an_unexpected_error_while_delivering_is_recorded_and_retried(
    deliverers: Callable[..., appmod.App],
    smtp_sink: SmtpSink,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = deliverers()
    add(app, 1)
    clock.advance(hours=1, minutes=1)
    render = ledger.render_digest

    def broken(*_a: Any, **_kw: Any) -> Any:
        raise RuntimeError("a bug in a template")

    monkeypatch.setattr(ledger, "render_digest", broken)
    with pytest.raises(RuntimeError):
        ledger.deliver_due(app.delivery, app.plans)
    (digest,) = appmod.status(app)["digests"]
    assert digest["state"] == "pending" and digest["attempts"] == 1
    assert digest["last_error"] == "internal error: RuntimeError: a bug in a template"
    monkeypatch.setattr(ledger, "render_digest", render)
    assert ledger.deliver_due(app.delivery, app.plans) == []  # backing off, not lost
    clock.advance(seconds=61)
    assert [o.state for o in ledger.deliver_due(app.delivery, app.plans)] == ["sent"]
    assert len(smtp_sink.messages) == 1


# --- recipients refused for now --------------------------------------------------------------


@pytest.fixture
def rcpt_replies(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Address -> the reply the test SMTP server (smtp_sink) gives its RCPT TO."""
    replies: dict[str, str] = {}

    async def handle_RCPT(
        self: Any, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        reply = replies.get(address, "250 OK")
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    monkeypatch.setattr(conftest._Handler, "handle_RCPT", handle_RCPT, raising=False)
    return replies


def test_a_recipient_refused_with_452_gets_the_digest_on_a_retry_and_only_they_do(
    deliverers: Callable[..., appmod.App],
    smtp_sink: SmtpSink,
    clock: Clock,
    rcpt_replies: dict[str, str],
) -> None:
    app = deliverers(["a@example.org", "Duty Desk <b@example.org>", "c@example.org"])
    add(app, 1)
    clock.advance(hours=1, minutes=1)
    rcpt_replies["b@example.org"] = "452 4.5.3 Too many recipients"
    rcpt_replies["c@example.org"] = "550 5.1.1 No such user"  # refused for good: not retried
    (first,) = ledger.deliver_due(app.delivery, app.plans)
    assert first.state == "retrying"
    assert "b@example.org: 452 4.5.3 Too many recipients" in (first.error or "")
    assert [e[1] for e in smtp_sink.envelopes] == [["a@example.org"]]
    (row,) = appmod.status(app)["digests"]
    assert row["state"] == "pending" and "452" in row["last_error"]

    del rcpt_replies["b@example.org"]  # the mailbox has room again
    clock.advance(seconds=30)
    assert ledger.deliver_due(app.delivery, app.plans) == []  # backing off
    clock.advance(seconds=31)
    (retried,) = ledger.deliver_due(app.delivery, app.plans)
    assert (retried.state, retried.articles) == ("sent", 1)
    assert [e[1] for e in smtp_sink.envelopes] == [["a@example.org"], ["b@example.org"]]
    # The same message: same Message-ID, and its To still names every recipient.
    once, again = smtp_sink.messages
    assert once["Message-ID"] == again["Message-ID"]
    assert "b@example.org" in str(again["To"]) and "c@example.org" in str(again["To"])
    assert retried.outputs == [
        "email: a@example.org",
        "email: c@example.org refused: 550 5.1.1 No such user",
        "email: b@example.org",
    ]
    clock.advance(hours=23)  # 06:02 the next day: before the next slot, nothing more goes
    assert ledger.deliver_due(app.delivery, app.plans) == []
    assert len(smtp_sink.messages) == 2
    assert appmod.status(app)["digests"][0]["state"] == retry.SENT


# --- the cycle always reaches delivery ---------------------------------------------------------


def test_a_cycle_whose_poll_and_processing_fail_still_delivers(
    deliverers: Callable[..., appmod.App],
    smtp_sink: SmtpSink,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = deliverers()
    add(app, 1)
    clock.advance(hours=1, minutes=1)

    def poll(*_a: Any, **_kw: Any) -> Any:
        raise RuntimeError("poll bug")

    def process(*_a: Any, **_kw: Any) -> Any:
        raise ValueError("process bug")

    monkeypatch.setattr(runner, "poll", poll)
    monkeypatch.setattr(runner, "process", process)
    with caplog.at_level(logging.ERROR, logger="monitor"):
        report = appmod.run_cycle(app)
    assert report.errors == {
        "poll": "RuntimeError: poll bug",
        "process": "ValueError: process bug",
    }
    assert [(d.state, d.articles) for d in report.digests] == [("sent", 1)]
    assert [(a.state, a.articles) for a in report.alerts] == [("sent", 1)]
    assert len(smtp_sink.messages) == 2
    logged = [r for r in caplog.records if r.exc_info]
    assert [r.getMessage() for r in logged] == [
        "cycle: the poll step failed; the cycle goes on",
        "cycle: the process step failed; the cycle goes on",
    ]
    (run,) = appmod.status(app)["runs"]
    assert run["status"] == "failed" and run["summary"]["errors"] == report.errors


def test_run_once_says_which_step_failed_and_exits_1(
    tmp_path: Path,
    database_url: str,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, database_url, smtp_sink.port)

    def poll(*_a: Any, **_kw: Any) -> Any:
        raise RuntimeError("poll bug")

    monkeypatch.setattr(runner, "poll", poll)
    assert cli.main(["--config", str(config), "run", "--once"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "error: the poll step failed: RuntimeError: poll bug" in err
    assert "the rest of the cycle ran" in err
