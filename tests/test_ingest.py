"""Polling and fetching through the runner, against the scripted loopback server and real storage.

The clock is injected: back-off, Retry-After, cache lifetimes and adaptive intervals are read off
`sources.next_check_at` and the clock is moved there, so nothing sleeps on the wall clock.
"""

from __future__ import annotations

import asyncio
import gzip
import html
import importlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from monitor import app as appmod
from monitor.config import load_settings
from monitor.pipeline import dedup, fetch, runner, story
from monitor.pipeline.runner import document_text
from monitor.pipeline.runner.process import check_robots
from monitor.storage import sources
from monitor.storage.engine import open_database
from monitor.storage.schema import (
    ArticleRow,
    BandRow,
    MatchRow,
    MentionRow,
    SignatureRow,
    SourceRow,
    StoryKeyRow,
)
from tests import test_feeds as feed_fixtures
from tests.conftest import REPO, Clock
from tests.loopback import LoopbackServer, Reply

process_module = importlib.import_module("monitor.pipeline.runner.process")
analysis_module = importlib.import_module("monitor.pipeline.runner.analysis")
poll_module = importlib.import_module("monitor.pipeline.runner.poll")

M = timedelta(minutes=1)
H = timedelta(hours=1)
# Page bodies: our own articles, the dedup fixtures' originals, each a different text.
TEXTS = Path(__file__).parent / "fixtures" / "dedup"
ARTICLES = sorted(p.name for p in TEXTS.glob("*.original.txt"))


def page(
    title: str, *, meta_date: str | None = None, article: str = "harir-drone.original.txt"
) -> bytes:
    paras = [p.strip() for p in (TEXTS / article).read_text("utf-8").split("\n") if len(p) > 60]
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paras[:12])
    meta = f'<meta property="article:published_time" content="{meta_date}">' if meta_date else ""
    return (
        f"<!doctype html><html lang='en'><head><title>{html.escape(title)}</title>{meta}</head>"
        f"<body><article><h1>{html.escape(title)}</h1>{body}</article></body></html>"
    ).encode()


def rss(items: list[tuple[str, datetime | None]], *, ttl: int | None = None) -> bytes:
    out = "".join(
        f"<item><title>Item {i}</title><link>{url}</link><guid>{url}</guid>"
        + (f"<pubDate>{format_datetime(when)}</pubDate>" if when else "")
        + f"<description>Feed summary of item {i}, a short text.</description></item>"
        for i, (url, when) in enumerate(items)
    )
    ttl_tag = f"<ttl>{ttl}</ttl>" if ttl is not None else ""
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Feed</title>'
        f"<link>http://example.org/</link>{ttl_tag}{out}</channel></rss>"
    ).encode()


@pytest.fixture
def make_app(
    tmp_path: Path, database_url: str, http_server: LoopbackServer, clock: Clock
) -> Iterator[Any]:
    apps: list[appmod.App] = []

    def build(
        fetch: dict[str, Any] | None = None,
        workers: int = 1,
        watchlists: list[dict[str, Any]] | None = None,
        **source: Any,
    ) -> appmod.App:
        cfg = {
            "database": database_url,
            "entities": str(REPO / "config" / "entities.yaml"),
            "reports_dir": str(tmp_path / "reports"),
            "fetch": {"allow_private_networks": True, "timeout_s": 5, **(fetch or {})},
            "sources": [
                {
                    k: v
                    for k, v in {
                        "name": "Wire",
                        "url": http_server.url("/feed.xml"),
                        "interval": "15m",
                        **source,
                    }.items()
                    if v is not None  # interval=None: leave it out (then it adapts)
                }
            ],
            "watchlists": watchlists or [],
        }
        path = tmp_path / "monitor.yaml"
        path.write_text(json.dumps(cfg), encoding="utf-8")
        app = appmod.build(load_settings(path), clock=clock, mailer=None, workers=workers)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


def source_row(app: appmod.App) -> SourceRow:
    with app.db.session() as s:
        row = s.scalars(select(SourceRow)).one()
        s.expunge(row)
        return row


