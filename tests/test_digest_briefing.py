"""The digest over a dense set (tests/fixtures/stories: 112 articles, ten days, 47 stories):
each true story with a matching report is one item listing every matched report; an outlet
the query excludes never appears; counts are the matched stories and reports; daily digests
mark a story *new* once and *update* after, and carry each report exactly once.

Stories are set from the fixture's truth (`event`) in storage, so these tests measure the
digest, not the story clustering.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from monitor import app as appmod
from monitor.config import load_settings
from monitor.delivery import digest as ledger
from monitor.delivery.mailer import SmtpMailer
from monitor.pipeline.runner import ImportRecord, import_articles
from monitor.storage.schema import ArticleRow, MatchRow, StoryRow
from tests.conftest import REPO, Clock, SmtpSink

STORIES = REPO / "tests" / "fixtures" / "stories"
RECORDS: list[dict[str, Any]] = [
    json.loads(line)
    for part in ("part1.jsonl", "part2.jsonl")
    for line in (STORIES / part).read_text(encoding="utf-8").splitlines()
    if line.strip()
]
EXCLUDED = "Tigris Wire"
EXCLUDED_HOST = "tigris-wire.example"
WATCHLIST = "rockets-drones"
QUERY = f'type:armed_group AND (rocket* OR drone*) NOT source:"{EXCLUDED}"'
BAGHDAD_MORNING = timedelta(hours=4)  # 07:00 in Baghdad is 04:00 UTC
# Attacks the watchlist exists for: each must be an item of its own.
ATTACKS = (
    "p1-harir-drone", "p1-ain-asad-rockets", "p1-qaim-strike", "p2-erbil-drone",
    "p2-khormor-drone", "p2-asad-rockets-1", "p2-asad-rockets-2", "p2-jurf-strike",
)  # fmt: skip
BY_URL = {r["url"]: r for r in RECORDS}


@pytest.fixture
def briefing_app(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink
) -> Iterator[tuple[appmod.App, Clock]]:
    cfg = {
        "database": database_url,
        "entities": str(REPO / "config" / "entities.yaml"),
        "reports_dir": str(tmp_path / "reports"),
        "smtp": {"host": "127.0.0.1", "port": smtp_sink.port},
        "watchlists": [
            {
                "name": WATCHLIST,
                "query": QUERY,
                "digest": {
                    "schedule": "0 7 * * *",
                    "timezone": "Asia/Baghdad",
                    "recipients": ["analyst@example.org"],
                    "formats": ["email", "json", "html"],
                },
            }
        ],
    }
    path = tmp_path / "monitor.yaml"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    clock = Clock(datetime(2026, 11, 15, 0, 0, tzinfo=UTC))  # first seen before the set
    mailer = SmtpMailer(host="127.0.0.1", port=smtp_sink.port)
    app = appmod.build(load_settings(path), clock=clock, mailer=mailer, workers=1)
    try:
        yield app, clock
    finally:
        app.close()


def record(rec: dict[str, Any]) -> ImportRecord:
    return ImportRecord(
        url=rec["url"],
        title=rec["title"],
        text=rec["text"],
        published_at=datetime.fromisoformat(rec["published_at"]),
        source=rec["source"],
    )


def set_true_stories(app: appmod.App) -> None:
    """Every stored article's story and original from the fixture, whatever clustering did:
    one story per `event`; a copy or excerpt is a duplicate of its event's first report."""
    with app.db.session() as s:
        rows = {a.url: a for a in s.scalars(select(ArticleRow))}
        stories = {st.title: st for st in s.scalars(select(StoryRow))}
        firsts: dict[str, ArticleRow] = {}
        for rec in sorted(RECORDS, key=lambda r: r["published_at"]):
            row = rows.get(rec["url"])
            if row is None:
                continue
            key = f"truth:{rec['event']}"
            if key not in stories:
                stories[key] = StoryRow(created_at=row.discovered_at, updated_at=row.discovered_at,
                                        title=key)  # fmt: skip
                s.add(stories[key])
                s.flush()
            row.story_id = stories[key].id
            original = firsts.get(rec["event"])
            copy = rec["kind"] in ("copy", "excerpt") and original is not None
            row.duplicate_of_id = original.id if copy and original is not None else None
            if rec["kind"] in ("report", "background"):
                firsts.setdefault(rec["event"], row)


def matched_by_event(app: appmod.App) -> dict[str, set[str]]:
    """event -> URLs of its articles the watchlist matched (the query, not the clustering)."""
    with app.db.session() as s:
        urls = s.scalars(
            select(ArticleRow.url)
            .join(MatchRow, MatchRow.article_id == ArticleRow.id)
            .where(MatchRow.watchlist == WATCHLIST)
        ).all()
    out: dict[str, set[str]] = defaultdict(set)
    for url in urls:
        out[BY_URL[url]["event"]].add(url)
    return dict(out)


def item_urls(item: dict[str, Any]) -> list[str]:
    return [item["url"], *(o["url"] for o in item["also_reported_by"])]


def item_sources(item: dict[str, Any]) -> list[str]:
    return [item["source"], *(o["source"] for o in item["also_reported_by"])]


def json_report(outputs: list[str]) -> dict[str, Any]:
    path = next(p for p in outputs if p.endswith(".json"))
    doc: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return doc


