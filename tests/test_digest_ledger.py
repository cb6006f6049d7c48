"""The digest ledger: due periods from cron in the watchlist's timezone, one catch-up digest
after downtime, retries with back-off on temporary SMTP failures, failed on 5xx, never twice;
a failed digest is named in the next ones until `--resend` sends it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from monitor import app as appmod
from monitor import cli
from monitor.config import load_settings
from monitor.delivery import digest as ledger
from monitor.delivery.mailer import SmtpMailer
from monitor.errors import DeliveryError
from monitor.pipeline.runner import ImportRecord
from monitor.storage.schema import DigestRow
from tests.conftest import REPO, Clock, SmtpSink

TEXT = (
    "Kataib Hezbollah fired rockets at a base hosting United States troops near Baghdad, "
    "officials said, in the third attack this month blamed on Iran-backed militias. "
) * 3


@pytest.mark.parametrize(
    ("schedule", "tz", "now", "expected"),
    [
        ("0 7 * * *", "UTC", "2026-12-01T07:00:00+00:00", "2026-12-01T07:00:00+00:00"),
        ("0 7 * * *", "UTC", "2026-12-01T06:59:59+00:00", "2026-11-30T07:00:00+00:00"),
        ("0 7 * * *", "Asia/Baghdad", "2026-12-01T05:00:00+00:00", "2026-12-01T04:00:00+00:00"),
        ("*/15 * * * *", "UTC", "2026-12-01T10:44:00+00:00", "2026-12-01T10:30:00+00:00"),
        ("0 9 * * 1", "UTC", "2026-12-03T00:00:00+00:00", "2026-11-30T09:00:00+00:00"),
    ],
)
def test_latest_slot(schedule: str, tz: str, now: str, expected: str) -> None:
    got = ledger.latest_slot(schedule, tz, datetime.fromisoformat(now))
    assert got == datetime.fromisoformat(expected)
    assert got.tzinfo is not None


def make_app(tmp_path: Path, database_url: str, port: int, clock: Clock) -> appmod.App:
    cfg = {
        "database": database_url,
        "entities": str(REPO / "config" / "entities.yaml"),
        "reports_dir": str(tmp_path / "reports"),
        "smtp": {"host": "127.0.0.1", "port": port},
        "watchlists": [
            {
                "name": "kh",
                "query": "entity:kataib-hezbollah AND rocket*",
                "digest": {
                    "schedule": "0 7 * * *",
                    "recipients": ["a@example.org"],
                    "formats": ["email", "json"],
                },
            }
        ],
    }
    path = tmp_path / "monitor.yaml"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    mailer = SmtpMailer(host="127.0.0.1", port=port)
    return appmod.build(load_settings(path), clock=clock, mailer=mailer, workers=1)


def add_article(app: appmod.App, n: int) -> None:
    rep = appmod.import_articles(
        app,
        [
            ImportRecord(
                url=f"https://example.org/a{n}",
                title=f"Attack {n}",
                text=TEXT + str(n),
                source="Wire",
            )
        ],
    )
    assert rep.processed == 1 and rep.matched == 1


def states(app: appmod.App) -> list[tuple[str, int]]:
    with app.db.session() as s:
        return [(d.state, d.article_count) for d in s.query(DigestRow).order_by(DigestRow.id)]


def test_one_catch_up_digest_after_downtime(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, clock: Clock
) -> None:
    app = make_app(tmp_path, database_url, smtp_sink.port, clock)  # first seen 06:00 Dec 1
    try:
        add_article(app, 1)
        clock.advance(days=3)
        add_article(app, 2)
        clock.advance(hours=2)  # down over four 07:00 slots
        out = ledger.deliver_due(app.delivery, app.plans)
        assert [(o.state, o.articles) for o in out] == [("sent", 2)]
        assert len(smtp_sink.messages) == 1
        assert ledger.deliver_due(app.delivery, app.plans) == []  # nothing twice
        assert len(smtp_sink.messages) == 1
        clock.advance(days=1)  # the next slot: an empty period -> the short "nothing new" mail
        out = ledger.deliver_due(app.delivery, app.plans)
        assert [(o.state, o.articles) for o in out] == [("sent", 0)]
        assert len(smtp_sink.messages) == 2
        with app.db.session() as s:
            rows = s.query(DigestRow).order_by(DigestRow.id).all()
            assert rows[0].period_end == rows[1].period_start  # periods tile, no gap
    finally:
        app.close()


def test_temporary_failure_is_retried_then_sent_once(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, clock: Clock
) -> None:
    app = make_app(tmp_path, database_url, smtp_sink.port, clock)
    try:
        add_article(app, 1)
        clock.advance(hours=1, minutes=1)
        smtp_sink.reply = "451 4.3.0 try again later"
        out = ledger.deliver_due(app.delivery, app.plans)
        assert out[0].state == "retrying" and "451" in (out[0].error or "")
        assert states(app) == [("pending", 1)]
        smtp_sink.reply = "250 OK"
        clock.advance(seconds=30)  # back-off not yet passed
        assert ledger.deliver_due(app.delivery, app.plans) == []
        clock.advance(seconds=60)
        out = ledger.deliver_due(app.delivery, app.plans)
        assert [o.state for o in out] == ["sent"]
        assert len(smtp_sink.messages) == 1
        assert states(app) == [("sent", 1)]
    finally:
        app.close()


def test_permanent_failure_is_recorded_with_reply(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, clock: Clock
) -> None:
    app = make_app(tmp_path, database_url, smtp_sink.port, clock)
    try:
        add_article(app, 1)
        clock.advance(hours=1, minutes=1)
        smtp_sink.reply = "550 5.7.1 relaying denied"
        out = ledger.deliver_due(app.delivery, app.plans)
        assert out[0].state == "failed" and "relaying denied" in (out[0].error or "")
        assert states(app) == [("failed", 1)]
        clock.advance(hours=1)
        assert (
            ledger.deliver_due(app.delivery, app.plans) == []
        )  # not retried, not skipped silently
        st = appmod.status(app)
        assert (
            st["digests"][0]["state"] == "failed"
            and "relaying denied" in st["digests"][0]["last_error"]
        )
    finally:
        app.close()


def test_send_now_moves_the_next_period_start(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, clock: Clock
) -> None:
    app = make_app(tmp_path, database_url, smtp_sink.port, clock)
    try:
        add_article(app, 1)
        clock.advance(minutes=30)  # 06:30
        sent = appmod.send_digest(app, "kh")
        assert (sent.state, sent.articles) == ("sent", 1)
        clock.advance(minutes=15)
        add_article(app, 2)
        clock.advance(minutes=16)  # 07:01: the scheduled period starts where --send ended
        out = ledger.deliver_due(app.delivery, app.plans)
        assert [(o.state, o.articles) for o in out] == [("sent", 1)]
        assert out[0].period_start == datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
        assert len(smtp_sink.messages) == 2
    finally:
        app.close()


def test_interrupted_digest_resumes(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, clock: Clock
) -> None:
    app = make_app(tmp_path, database_url, smtp_sink.port, clock)
    try:
        add_article(app, 1)
        clock.advance(hours=1, minutes=1)
        slot = ledger.latest_slot("0 7 * * *", "UTC", clock())
        digest_id = ledger.open_period(app.db, "kh", slot)
        with app.db.session() as s:  # as if the process died while rendering
            s.get_one(DigestRow, digest_id).state = "rendering"
        out = ledger.deliver_due(app.delivery, app.plans)
        assert [(o.state, o.articles) for o in out] == [("sent", 1)]
        assert len(smtp_sink.messages) == 1
    finally:
        app.close()


def body(msg: EmailMessage) -> str:
    text = msg.get_body(preferencelist=("plain",))
    assert text is not None
    return str(text.get_content())


def test_a_failed_digest_is_named_in_the_next_ones_and_resend_sends_it(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, clock: Clock
) -> None:
    app = make_app(tmp_path, database_url, smtp_sink.port, clock)
    try:
        add_article(app, 1)
        clock.advance(hours=1, minutes=1)  # 07:01
        smtp_sink.reply = "550 5.7.1 relaying denied"
        (failed,) = ledger.deliver_due(app.delivery, app.plans)
        assert failed.state == "failed" and "--resend" in (failed.error or "")
        smtp_sink.reply = "250 OK"
        clock.advance(days=1)  # the next period has nothing new, but says what was lost
        (empty,) = ledger.deliver_due(app.delivery, app.plans)
        assert (empty.state, empty.articles) == ("sent", 0)
        notice = body(smtp_sink.messages[0])
        assert "NOT DELIVERED: the digest for 2026-12-01 06:00 – 07:00 failed" in notice
        assert "relaying denied" in notice and "monitor digest kh --resend" in notice
        assert "Nothing new matched kh" in notice
    finally:
        app.close()

    # `--resend` sends the failed digest, not the latest "nothing new" one.
    config = str(tmp_path / "monitor.yaml")
    assert cli.main(["--config", config, "digest", "kh", "--resend"]) == 0
    resent = smtp_sink.messages[1]
    assert resent["Message-ID"] == ledger.message_id(
        "kh", datetime(2026, 12, 1, 6, 0, tzinfo=UTC), datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    )
    assert "1. [NEW] Attack 1" in body(resent) and "NOT DELIVERED" not in body(resent)
    app = make_app(tmp_path, database_url, smtp_sink.port, clock)
    try:
        assert states(app) == [("sent", 1), ("sent", 0)]
        clock.advance(days=1)
        ledger.deliver_due(app.delivery, app.plans)
        assert "NOT DELIVERED" not in body(smtp_sink.messages[2])  # nothing is lost any more
        # With no failed digest left, --resend sends the newest one again.
        again = appmod.resend_digest(app, "kh")
        assert again.period_end == datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
        assert smtp_sink.messages[3]["Message-ID"] == smtp_sink.messages[2]["Message-ID"]
    finally:
        app.close()


def test_resend_without_any_digest_is_an_error(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, clock: Clock
) -> None:
    app = make_app(tmp_path, database_url, smtp_sink.port, clock)
    try:
        with pytest.raises(DeliveryError, match="no recorded digest to resend"):
            appmod.resend_digest(app, "kh")
    finally:
        app.close()
