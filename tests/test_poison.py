"""Poison isolation: one bad feed, entry, page or stored value never stops the rest.

A loopback site serves good articles with every poisoned case of issue 13 mixed in; a cycle
on real SQLite and PostgreSQL stores and delivers every good article, records each poisoned
item with its error, and raises nothing.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor import app as appmod
from monitor.config import load_settings
from monitor.delivery.mailer import SmtpMailer
from monitor.models import FetchPolicy
from monitor.pipeline import bounds
from monitor.pipeline.runner.context import MAX_PAGE_ATTEMPTS
from monitor.storage import articles as article_store
from monitor.storage import sources as source_store
from monitor.storage.schema import ArticleRow, SourceRow
from tests.conftest import REPO, Clock, SmtpSink
from tests.loopback import LoopbackServer, Reply
from tests.test_e2e import ARTICLES, page

GOOD = list(ARTICLES)  # four articles of our own, each a page on the site
LONG = "https://example.org/" + "a" * 2100
FEED_TEXT = "<p>Rockets struck near the airport road in Baghdad, officials said on Tuesday.</p>"


def item(title: str, link: str, guid: str, description: str = FEED_TEXT, hour: int = 1) -> str:
    return (
        f"<item><title>{html.escape(title)}</title><link>{html.escape(link)}</link>"
        f"<guid>{guid}</guid><pubDate>Tue, 01 Dec 2026 {hour:02d}:00:00 +0000</pubDate>"
        f"<description>{html.escape(description)}</description></item>"
    )


def rss(items: list[str]) -> bytes:
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>Feed</title>'
    return (head + "".join(items) + "</channel></rss>").encode()


@pytest.fixture
def poisoned_site(http_server: LoopbackServer) -> LoopbackServer:
    s = http_server
    base = s.url("").rstrip("/")
    items = [
        item(ARTICLES[slug][1], f"{base}/pages/{slug}.html", f"{base}/pages/{slug}.html")
        for slug in GOOD
    ]
    for slug, (name, title) in ARTICLES.items():
        s.route(f"/pages/{slug}.html", Reply(body=page(title, name, "Wire Daily")))
    # A page redirecting to javascript:, a GUID no URL parser takes, feed text with control
    # characters, a page with no body, a link and a canonical URL over 2,000 characters, a
    # NUL in a GUID, a 100,000-character title, a page answering 500.
    s.route("/p/js.html", Reply.redirect("javascript:alert(1)"))
    s.route("/p/mailto.html", Reply.redirect("mailto:someone@example.org"))
    s.route("/p/broken-guid.html", Reply(body=b"<html><body><p>short</p></body></html>"))
    s.route("/p/nobody.html", Reply(body=b"<html><head><title>t</title>"))
    s.route(
        "/p/long-canonical.html",
        Reply(body=f'<html><head><link rel="canonical" href="{LONG}"></head></html>'.encode()),
    )
    s.route("/p/error.html", Reply(status=500, body=b"oops"))
    s.route("/p/nul.html", Reply(body=b"<html><body><p>x</p></body></html>"))
    s.route("/p/title.html", Reply(body=b"<html><body><p>x</p></body></html>"))
    s.route("/p/controls.html", Reply(status=404))
    items += [
        item("Redirect to script", f"{base}/p/js.html", "urn:poison:js", hour=2),
        item("Redirect to mail", f"{base}/p/mailto.html", "urn:poison:mailto", hour=2),
        item("Broken GUID", f"{base}/p/broken-guid.html", "http://[broken", hour=3),
        item("Feed text with controls", f"{base}/p/controls.html", "urn:poison:ctl", "a\x0bb\x01c"),
        item("No body", f"{base}/p/nobody.html", "urn:poison:nobody", hour=4),
        item("Long link", LONG, "urn:poison:long-link", hour=4),
        item("Long canonical", f"{base}/p/long-canonical.html", "urn:poison:canon", hour=5),
        item("NUL in GUID", f"{base}/p/nul.html", "urn:poison:nul&#0;guid", hour=5),
        item("T" * 100_000, f"{base}/p/title.html", "urn:poison:title", hour=6),
        item("Server error", f"{base}/p/error.html", "urn:poison:500", hour=6),
    ]
    s.route("/wire.xml", Reply(body=rss(items), content_type="application/rss+xml"))
    s.route("/gone.xml", Reply.redirect("mailto:feeds@example.org"))
    s.route("/script.xml", Reply.redirect("javascript:void(0)", status=301))
    return s


def write_config(tmp: Path, database_url: str, server: LoopbackServer, smtp_port: int) -> Path:
    cfg = {
        "database": database_url,
        "entities": str(REPO / "config" / "entities.yaml"),
        "reports_dir": str(tmp / "reports"),
        "fetch": {"allow_private_networks": True, "timeout_s": 10, "obey_robots_txt": False},
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "Monitor <m@example.org>"},
        "sources": [
            {"name": "Wire", "url": server.url("/wire.xml"), "interval": "15m"},
            {"name": "Gone", "url": server.url("/gone.xml"), "interval": "15m"},
            {"name": "Script", "url": server.url("/script.xml"), "interval": "15m"},
        ],
        "watchlists": [
            {
                "name": "everything",
                "query": "Baghdad OR Erbil OR Iraq OR Iran OR rockets",
                "digest": {
                    "schedule": "0 7 * * *",
                    "timezone": "UTC",
                    "recipients": ["analyst@example.org"],
                },
            }
        ],
    }
    path = tmp / "monitor.yaml"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


def test_poisoned_items_are_recorded_and_the_rest_delivered(
    tmp_path: Path,
    database_url: str,
    poisoned_site: LoopbackServer,
    smtp_sink: SmtpSink,
    clock: Clock,
) -> None:
    settings = load_settings(write_config(tmp_path, database_url, poisoned_site, smtp_sink.port))
    mailer = SmtpMailer(host="127.0.0.1", port=smtp_sink.port)
    with appmod.build(settings, clock=clock, mailer=mailer, workers=1) as app:
        first = appmod.run_cycle(app)
        clock.advance(hours=1, minutes=5)  # past the 07:00 digest slot
        appmod.run_cycle(app)
        with app.db.session() as s:
            rows = {r.guid: r for r in s.scalars(select(ArticleRow))}
            state = {r.name: r for r in s.scalars(select(SourceRow))}

    # the two feeds that redirect to mailto: and javascript: are failures of their own
    assert "unusable redirect" in first.poll.failed["Gone"]
    assert "unusable redirect" in first.poll.failed["Script"]
    assert state["Gone"].error_count == 2 and state["Gone"].next_check_at is not None  # 2 polls
    # the long link was refused, with a warning on its source
    assert "link dropped" in (state["Wire"].warning or "")
    assert not any(r.url == LONG for r in rows.values())
    # every good article was processed and delivered
    base = poisoned_site.url("").rstrip("/")
    good = [rows[f"{base}/pages/{slug}.html"] for slug in GOOD]
    assert all(r.state == "processed" for r in good)
    assert len(smtp_sink.messages) == 1
    text = smtp_sink.messages[0].get_body(preferencelist=("plain",)).get_content()
    for slug in GOOD:
        assert f"{base}/pages/{slug}.html" in text
    # each poisoned page is recorded with its error; its feed text stands in where it can
    js, mailto = rows["urn:poison:js"], rows["urn:poison:mailto"]
    assert "unusable redirect" in (js.last_error or "")
    assert "unusable redirect" in (mailto.last_error or "")
    assert js.state == "processed" and "Rockets struck" in js.text  # the feed's text
    assert rows["http://[broken"].state == "processed"
    ctl = rows["urn:poison:ctl"]
    assert ctl.state == "processed" and ctl.text == "a bc"
    assert rows["urn:poison:nobody"].state == "processed"
    assert rows["urn:poison:canon"].page_canonical_url is None
    nul = [r for g, r in rows.items() if g and "nul" in g]
    assert len(nul) == 1 and "\x00" not in (nul[0].guid or "")
    title = rows["urn:poison:title"].title
    assert len(title) == bounds.MAX_TITLE_CHARS and title.endswith("…")
    # a 500 is retried later before the feed's text is used
    assert rows["urn:poison:500"].state == "pending" and "500" in rows["urn:poison:500"].last_error


def test_a_huge_feed_is_taken_in_slices(
    tmp_path: Path, database_url: str, poisoned_site: LoopbackServer, clock: Clock
) -> None:
    """2,000 entries (each a page to fetch) are stored 300 a poll, the newest first."""
    base = poisoned_site.url("").rstrip("/")
    huge = [
        item(f"Brief {n}", f"{base}/brief/{n}.html", f"urn:brief:{n}", hour=n % 24)
        for n in range(2_000)
    ]
    poisoned_site.route(
        "/huge.xml", Reply(body=rss(huge), content_type="application/rss+xml", etag='"h"')
    )
    cfg = write_config(tmp_path, database_url, poisoned_site, 25)
    data = json.loads(cfg.read_text(encoding="utf-8"))
    data["sources"] = [{"name": "Huge", "url": poisoned_site.url("/huge.xml"), "interval": "1h"}]
    data["fetch"]["max_entries_per_poll"] = 300
    cfg.write_text(json.dumps(data), encoding="utf-8")
    with appmod.build(load_settings(cfg), clock=clock, workers=1) as app:
        first = appmod.poll_now(app)
        second = appmod.poll_now(app)
        with app.db.transaction() as tx:
            huge = source_store.state(tx, "Huge")
        with app.db.session() as s:
            stored = s.scalars(select(ArticleRow.feed_published_at)).all()
    assert first.new_articles == 300 and second.new_articles == 300
    assert "1700 new entries left for the next polls" in first.warnings["Huge"]
    assert huge is not None and huge.etag is None  # so the next poll reads the whole feed again
    # the newest first: 83 entries an hour, so two polls took 23:00 back to 16:00
    assert sum(1 for at in stored if at.hour == 23) == 83 and min(stored).hour == 16
    assert FetchPolicy().max_entries_per_poll == 200


def test_a_source_the_database_refuses_is_recorded_and_the_others_stored(
    tmp_path: Path,
    database_url: str,
    poisoned_site: LoopbackServer,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fault while storing one source's entries (a value the database refuses, a bug) rolls
    back that source alone: it gets the error and back-off; the next source is stored."""
    cfg = write_config(tmp_path, database_url, poisoned_site, 25)
    data = json.loads(cfg.read_text(encoding="utf-8"))
    data["sources"].append({"name": "Wire 2", "url": poisoned_site.url("/wire.xml")})
    cfg.write_text(json.dumps(data), encoding="utf-8")
    real = source_store.store_entries

    def refuse_wire(tx, source, entries, now, *, limit=None):  # type: ignore[no-untyped-def]
        stored = real(tx, source, entries, now, limit=limit)
        if source == "Wire":
            raise ValueError("A string literal cannot contain NUL (0x00) characters.")
        return stored

    monkeypatch.setattr(source_store, "store_entries", refuse_wire)
    with appmod.build(load_settings(cfg), clock=clock, workers=1) as app:
        report = appmod.poll_now(app)
        with app.db.session() as s:
            per_source = s.execute(select(ArticleRow.source_name)).scalars().all()
        with app.db.transaction() as tx:
            wire = source_store.state(tx, "Wire")
    assert "could not store this poll: ValueError" in report.failed["Wire"]
    assert wire is not None and wire.error_count == 1 and wire.next_check_at is not None
    assert "NUL" in (wire.last_error or "")
    assert set(per_source) == {"Wire 2"} and len(per_source) > 4


