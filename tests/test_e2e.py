"""End to end: two feeds and their pages on a loopback server, a real SMTP server, real storage.

A cycle polls and processes; once the digest slot passes the mail arrives with the expected
articles, actors and links; later cycles send nothing new and re-fetch no unchanged feed.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from monitor import app as appmod
from monitor import cli
from monitor.config import load_settings
from monitor.delivery.mailer import SmtpMailer
from tests.conftest import REPO, Clock, SmtpSink
from tests.loopback import LoopbackServer, Reply

# Our own articles, the dedup fixtures' originals (tests/fixtures/dedup/make_fixtures.py).
TEXTS = Path(__file__).parent / "fixtures" / "dedup"
ARTICLES = {
    # slug: (text file, title)
    "harir-drone": (
        "harir-drone.original.txt",
        "Drone hits near Harir air base north of Erbil; a group nobody had heard of claims it",
    ),
    "treasury-fronts": (
        "treasury-fronts.original.txt",
        "Treasury blacklists Baghdad firms it says bankroll Kataib Hezbollah and Asaib Ahl al-Haq",
    ),
    "pmf-law": (
        "pmf-law.original.txt",
        "Who commands the Hashd? Iraq's parliament fight over the PMF law",
    ),
    "airport-memorial": (
        "airport-memorial.original.txt",
        "Thousands gather as factions unveil a memorial on the Baghdad airport road",
    ),
}
SYNDICATED = "harir-drone-copy"  # the same text as harir-drone, another outlet's page


def page(title: str, name: str, site: str) -> bytes:
    paras = [
        p.strip()
        for p in (TEXTS / name).read_text(encoding="utf-8").split("\n")
        if len(p.strip()) > 60
    ]
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paras)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)} | {site}</title>
<meta property="og:title" content="{html.escape(title)}"></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/politics">Politics</a></nav>
<div class="cookie">We use cookies to improve your experience. <button>Accept all</button></div>
<article><h1>{html.escape(title)}</h1><p class="byline">By Staff Reporter</p>{body}</article>
<aside><h3>Related</h3><ul><li><a href="/x">Weather this weekend</a></li></ul></aside>
<footer>&copy; {site} 2026. All rights reserved.</footer></body></html>""".encode()


def rss(base: str, slugs: list[str]) -> bytes:
    items = "".join(
        f"<item><title>{html.escape(ARTICLES[s.removesuffix('-copy')][1])}</title>"
        f"<link>{base}/pages/{s}.html</link><guid>{base}/pages/{s}.html</guid>"
        f"<pubDate>Tue, 01 Dec 2026 0{i}:00:00 +0000</pubDate>"
        "<description>Report.</description></item>"
        for i, s in enumerate(slugs)
    )
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>Feed</title>'
    return f"{head}<link>{base}</link>{items}</channel></rss>".encode()


def atom(base: str, slugs: list[str]) -> bytes:
    entries = "".join(
        f"<entry><title>{html.escape(ARTICLES[s.removesuffix('-copy')][1])}</title>"
        f'<link href="{base}/pages/{s}.html"/><id>urn:x:{s}</id>'
        f"<updated>2026-12-01T1{i}:00:00Z</updated></entry>"
        for i, s in enumerate(slugs)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Analysis</title><id>urn:x:feed</id><updated>2026-11-30T12:00:00Z</updated>{entries}</feed>"
    ).encode()


@pytest.fixture
def site(http_server: LoopbackServer) -> LoopbackServer:
    base = http_server.url("").rstrip("/")
    http_server.route(
        "/wire.xml",
        Reply(
            body=rss(base, ["harir-drone", "treasury-fronts"]),
            content_type="application/rss+xml",
            etag='"w1"',
        ),
    )
    http_server.route(
        "/analysis.xml",
        Reply(
            body=atom(base, ["pmf-law", "airport-memorial", SYNDICATED]),
            content_type="application/atom+xml",
            last_modified="Mon, 30 Nov 2026 12:00:00 GMT",
        ),
    )
    for slug, (name, title) in ARTICLES.items():
        http_server.route(f"/pages/{slug}.html", Reply(body=page(title, name, "Wire Daily")))
    name, title = ARTICLES["harir-drone"]
    http_server.route(f"/pages/{SYNDICATED}.html", Reply(body=page(title, name, "Copycat Gazette")))
    return http_server