def articles(app: appmod.App) -> list[ArticleRow]:
    with app.db.session() as s:
        rows = list(s.scalars(select(ArticleRow).order_by(ArticleRow.id)))
        for r in rows:
            s.expunge(r)
        return rows


def feed_requests(server: LoopbackServer) -> int:
    return sum(1 for r in server.requests if r.path == "/feed.xml")


def delay(app: appmod.App, clock: Clock) -> timedelta:
    nxt = source_row(app).next_check_at
    assert nxt is not None
    return nxt.replace(tzinfo=clock.now.tzinfo) - clock.now


# --- errors and back-off -----------------------------------------------------------------


def test_500_streak_backs_off_capped_then_recovers(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    http_server.route("/feed.xml", Reply(status=500, body=b"oops"))
    app = make_app()
    delays = []
    for n in range(1, 13):
        report = runner.poll(app.ctx)
        assert report.failed and "HTTP 500" in report.failed["Wire"]
        d = delay(app, clock)
        ceiling = min(15 * M * 2 ** (n - 1), 24 * H)
        assert ceiling / 2 <= d <= ceiling, (n, d)
        delays.append(d)
        assert runner.poll(app.ctx).polled == 0  # not due before its next check
        clock.now += d
    assert max(delays) <= 24 * H and delays[-1] >= 12 * H  # grew to the cap, never stopped
    row = source_row(app)
    assert row.error_count == 12 and "HTTP 500" in (row.last_error or "")

    http_server.route("/feed.xml", Reply(body=rss([]), content_type="application/rss+xml"))
    assert runner.poll(app.ctx).failed == {}
    row = source_row(app)
    assert row.error_count == 0 and row.last_error is None and row.last_status == 200
    assert 15 * M <= delay(app, clock) <= 16.5 * M  # back to the normal rhythm


def test_429_retry_after_is_kept_even_by_a_forced_poll(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    http_server.route("/feed.xml", Reply(status=429, headers={"Retry-After": "7200"}))
    app = make_app()
    assert "429" in runner.poll(app.ctx).failed["Wire"]
    assert delay(app, clock) >= 2 * H
    clock.advance(minutes=30)
    assert runner.poll(app.ctx, force=True).polled == 0  # a promise to the server
    assert feed_requests(http_server) == 1
    http_server.route("/feed.xml", Reply(body=rss([]), content_type="application/rss+xml"))
    clock.advance(minutes=91)
    assert runner.poll(app.ctx).polled == 1 and feed_requests(http_server) == 2


def test_503_http_date_retry_after(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    later = format_datetime(clock.now + 3 * H, usegmt=True)
    now = format_datetime(clock.now, usegmt=True)
    http_server.route("/feed.xml", Reply(status=503, headers={"Retry-After": later, "Date": now}))
    app = make_app()
    runner.poll(app.ctx)
    assert 3 * H <= delay(app, clock) <= 3 * H + M


# --- caching rules on success ------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply_headers", "ttl", "at_least"),
    [
        ({"Cache-Control": "max-age=7200"}, None, 2 * H),
        (
            {"Expires": "Tue, 01 Dec 2026 09:00:00 GMT", "Date": "Tue, 01 Dec 2026 06:00:00 GMT"},
            None,
            3 * H,
        ),
        ({}, 120, 2 * H),  # RSS <ttl> in minutes
        ({"Cache-Control": "max-age=60"}, None, 15 * M),  # shorter than the interval: ignored
        ({"Cache-Control": "max-age=864000"}, None, 24 * H),  # capped
    ],
)
def test_success_honours_cache_lifetime_and_ttl(
    make_app: Any,
    http_server: LoopbackServer,
    clock: Clock,
    reply_headers: dict[str, str],
    ttl: int | None,
    at_least: timedelta,
) -> None:
    body = rss([], ttl=ttl)
    http_server.route(
        "/feed.xml",
        Reply(body=body, content_type="application/rss+xml", etag='"v1"', headers=reply_headers),
    )
    app = make_app(adaptive=False)
    runner.poll(app.ctx)
    d = delay(app, clock)
    assert at_least <= d <= max(at_least * 1.1, at_least + M)
    clock.now += d
    runner.poll(app.ctx)  # the 304 carries the same headers: the same rule holds
    assert source_row(app).last_status == 304
    assert at_least <= delay(app, clock)


# --- adaptive interval -------------------------------------------------------------------


def test_interval_adapts_to_how_often_the_source_publishes(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    busy = [(http_server.url(f"/p/{i}"), clock.now - i * 6 * M) for i in range(20)]
    http_server.route("/feed.xml", Reply(body=rss(busy), content_type="application/rss+xml"))
    app = make_app(interval=None)
    runner.poll(app.ctx)
    assert 5 * M <= delay(app, clock) <= 5.5 * M  # a wire service: the 5-minute floor
    quiet = [(http_server.url(f"/q/{i}"), clock.now - (1 + 3 * i) * 24 * H) for i in range(5)]
    http_server.route("/feed.xml", Reply(body=rss(quiet), content_type="application/rss+xml"))
    clock.advance(minutes=6)
    runner.poll(app.ctx)
    assert 24 * H <= delay(app, clock) <= 26.4 * H  # two posts a week: the 24-hour cap
    assert source_row(app).poll_interval_s == 24 * 3600


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"interval": "1h"}, H),  # a written interval is an override
        ({"interval": "1h", "adaptive": False}, H),
        ({"interval": "1h", "adaptive": True}, 5 * M),  # ...unless adaptive is asked for
        ({"interval": None}, 5 * M),
    ],
)
def test_a_written_interval_overrides_adaptation(
    make_app: Any,
    http_server: LoopbackServer,
    clock: Clock,
    source: dict[str, Any],
    expected: timedelta,
) -> None:
    busy = [(http_server.url(f"/p/{i}"), clock.now - i * 6 * M) for i in range(20)]
    http_server.route("/feed.xml", Reply(body=rss(busy), content_type="application/rss+xml"))
    app = make_app(**source)
    runner.poll(app.ctx)
    assert expected <= delay(app, clock) <= expected * 1.1