def test_each_event_is_one_item_with_all_its_matched_reports(
    briefing_app: tuple[appmod.App, Clock], smtp_sink: SmtpSink
) -> None:
    app, clock = briefing_app
    clock.now = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    import_articles(app.ctx, [record(r) for r in RECORDS])
    set_true_stories(app)
    expected = matched_by_event(app)
    assert set(ATTACKS) <= set(expected)
    assert not any(BY_URL[u]["source"] == EXCLUDED for urls in expected.values() for u in urls)

    clock.now += timedelta(hours=1, minutes=1)
    outcome = ledger.deliver_due(app.delivery, app.plans)[0]
    assert outcome.state == "sent"
    doc = json_report(outcome.outputs)

    items = doc["articles"]
    events = [{BY_URL[u]["event"] for u in item_urls(i)} for i in items]
    assert all(len(e) == 1 for e in events), "an item mixes stories"
    got = {e.pop(): set(item_urls(i)) for e, i in zip(events, items, strict=True)}
    assert len(got) == len(items), "a story is split over items"
    assert got == expected  # every matched report, under its own story's item
    n_reports = sum(len(u) for u in expected.values())
    assert (doc["total_stories"], doc["total_reports"]) == (len(expected), n_reports)
    assert all(EXCLUDED not in item_sources(i) for i in items)

    msg = smtp_sink.messages[0]
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    outlets = {BY_URL[u]["source"] for urls in expected.values() for u in urls}
    header = f"{len(expected)} stories · {n_reports} reports from {len(outlets)} outlets"
    assert header in text and header in html
    assert f"— {len(expected)} stories —" in msg["Subject"]
    for body in (text, html, json.dumps(doc)):
        assert EXCLUDED_HOST not in body
    for url in (u for urls in expected.values() for u in urls):
        assert url in text and f'href="{url}"' in html


def test_briefing_order_is_newest_day_first_then_the_most_reported(
    briefing_app: tuple[appmod.App, Clock],
) -> None:
    app, clock = briefing_app
    clock.now = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    import_articles(app.ctx, [record(r) for r in RECORDS])
    set_true_stories(app)
    plan = appmod.plan_for(app, WATCHLIST)
    end = clock.now + timedelta(minutes=1)
    content = ledger.build_content(app.db, plan, datetime(2026, 11, 15, tzinfo=UTC), end, end)

    def latest(item: Any) -> datetime:
        times = [item.published_at, *(o.published_at for o in item.also_reported_by)]
        return max(t for t in times if t is not None)

    days = [(latest(a) + timedelta(hours=3)).date() for a in content.articles]
    assert days == sorted(days, reverse=True)
    assert days[0] == date(2026, 11, 25)
    first_day = [a for a, d in zip(content.articles, days, strict=True) if d == days[0]]
    sizes = [1 + len(a.also_reported_by) for a in first_day]
    assert sizes == sorted(sizes, reverse=True)
    # Which part of the query matched: the armed groups found, and the words.
    for a in content.articles:
        kinds = {p.kind for p in a.matched_on}
        assert kinds == {"type", "word"}, a.matched_on
        armed = next(p for p in a.matched_on if p.kind == "type")
        assert armed.term == "armed_group" and armed.names
        words = {p.term: p.names for p in a.matched_on if p.kind == "word"}
        assert words and set(words) <= {"rocket*", "drone*"}, words
        assert all(n.casefold().startswith(t[:-1]) for t, ns in words.items() for n in ns)


def test_daily_digests_carry_each_report_once_new_then_update(
    briefing_app: tuple[appmod.App, Clock], smtp_sink: SmtpSink
) -> None:
    app, clock = briefing_app
    seen: dict[str, int] = {}  # event -> reports delivered so far
    delivered: list[str] = []
    statuses: dict[str, list[str]] = defaultdict(list)
    for day in range(16, 28):
        morning = datetime(2026, 11, day, tzinfo=UTC) + BAGHDAD_MORNING
        clock.now = morning - timedelta(minutes=30)  # what was published by then arrives
        arrived = [r for r in RECORDS if datetime.fromisoformat(r["published_at"]) < clock.now]
        import_articles(app.ctx, [record(r) for r in arrived])
        set_true_stories(app)
        clock.now = morning + timedelta(minutes=1)
        (outcome,) = ledger.deliver_due(app.delivery, app.plans)
        assert outcome.state == "sent"
        for item in json_report(outcome.outputs)["articles"]:
            urls = item_urls(item)
            (event,) = {BY_URL[u]["event"] for u in urls}
            statuses[event].append(item["status"])
            assert item["earlier_reports"] == seen.get(event, 0)
            assert item["status"] == ("update" if event in seen else "new")
            seen[event] = seen.get(event, 0) + len(urls)
            delivered += urls

    expected = matched_by_event(app)
    assert sorted(delivered) == sorted(u for urls in expected.values() for u in urls)
    assert any("update" in s for s in statuses.values())  # stories that grew overnight
    assert all(s[0] == "new" for s in statuses.values())
    assert len(smtp_sink.messages) == 12
    for msg in smtp_sink.messages:
        text = msg.get_body(preferencelist=("plain",)).get_content()
        assert EXCLUDED_HOST not in text