def write_config(tmp: Path, database_url: str, server: LoopbackServer, smtp_port: int) -> Path:
    cfg = {
        "database": database_url,
        "entities": str(REPO / "config" / "entities.yaml"),
        "reports_dir": str(tmp / "reports"),
        "fetch": {"allow_private_networks": True, "timeout_s": 10},
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "Monitor <monitor@example.org>"},
        "sources": [
            {"name": "Wire Daily", "url": server.url("/wire.xml"), "interval": "15m"},
            {"name": "Analysis Weekly", "url": server.url("/analysis.xml"), "interval": "15m"},
        ],
        "watchlists": [
            {
                "name": "iraq-militias",
                "query": 'type:armed_group AND (Iran OR "United States" OR US)',
                "digest": {
                    "schedule": "0 7 * * *",
                    "timezone": "UTC",
                    "recipients": ["analyst@example.org"],
                    "formats": ["email", "html"],
                },
            }
        ],
    }
    path = tmp / "monitor.yaml"
    path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")  # JSON is YAML
    return path


def page_requests(server: LoopbackServer) -> int:
    return sum(1 for r in server.requests if r.path.startswith("/pages/"))


def test_cycle_delivers_once_and_repolls_with_304(
    tmp_path: Path, database_url: str, site: LoopbackServer, smtp_sink: SmtpSink, clock: Clock
) -> None:
    settings = load_settings(write_config(tmp_path, database_url, site, smtp_sink.port))
    app = appmod.build(
        settings, clock=clock, mailer=SmtpMailer(host="127.0.0.1", port=smtp_sink.port), workers=1
    )
    try:
        first = appmod.run_cycle(app)  # 06:00: first seen, nothing due yet
        assert first.poll.polled == 2 and first.poll.new_articles == 5
        assert first.process.processed == 5 and first.process.duplicates == 1
        assert first.digests == [] and smtp_sink.messages == []
        pages_fetched = page_requests(site)
        assert pages_fetched == 5

        clock.advance(hours=1, minutes=5)  # 07:05: slot passed; sources due again
        second = appmod.run_cycle(app)
        assert second.poll.not_modified == 2 and second.poll.new_articles == 0
        assert [d.state for d in second.digests] == ["sent"]
        assert len(smtp_sink.messages) == 1
        assert page_requests(site) == pages_fetched  # nothing re-fetched

        clock.advance(minutes=20)
        third = appmod.run_cycle(app)
        assert third.poll.not_modified == 2 and third.digests == []
        assert len(smtp_sink.messages) == 1
    finally:
        app.close()

    msg = smtp_sink.messages[0]
    assert smtp_sink.envelopes[0][1] == ["analyst@example.org"]
    assert "iraq-militias" in msg["Subject"]
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html_part = msg.get_body(preferencelist=("html",)).get_content()
    base = site.url("").rstrip("/")
    for slug in ARTICLES:
        assert f"{base}/pages/{slug}.html" in text
        assert f"{base}/pages/{slug}.html" in html_part
    # the syndicated copy is folded into its story, shown as another outlet, not twice
    assert "4 stories · 5 reports from 2 outlets" in text
    assert (
        text.count(f"{base}/pages/{SYNDICATED}.html") == 1
    )  # listed once, among the reports of its story
    assert "Analysis Weekly" in html_part
    for actor in ("Kataib Hezbollah", "Islamic State"):
        assert actor in html_part


def test_cli_run_once_then_digest_send(
    tmp_path: Path, site: LoopbackServer, smtp_sink: SmtpSink, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'cli.db'}", site, smtp_sink.port)
    assert cli.main(["--config", str(config), "run", "--once"]) == 0
    out = capsys.readouterr().out
    assert "polled 2 source(s): 5 new article(s)" in out
    assert (
        smtp_sink.messages == []
    )  # the 07:00 slot has not passed since the watchlist was first seen

    assert cli.main(["--config", str(config), "digest", "iraq-militias", "--send"]) == 0
    assert len(smtp_sink.messages) == 1
    assert cli.main(["--config", str(config), "run", "--once"]) == 0
    assert len(smtp_sink.messages) == 1  # nothing resent

    assert cli.main(["--config", str(config), "poll"]) == 0
    assert "0 new, 2 unchanged" in capsys.readouterr().out

    assert cli.main(["--config", str(config), "export"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 5
    copy = next(r for r in records if r["url"].endswith(f"{SYNDICATED}.html"))
    original = next(r for r in records if r["url"].endswith("/harir-drone.html"))
    assert copy["duplicate_of"] == original["url"] and copy["story_id"] == original["story_id"]
    assert {"kataib-hezbollah"} <= {e["id"] for e in original["entities"]}
    assert "iraq-militias" in original["watchlists"]