def test_an_adaptive_source_without_dated_entries_uses_its_base_interval(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    undated = [(http_server.url(f"/p/{i}"), None) for i in range(5)]
    http_server.route("/feed.xml", Reply(body=rss(undated), content_type="application/rss+xml"))
    app = make_app(interval=None)
    runner.poll(app.ctx)
    assert 15 * M <= delay(app, clock) <= 16.5 * M


# --- pages: timeouts, robots.txt, dates ------------------------------------------------------


def serve_feed(server: LoopbackServer, slugs: list[str], when: datetime | None) -> None:
    items = [(server.url(f"/pages/{s}.html"), when) for s in slugs]
    server.route("/feed.xml", Reply(body=rss(items), content_type="application/rss+xml"))


def page_requests(server: LoopbackServer) -> list[str]:
    return [r.path for r in server.requests if r.path.startswith("/pages/")]


@pytest.mark.parametrize("document", feed_fixtures.DOCUMENTS, ids=lambda d: d.name)
def test_every_recoverable_fixture_entry_is_stored(database_url: str, document: Path) -> None:
    """Each fixture feed's parsed entries through the poll's storing step: the ones its
    expectation names are stored (a feed's repeated GUID or canonical link: first wins)."""
    expected = feed_fixtures.expectation(document)
    if "error" in expected:
        return  # nothing recoverable: test_feeds checks the error
    entries = feed_fixtures.parse_fixture(document, expected).entries
    db = open_database(database_url)
    try:
        with db.transaction() as tx:
            sources.sync(tx, [("Fixture", expected.get("url", "https://example.org/f"))])
            new = poll_module.store_entries(tx, "Fixture", entries, feed_fixtures.NOW)
        with db.session() as s:
            stored = s.scalars(select(ArticleRow.url).order_by(ArticleRow.id)).all()
        with db.transaction() as tx:  # a second poll of the same feed stores nothing
            assert poll_module.store_entries(tx, "Fixture", entries, feed_fixtures.NOW) == 0
    finally:
        db.dispose()
    want = expected.get("stored", [e["url"] for e in expected["entries"]])
    assert stored == want and new == len(want)


def test_a_page_429_retry_after_holds_the_page_and_its_host(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    serve_feed(http_server, ["a", "b"], clock.now - H)
    http_server.route("/pages/a.html", Reply(status=429, headers={"Retry-After": "600"}))
    http_server.route("/pages/b.html", Reply(body=page("Page b")))
    app = make_app(fetch={"per_host": 1})
    runner.poll(app.ctx)
    report = runner.process(app.ctx)
    assert (report.processed, report.retrying) == (0, 2)
    assert page_requests(http_server) == ["/pages/a.html"]  # b waits: its host said so
    a, b = articles(app)
    assert (a.state, b.state) == ("pending", "pending")
    assert (a.attempts, b.attempts) == (1, 0)  # b was not requested: no attempt spent
    assert "Retry-After" in (b.last_error or "") and "429" in (a.last_error or "")
    for row in (a, b):
        assert row.retry_at is not None
        assert 590 <= (row.retry_at - clock.now).total_seconds() <= 600

    clock.advance(minutes=5)  # before the Retry-After: nothing is requested
    assert runner.process(app.ctx).processed == 0
    assert page_requests(http_server) == ["/pages/a.html"]

    http_server.route("/pages/a.html", Reply(body=page("Page a")))
    clock.advance(minutes=6)
    assert runner.process(app.ctx).processed == 2
    assert sorted(page_requests(http_server)) == ["/pages/a.html"] * 2 + ["/pages/b.html"]
    assert all(row.retry_at is None and row.state == "processed" for row in articles(app))


def test_held_pages_do_not_wait_out_their_hosts_spacing_first(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    slugs = ["a", "b", "c", "d"]
    serve_feed(http_server, slugs, clock.now - H)
    http_server.route("/pages/a.html", Reply(status=503, headers={"Retry-After": "900"}))
    for slug in slugs[1:]:
        http_server.route(f"/pages/{slug}.html", Reply(body=page(f"Page {slug}")))
    app = make_app(fetch={"per_host": 1, "per_host_delay_s": 2.0})
    runner.poll(app.ctx)
    started = time.monotonic()
    report = runner.process(app.ctx)
    # Three held pages would have waited 2 s each for the host's next slot.
    assert time.monotonic() - started < 1.5
    assert (report.processed, report.retrying) == (0, 4)
    assert page_requests(http_server) == ["/pages/a.html"]


def test_a_page_that_times_out_does_not_hold_up_the_batch(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    slugs = ["a", "b", "slow", "c"]
    serve_feed(http_server, slugs, clock.now - H)
    for s in slugs:
        http_server.route(f"/pages/{s}.html", Reply(body=page(f"Page {s}")))
    http_server.route("/pages/slow.html", Reply(body=page("Slow"), delay_s=5.0))
    app = make_app(fetch={"timeout_s": 0.5})
    runner.poll(app.ctx)
    started = time.monotonic()
    report = runner.process(app.ctx)
    assert time.monotonic() - started < 4.0
    assert report.processed == 3 and report.retrying == 1
    slow = next(a for a in articles(app) if a.url.endswith("slow.html"))
    assert slow.state == "pending" and "timed out" in (slow.last_error or "")
    for _ in range(2):  # later passes retry it; the last one settles on the feed's text
        runner.process(app.ctx)
    slow = next(a for a in articles(app) if a.url.endswith("slow.html"))
    assert slow.state == "processed" and slow.extraction_method == "feed"


def test_robots_txt_disallowed_page_falls_back_to_feed_text(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    serve_feed(http_server, ["open", "secret"], clock.now - H)
    http_server.route(
        "/robots.txt",
        Reply(body=b"User-agent: *\nDisallow: /pages/secret", content_type="text/plain"),
    )
    http_server.route("/pages/open.html", Reply(body=page("Open page")))
    http_server.route("/pages/secret.html", Reply(body=page("Secret page")))
    app = make_app()
    runner.poll(app.ctx)
    report = runner.process(app.ctx)
    assert report.processed == 2 and report.retrying == 0
    by_url = {a.url.rsplit("/", 1)[1]: a for a in articles(app)}
    assert by_url["open.html"].extraction_method == "trafilatura"
    secret = by_url["secret.html"]
    assert secret.extraction_method == "feed" and "robots.txt" in (secret.last_error or "")
    paths = [r.path for r in http_server.requests]
    assert "/pages/secret.html" not in paths
    assert paths.count("/robots.txt") == 1  # cached per host


def test_a_sources_user_agent_fetches_its_pages_and_reads_robots_txt(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    agent = "CustomBot/2.0 (+https://example.org/bot)"
    serve_feed(http_server, ["open", "secret"], clock.now - H)
    robots = b"User-agent: CustomBot\nDisallow: /pages/secret\n\nUser-agent: *\nDisallow:\n"
    http_server.route("/robots.txt", Reply(body=robots, content_type="text/plain"))
    http_server.route("/pages/open.html", Reply(body=page("Open page")))
    http_server.route("/pages/secret.html", Reply(body=page("Secret page")))
    app = make_app(user_agent=agent)
    runner.poll(app.ctx)
    assert runner.process(app.ctx).processed == 2
    agents = {r.path: r.headers.get("user-agent") for r in http_server.requests}
    assert agents["/feed.xml"] == agent and agents["/pages/open.html"] == agent
    assert "/pages/secret.html" not in agents  # disallowed for CustomBot, not for others
    by_url = {a.url.rsplit("/", 1)[1]: a for a in articles(app)}
    assert by_url["secret.html"].extraction_method == "feed"


def test_robots_crawl_delay_spaces_that_hosts_next_pages(
    make_app: Any, http_server: LoopbackServer
) -> None:
    http_server.route(
        "/robots.txt",
        Reply(
            body=b"User-agent: *\nCrawl-delay: 4\nDisallow: /private/", content_type="text/plain"
        ),
    )
    app = make_app()
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def go() -> None:
        limiter = fetch.HostLimiter(app.ctx.policy, clock=lambda: 100.0, sleep=fake_sleep)
        async with app.ctx.http_client() as client:
            for i in range(3):
                async with limiter.slot(http_server.url(f"/pages/{i}.html")):
                    await check_robots(
                        app.ctx, client, limiter, http_server.url(f"/pages/{i}.html")
                    )

    asyncio.run(go())
    # The first page reads robots.txt; the pages after it wait the asked 4 s each.
    assert sleeps == [4.0, 8.0]
    assert [r.path for r in http_server.requests].count("/robots.txt") == 1


def test_robots_txt_unreachable_means_retry_later_not_a_crash(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    serve_feed(http_server, ["a"], clock.now - H)
    http_server.route("/robots.txt", Reply(status=503))
    http_server.route("/pages/a.html", Reply(body=page("A")))
    app = make_app()
    runner.poll(app.ctx)
    report = runner.process(app.ctx)
    assert report.retrying == 1 and report.failed == {}


def test_published_date_source_feed_then_page_then_url(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    feed_date = clock.now - 2 * H
    items = [
        (http_server.url("/pages/dated.html"), feed_date),
        (http_server.url("/pages/meta.html"), None),
        (http_server.url("/2026/11/29/url-only.html"), None),
        (http_server.url("/pages/nothing.html"), None),
    ]
    http_server.route("/feed.xml", Reply(body=rss(items), content_type="application/rss+xml"))
    http_server.route(
        "/pages/dated.html", Reply(body=page("Dated", meta_date="2026-11-01T00:00:00Z"))
    )
    http_server.route(
        "/pages/meta.html", Reply(body=page("Meta", meta_date="2026-11-30T08:00:00Z"))
    )
    http_server.route("/2026/11/29/url-only.html", Reply(body=page("Url only")))
    http_server.route("/pages/nothing.html", Reply(body=page("Nothing")))
    app = make_app()
    runner.poll(app.ctx)
    runner.process(app.ctx)
    got = {a.url.rsplit("/", 1)[1]: (a.published_at, a.date_source) for a in articles(app)}
    assert got["dated.html"][1] == "feed"
    assert got["dated.html"][0] is not None
    assert got["dated.html"][0].replace(tzinfo=None) == feed_date.replace(tzinfo=None)
    assert got["meta.html"][1] == "page"
    assert got["url-only.html"][1] == "url"
    assert got["url-only.html"][0] is not None and got["url-only.html"][0].day == 29
    assert got["nothing.html"][1] in (None, "page")  # trafilatura may still find one


# --- stored HTML: retention and re-extraction ------------------------------------------------


def test_html_retention_and_reextract_without_refetching(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    serve_feed(http_server, ["a", "b"], clock.now - H)
    for s in ("a", "b"):
        http_server.route(f"/pages/{s}.html", Reply(body=page(f"Page {s}")))
    app = make_app(fetch={"keep_html_days": 2})
    runner.poll(app.ctx)
    runner.process(app.ctx)
    assert all(a.html_gz for a in articles(app))
    page_gets = sum(1 for r in http_server.requests if r.path.startswith("/pages/"))

    report = runner.reextract(app.ctx)
    assert report.processed == 2
    assert sum(1 for r in http_server.requests if r.path.startswith("/pages/")) == page_gets
    assert all(a.extraction_method == "trafilatura" and a.text for a in articles(app))

    clock.advance(days=3)
    runner.process(app.ctx)  # retention runs at the end of every pass
    assert all(a.html_gz is None for a in articles(app))
    assert all(a.text for a in articles(app))  # the text stays


def index_rows(app: appmod.App, article_id: int) -> tuple[object, list[int], list[int]]:
    with app.db.session() as s:
        sig = s.get(SignatureRow, article_id)
        bands = s.scalars(select(BandRow.bucket).where(BandRow.article_id == article_id))
        keys = s.scalars(select(StoryKeyRow.key).where(StoryKeyRow.article_id == article_id))
        return (sig.sketch if sig else None), sorted(bands), sorted(keys)


def expected_index(app: appmod.App, a: ArticleRow) -> tuple[object, list[int], list[int]]:
    """The index rows the article's stored text makes, computed from scratch."""
    p, text = app.ctx.dedup, a.text or ""
    sig = dedup.signature(text, p)
    hits = app.ctx.tagger.tag(document_text(a.title, text))
    keys = story.article_story_keys(a.title, text, hits, p)
    assert sig is not None
    return sig.sketch, sorted(sig.band_keys), sorted(dict.fromkeys(keys))


def test_reextract_replaces_the_dedup_index_of_a_changed_text(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    texts = ARTICLES[:3]
    assert len(texts) == 3
    serve_feed(http_server, ["a", "b"], clock.now - H)
    http_server.route("/pages/a.html", Reply(body=page("Page a", article=texts[0])))
    http_server.route("/pages/b.html", Reply(body=page("Page b", article=texts[1])))
    app = make_app(fetch={"keep_html_days": 2})
    runner.poll(app.ctx)
    runner.process(app.ctx)
    a, b = articles(app)
    before = index_rows(app, a.id)
    assert before == expected_index(app, a) and before[1] and before[2]
    b_before = index_rows(app, b.id)

    # As after an extractor upgrade: the kept HTML of `a` now yields another text.
    with app.db.session() as s:
        row = s.get_one(ArticleRow, a.id)
        row.html_gz = gzip.compress(page("Page a", article=texts[2]))
    runner.reextract(app.ctx)
    a2, b2 = articles(app)
    assert a2.text != a.text
    after = index_rows(app, a.id)
    assert after == expected_index(app, a2)  # the new text's rows, and only those
    stale = set(before[1]) - set(expected_index(app, a2)[1])
    assert stale and not stale & set(after[1])  # the old text's buckets are gone
    assert b2.text == b.text and index_rows(app, b.id) == b_before  # unchanged: rows kept
    assert (a2.duplicate_of_id, a2.story_id) == (a.duplicate_of_id, a.story_id)

    # Now the same text as `b`'s: `b` carries the index for both, as at first storing.
    with app.db.session() as s:
        row = s.get_one(ArticleRow, a.id)
        row.html_gz = gzip.compress(page("Page b", article=texts[1]))
    runner.reextract(app.ctx)
    a3, _ = articles(app)
    assert a3.text_hash == b.text_hash
    assert index_rows(app, a.id) == (None, [], [])
    assert index_rows(app, b.id) == b_before


def test_reextract_keeps_the_index_of_an_original_whose_time_alone_changed(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    serve_feed(http_server, ["a", "b"], None)  # no feed dates: the page's date decides
    for slug in "ab":  # the same story twice: one original, one exact copy
        http_server.route(f"/pages/{slug}.html", Reply(body=page("Same story")))
    app = make_app(fetch={"keep_html_days": 2})
    runner.poll(app.ctx)
    runner.process(app.ctx)
    a, b = articles(app)
    original, copy = (a, b) if index_rows(app, a.id)[0] is not None else (b, a)
    assert copy.duplicate_of_id == original.id and index_rows(app, copy.id) == (None, [], [])
    before = index_rows(app, original.id)
    assert before[1] and before[2]

    dated = page("Same story", meta_date="2026-11-30T08:00:00+00:00")
    with app.db.session() as s:
        s.get_one(ArticleRow, original.id).html_gz = gzip.compress(dated)
    runner.reextract(app.ctx)
    changed = next(x for x in articles(app) if x.id == original.id)
    assert changed.text == original.text and changed.published_at != original.published_at
    assert index_rows(app, original.id) == before  # the same rows: the group stays findable
    with app.db.session() as s:
        times = set(s.scalars(select(StoryKeyRow.at).where(StoryKeyRow.article_id == a.id)))
        times |= set(s.scalars(select(StoryKeyRow.at).where(StoryKeyRow.article_id == b.id)))
    assert times == {changed.published_at}  # moved to the new time
    assert index_rows(app, copy.id) == (None, [], [])


def test_keep_html_days_zero_keeps_none(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    serve_feed(http_server, ["a"], clock.now - H)
    http_server.route("/pages/a.html", Reply(body=page("A")))
    app = make_app(fetch={"keep_html_days": 0})
    runner.poll(app.ctx)
    runner.process(app.ctx)
    assert [a.html_gz for a in articles(app)] == [None]


def test_the_pages_metadata_is_stored(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    serve_feed(http_server, ["a"], clock.now - H)
    meta = b"<meta property='og:site_name' content='The Meridian Post'><meta name='author'"
    body = page("Page a").replace(b"<title>", meta + b" content='Jane Reporter'><title>", 1)
    http_server.route("/pages/a.html", Reply(body=body))
    app = make_app()
    runner.poll(app.ctx)
    runner.process(app.ctx)
    [a] = articles(app)
    assert (a.site_name, a.language, a.extraction_method) == (
        "The Meridian Post",
        "en",
        "trafilatura",
    )
    assert a.author == "Jane Reporter"


def test_mention_evidence_is_stored_as_json_offsets_into_the_document(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    serve_feed(http_server, ["a"], clock.now - H)
    http_server.route("/pages/a.html", Reply(body=page("Kataib Hezbollah in Iraq")))
    app = make_app()
    runner.poll(app.ctx)
    runner.process(app.ctx)
    [article] = articles(app)
    doc = document_text(article.title, article.text or "")
    with app.db.session() as s:
        rows = {m.entity_id: m for m in s.scalars(select(MentionRow))}
    assert {"kataib-hezbollah", "iraq"} <= set(rows)
    for row in rows.values():
        assert isinstance(row.evidence, list) and len(row.evidence) == row.count
        for item in row.evidence:
            assert set(item) == {"start", "end", "text"}
            assert doc[item["start"] : item["end"]] == item["text"]
    assert rows["kataib-hezbollah"].evidence[0]["text"] == "Kataib Hezbollah"


def stored_analysis(app: appmod.App) -> dict[str, tuple[object, ...]]:
    with app.db.session() as s:
        out: dict[str, tuple[object, ...]] = {}
        for a in s.scalars(select(ArticleRow).order_by(ArticleRow.id)):
            mentions = s.scalars(select(MentionRow).where(MentionRow.article_id == a.id))
            matches = s.scalars(select(MatchRow).where(MatchRow.article_id == a.id))
            sig = s.get(SignatureRow, a.id)
            bands = s.scalars(select(BandRow.bucket).where(BandRow.article_id == a.id))
            keys = s.scalars(select(StoryKeyRow.key).where(StoryKeyRow.article_id == a.id))
            out[a.url.rsplit("/", 1)[1]] = (
                a.extraction_method,
                a.text_hash,
                a.html_gz is not None,
                (sig.shingles, sig.sketch) if sig is not None else None,
                sorted(bands),
                sorted(keys),
                (a.page_canonical_url, a.duplicate_of_id is not None, a.story_id is not None),
                sorted((m.entity_id, m.count, str(m.evidence)) for m in mentions),
                sorted((m.watchlist, tuple(m.terms), m.alert_worthy) for m in matches),
            )
        return out


def test_pool_workers_tag_and_match_exactly_as_the_storing_process(
    make_app: Any, http_server: LoopbackServer, clock: Clock
) -> None:
    texts = ARTICLES[:3]
    assert len(texts) == 3
    serve_feed(http_server, [f"p{i}" for i in range(len(texts))], clock.now - H)
    for i, name in enumerate(texts):
        http_server.route(f"/pages/p{i}.html", Reply(body=page(f"Page {i}", article=name)))
    lists = [
        {
            "name": "militias",
            "query": "type:armed_group AND (Iran OR Iraq)",
            "alert": {"query": "Baghdad", "recipients": ["duty@example.org"]},
        },
        {"name": "nothing", "query": "zzyzx OR qwertyuiop", "sources": ["Wire"]},
    ]
    results = []
    for workers in (1, 2):
        app = make_app(workers=workers, watchlists=lists, fetch={"timeout_s": 20})
        if workers == 2:  # a fresh database for the pool run
            with app.db.session() as s:
                for table in (MatchRow, MentionRow, ArticleRow):
                    s.execute(delete(table))
        runner.poll(app.ctx, force=True)
        report = runner.process(app.ctx)
        assert report.processed == len(texts), [a.last_error for a in articles(app)]
        results.append(stored_analysis(app))
        app.close()
    assert results[0] == results[1]
    assert any(matches for *_, matches in results[0].values())
    assert all(sig is not None and bands for _, _, _, sig, bands, *_ in results[0].values())
    verdicts = {v for *_, matches in results[0].values() for _, _, v in matches}
    assert verdicts <= {True, False} and verdicts
    assert all(not any(w == "nothing" for w, *_ in m) for *_, m in results[0].values())


def test_a_failure_on_the_fetching_thread_surfaces_instead_of_hanging(
    make_app: Any, http_server: LoopbackServer, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_feed(http_server, ["a", "b"], clock.now - H)
    for slug in "ab":
        http_server.route(f"/pages/{slug}.html", Reply(body=page(f"Page {slug}")))
    app = make_app()
    runner.poll(app.ctx)
    stages = runner.stages_for(app.ctx)
    monkeypatch.setattr(analysis_module, "_STAGES", None)  # restored after the test
    app.ctx.executor = ThreadPoolExecutor(2, initializer=runner.init_worker, initargs=(stages,))

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the event loop broke")

    # Not one page's failure (that is recorded on the page) but the fetching thread's own.
    monkeypatch.setattr(process_module.fetch, "HostLimiter", broken)
    try:
        with pytest.raises(RuntimeError, match="the event loop broke"):
            runner.process(app.ctx)
    finally:
        app.ctx.executor.shutdown()
    assert {a.state for a in articles(app)} == {"pending"}  # nothing half-stored


def test_an_unexpected_error_fetching_one_page_is_that_page_s_error(
    make_app: Any, http_server: LoopbackServer, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_feed(http_server, ["a", "b"], clock.now - H)
    for slug in "ab":
        http_server.route(f"/pages/{slug}.html", Reply(body=page(f"Page {slug}")))
    app = make_app()
    runner.poll(app.ctx)
    real = process_module.fetch.fetch

    async def broken_for_a(client: Any, url: str, *args: Any, **kwargs: Any) -> Any:
        if url.endswith("/a.html"):
            raise RuntimeError("a bug in the fetcher")
        return await real(client, url, *args, **kwargs)

    monkeypatch.setattr(process_module.fetch, "fetch", broken_for_a)
    report = runner.process(app.ctx)
    by_url = {a.url.rsplit("/", 1)[-1]: a for a in articles(app)}
    assert by_url["b.html"].state == "processed"
    assert by_url["a.html"].state == "pending" and report.retrying == 1  # tried again later
    assert "RuntimeError: a bug in the fetcher" in (by_url["a.html"].last_error or "")