def test_an_article_the_database_refuses_leaves_its_batch_stored(
    tmp_path: Path,
    database_url: str,
    poisoned_site: LoopbackServer,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batch is stored again one article per transaction: only the poisoned one is left
    out, with the error and a retry, and fails for good after MAX_PAGE_ATTEMPTS passes."""
    cfg = write_config(tmp_path, database_url, poisoned_site, 25)
    real = article_store.record_extracted
    base = poisoned_site.url("").rstrip("/")
    poisoned = f"{base}/pages/{GOOD[1]}.html"
    ids: dict[str, int] = {}

    def refuse_one(tx, article, fields, **kw):  # type: ignore[no-untyped-def]
        subject = real(tx, article, fields, **kw)
        if article == ids[poisoned]:
            raise ValueError("value too long for type character varying(2000)")
        return subject

    monkeypatch.setattr(article_store, "record_extracted", refuse_one)
    with appmod.build(load_settings(cfg), clock=clock, workers=1) as app:
        appmod.poll_now(app, "Wire")
        with app.db.session() as s:
            ids.update({r.url: r.id for r in s.scalars(select(ArticleRow))})
        reports = []
        for _ in range(MAX_PAGE_ATTEMPTS):
            reports.append(appmod.process_now(app))
            clock.advance(hours=2)  # past the retry
        with app.db.session() as s:
            rows = {r.url: r for r in s.scalars(select(ArticleRow))}
        given_up = appmod.status(app)["failed_articles"]
    assert [(f["url"], f["attempts"]) for f in given_up] == [(poisoned, MAX_PAGE_ATTEMPTS)]
    assert "could not store: ValueError" in given_up[0]["error"]
    assert all(rows[f"{base}/pages/{slug}.html"].state == "processed" for slug in GOOD[:1])
    assert all(rows[f"{base}/pages/{slug}.html"].state == "processed" for slug in GOOD[2:])
    assert reports[0].retrying >= 1 and poisoned not in reports[0].failed
    bad = rows[poisoned]
    assert bad.state == "failed" and bad.attempts == MAX_PAGE_ATTEMPTS
    assert "could not store: ValueError: value too long" in (bad.last_error or "")
    assert poisoned in reports[-1].failed
