"""Immediate alerts: batched over the window, rate-limited, each match alerted once; the mail
reads as an alert and lists the batch's matched reports only, one item per story."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select, update

from monitor import app as appmod
from monitor.config import load_settings
from monitor.delivery.alerts import deliver_alerts
from monitor.delivery.mailer import SmtpMailer
from monitor.pipeline.runner import ImportRecord
from monitor.storage.schema import ArticleRow, MatchRow
from tests.conftest import REPO, Clock, SmtpSink

ROCKETS = "Kataib Hezbollah fired rockets at a base near Baghdad, officials said. " * 4
BASRA = (
    "A depot of the state oil company in Basra burned through the night after what firemen "
    "described as rocket fire. Engineers counted four impacts near the tanks. Kataib "
    "Hezbollah denied any part in it."
)
STATEMENT = "Kataib Hezbollah issued a statement on the elections in Baghdad on Sunday. " * 4


def make_app(tmp_path: Path, database_url: str, port: int, clock: Clock) -> appmod.App:
    cfg = {
        "database": database_url,
        "entities": str(REPO / "config" / "entities.yaml"),
        "smtp": {"host": "127.0.0.1", "port": port},
        "watchlists": [
            {
                "name": "kh",
                "query": "entity:kataib-hezbollah",
                "digest": {"recipients": ["analyst@example.org"]},
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
    mailer = SmtpMailer(host="127.0.0.1", port=port)
    return appmod.build(load_settings(path), clock=clock, mailer=mailer, workers=1)


def add(app: appmod.App, n: int, text: str, title: str = "") -> None:
    record = ImportRecord(
        url=f"https://example.org/{n}",
        title=f"Story {n}" + (f": {title}" if title else ""),
        text=text,
        source="Wire",
    )
    assert appmod.import_articles(app, [record]).matched == 1


def test_alerts_batch_rate_limit_and_once(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, clock: Clock
) -> None:
    app = make_app(tmp_path, database_url, smtp_sink.port, clock)
    try:
        add(app, 1, ROCKETS)  # 06:00, alert-worthy
        clock.advance(minutes=2)
        add(app, 2, STATEMENT)  # matches the watchlist, not the alert query
        clock.advance(minutes=3)
        assert deliver_alerts(app.delivery, app.alert_plans) == []  # window still open
        clock.advance(minutes=6)  # 06:11
        add(app, 3, BASRA, "Basra oil depot burns")  # joins the batch: open until sent
        out = deliver_alerts(app.delivery, app.alert_plans)
        assert [(o.state, o.articles) for o in out] == [("sent", 2)]
        assert len(smtp_sink.messages) == 1
        msg = smtp_sink.messages[0]
        assert smtp_sink.envelopes[0][1] == ["duty@example.org"]
        assert msg["Subject"].startswith("[monitor alert] kh: ")
        body = msg.get_body(preferencelist=("plain",)).get_content()
        assert "Story 1" in body and "Story 3" in body and "Story 2" not in body
        # It reads as an alert: what was asked, and what triggered it, counted as matched.
        assert body.startswith("ALERT: kh\r\n") and "MONITOR DIGEST" not in body
        assert "Alert query: entity:kataib-hezbollah AND rocket*" in body
        assert "Triggered by 2 reports in 2 stories, matched 2026-12-01 06:00 – 06:11" in body
        assert body.count("Matched: entity:kataib-hezbollah (Kataib Hezbollah) · rocket*") == 2
        html = msg.get_body(preferencelist=("html",)).get_content()
        assert ">Alert</div>" in html and "Monitor digest" not in html

        clock.advance(minutes=1)
        add(app, 4, ROCKETS + " Once more.")
        clock.advance(minutes=8)  # 06:20: item 4's window has passed, but the last alert was 06:11
        assert deliver_alerts(app.delivery, app.alert_plans) == []
        clock.advance(minutes=2)  # 06:22
        out = deliver_alerts(app.delivery, app.alert_plans)
        assert [(o.state, o.articles) for o in out] == [("sent", 1)]
        clock.advance(hours=1)
        assert deliver_alerts(app.delivery, app.alert_plans) == []
        assert len(smtp_sink.messages) == 2
    finally:
        app.close()


def test_alert_retried_after_temporary_failure(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, clock: Clock
) -> None:
    app = make_app(tmp_path, database_url, smtp_sink.port, clock)
    try:
        add(app, 1, ROCKETS)
        clock.advance(minutes=11)
        smtp_sink.reply = "421 4.3.2 service not available"
        out = deliver_alerts(app.delivery, app.alert_plans)
        assert out[0].state == "retrying" and "421" in (out[0].error or "")
        smtp_sink.reply = "250 OK"
        clock.advance(minutes=2)
        out = deliver_alerts(app.delivery, app.alert_plans)
        assert [(o.state, o.articles) for o in out] == [("sent", 1)]
        assert len(smtp_sink.messages) == 1
        clock.advance(minutes=30)
        assert deliver_alerts(app.delivery, app.alert_plans) == []
    finally:
        app.close()


def test_alert_verdict_is_taken_when_processed_and_older_matches_are_checked_later(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, clock: Clock
) -> None:
    app = make_app(tmp_path, database_url, smtp_sink.port, clock)
    try:
        add(app, 1, ROCKETS)
        add(app, 2, STATEMENT)
        with app.db.session() as s:
            rows = {
                m.article_id: (m.alert_worthy, m.alerted_at)
                for m in s.scalars(select(MatchRow).order_by(MatchRow.article_id))
            }
        # Decided at processing: 1 is worthy and waits; 2 is not and is marked considered.
        assert list(rows.values()) == [(True, None), (False, clock.now)]
        # A match stored before verdicts existed (NULL) is judged by the alert step itself.
        add(app, 3, ROCKETS + " Older.")
        with app.db.session() as s:
            s.execute(update(MatchRow).where(MatchRow.article_id == 3).values(alert_worthy=None))
        clock.advance(minutes=11)
        out = deliver_alerts(app.delivery, app.alert_plans)
        assert [(o.state, o.articles) for o in out] == [("sent", 2)]
        body = smtp_sink.messages[0].get_body(preferencelist=("plain",)).get_content()
        assert "Story 1" in body and "Story 3" in body and "Story 2" not in body
    finally:
        app.close()


def test_an_alert_lists_the_batch_reports_of_a_story_not_the_whole_story(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, clock: Clock
) -> None:
    app = make_app(tmp_path, database_url, smtp_sink.port, clock)
    try:
        add(app, 1, ROCKETS)
        add(app, 2, STATEMENT)  # matches the watchlist, not the alert query
        add(app, 3, ROCKETS + " Again.")
        with app.db.session() as s:  # one story for all three, whatever clustering said
            story = s.scalars(select(ArticleRow.story_id).where(ArticleRow.id == 1)).one()
            s.execute(update(ArticleRow).values(story_id=story))
        clock.advance(minutes=11)
        out = deliver_alerts(app.delivery, app.alert_plans)
        assert [(o.state, o.articles, o.stories) for o in out] == [("sent", 2, 1)]
        msg = smtp_sink.messages[0]
        assert msg["Subject"] == "[monitor alert] kh: Story 1"
        body = msg.get_body(preferencelist=("plain",)).get_content()
        assert "Triggered by 2 reports in 1 story" in body
        assert "2 reports from 1 outlet:" in body
        assert "Story 2" not in body and "example.org/2" not in body
    finally:
        app.close()
