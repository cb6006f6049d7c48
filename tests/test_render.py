"""Digest rendering: golden files for the looks, parsed output for the safety properties.

Regenerate the golden files with `UPDATE_GOLDEN=1 pytest tests/test_render.py`, then review
the diff by eye before committing it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from monitor.delivery.render import (
    FEED_ENTRIES,
    SUBJECT_MAX,
    TABLE_ACTORS,
    chart_cid,
    default_templates_dir,
    digest_entry_id,
    digest_subject,
    feed_id,
    highlight_html,
    inline_images,
    markdown_escape,
    render_atom,
    render_csv,
    render_digest,
    render_json,
    render_markdown,
    safe_url,
    snippet_without_title,
    term_spans,
)
from monitor.errors import DeliveryError
from monitor.models import ActorTrend, DigestContent
from tests.golden.samples import EVIL_URL, KH, PMF, TRENDS, alert, empty, hostile, morning

GOLDEN = Path(__file__).parent / "golden"
FEED_URL = "https://reports.example.org/iraq-militias/feed.atom"
PAGE = "2026-12-01T0700.html"
ATOM = "{http://www.w3.org/2005/Atom}"


def assert_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="")
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 and review it"
    assert actual == path.read_bytes().decode("utf-8"), f"{name} differs from golden"


GOLDEN_CASES: list[tuple[str, Callable[[], str]]] = [
    ("morning.txt", lambda: render_digest(morning()).text),
    ("morning.html", lambda: render_digest(morning()).html),
    ("morning.md", lambda: render_markdown(morning())),
    ("morning.json", lambda: render_json(morning())),
    ("morning.csv", lambda: render_csv(morning())),
    ("morning.atom", lambda: render_atom(morning(), self_url=FEED_URL, alternate_url=PAGE)),
    ("empty.txt", lambda: render_digest(empty()).text),
    ("empty.html", lambda: render_digest(empty()).html),
    ("alert.txt", lambda: render_digest(alert()).text),
    ("alert.html", lambda: render_digest(alert()).html),
]


@pytest.mark.parametrize(("name", "make"), GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_golden(name: str, make: Callable[[], str]) -> None:
    assert_golden(name, make())


# --- subject --------------------------------------------------------------------------


def test_subject_names_watchlist_count_and_local_day() -> None:
    assert render_digest(morning()).subject == "[monitor] iraq-militias — 2 stories — 2026-12-01"


def test_subject_day_is_in_the_digest_time_zone() -> None:
    # 22:30 UTC on the 30th is already 1 December in Baghdad (UTC+3).
    late = dataclasses.replace(morning(), period_end=datetime(2026, 11, 30, 22, 30, tzinfo=UTC))
    assert digest_subject(late).endswith("— 2026-12-01")
    utc = dataclasses.replace(late, timezone="UTC")
    assert digest_subject(utc).endswith("— 2026-11-30")


def test_subject_singular_and_nothing_new() -> None:
    one = dataclasses.replace(morning(), articles=morning().articles[:1], total_stories=1)
    assert "— 1 story —" in digest_subject(one)
    assert digest_subject(empty()) == "[monitor] us-iran — nothing new — 2026-12-01"


def test_subject_is_one_bounded_line() -> None:
    long = dataclasses.replace(morning(), watchlist="x\r\n" * 200 + "Bcc: a@b.org")
    subject = digest_subject(long)
    assert "\r" not in subject and "\n" not in subject
    assert len(subject) <= SUBJECT_MAX
    assert subject.endswith("— 2 stories — 2026-12-01")


# --- content --------------------------------------------------------------------------


def test_times_are_shown_in_the_digest_time_zone() -> None:
    text = render_digest(morning()).text
    assert "2026-11-30 07:00 – 2026-12-01 07:00 (Asia/Baghdad)" in text
    assert "published 2026-12-01 00:15" in text  # 21:15 UTC


def test_naive_times_are_taken_as_utc() -> None:
    naive = dataclasses.replace(
        morning(),
        period_start=datetime(2026, 11, 30, 4, 0),
        period_end=datetime(2026, 12, 1, 4, 0),
    )
    assert "2026-11-30 07:00 – 2026-12-01 07:00" in render_digest(naive).text


def test_html_and_text_carry_the_same_links() -> None:
    rendered = render_digest(morning())
    for url in (
        "https://example.org/2026/12/01/rockets-al-asad",
        "https://example.com/world/iraq-rockets",
        "https://example.net/originals/asad",
        "https://example.org/analysis/pmf-budget",
    ):
        assert url in rendered.text
        assert f'href="{url}"' in rendered.html


def test_html_shows_chips_outlets_and_failing_sources() -> None:
    html = render_digest(morning()).html
    assert "chip-armed_group" in html and "Kata'ib Hezbollah ×3" in html
    assert "3 reports from 3 outlets" in html
    assert "1 source failing" in html and "HTTP 503 Service Unavailable" in html


def test_css_is_inlined() -> None:
    html = render_digest(morning()).html
    assert "<style" not in html.split("<body", 1)[1]
    assert '<mark style="' in html
    assert "background: #b42318" in html  # the armed_group chip colour


def test_empty_period_says_nothing_new() -> None:
    rendered = render_digest(empty())
    assert "Nothing new matched us-iran" in rendered.text
    assert "Nothing new matched <strong>us-iran</strong>" in rendered.html


def test_highlight_matches_folded_forms_whole_words_only() -> None:
    text = "Kata'ib Hezbollah and KATAIB HEZBOLLAH; the USA and US troops; usual"
    spans = term_spans(text, ["Kataib Hezbollah", "us"])
    assert [text[s:e] for s, e in spans] == ["Kata'ib Hezbollah", "KATAIB HEZBOLLAH", "US"]


def test_highlight_escapes_before_marking() -> None:
    out = highlight_html('<script>alert("x")</script> & rockets', ["script", "rockets", "&"])
    assert "<script" not in out
    assert "&lt;<mark>script</mark>&gt;" in out
    assert "<mark>rockets</mark>" in out
    assert "<mark>&amp;</mark>" in out  # "&" matched as itself, not inside "&amp;"
    assert out.count("<mark>") == 4


def test_highlight_overlapping_terms_merge() -> None:
    out = highlight_html("United States Army", ["United States", "States Army"])
    assert str(out) == "<mark>United States Army</mark>"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/a?b=1&c=2", "https://example.org/a?b=1&c=2"),
        ("http://example.org", "http://example.org"),
        ("HTTPS://Example.org/x", "HTTPS://Example.org/x"),
        ("  https://example.org/  ", "https://example.org/"),
        ("javascript:alert(1)", ""),
        ("JavaScript:alert(1)", ""),
        (" \tjava\nscript:alert(1)", ""),
        ("\x01javascript:alert(1)", ""),
        ("data:text/html,<script>alert(1)</script>", ""),
        ("vbscript:msgbox", ""),
        ("file:///etc/passwd", ""),
        ("//example.org/protocol-relative", ""),
        ("/relative/path", ""),
        ("https:///no-host", ""),
        ("https://exa\x00mple.org/", ""),
        ("mailto:a@example.org", ""),
        ("", ""),
    ],
)
def test_safe_url(url: str, expected: str) -> None:
    assert safe_url(url) == expected


def test_safe_url_drops_tabs_inside_the_url() -> None:
    assert safe_url("https://exa\tmple.org/\n") == "https://example.org/"


def test_markdown_escape_neutralises_links_and_html() -> None:
    assert markdown_escape("[x](javascript:y) <b>*z*</b>") == (
        r"\[x\](javascript:y) \<b\>\*z\*\</b\>"
    )


# --- hostile input --------------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.data: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs

    def handle_data(self, data: str) -> None:
        self.data.append(data)


ALLOWED_TAGS = {
    "html", "head", "meta", "title", "body", "div", "h1", "h2", "h3", "p", "span", "a",
    "mark", "strong", "code", "ul", "li", "table", "tbody", "tr", "th", "td", "img",
}  # fmt: skip
ALLOWED_ATTRS = {
    "lang", "charset", "name", "content", "class", "style", "href", "title",
    "cellpadding", "cellspacing", "src", "width", "height", "alt",
}  # fmt: skip


def test_hostile_html_has_no_markup_of_its_own() -> None:
    html = render_digest(hostile()).html
    parsed = _Collector()
    parsed.feed(html)
    assert set(parsed.tags) <= ALLOWED_TAGS
    assert {name for name, _ in parsed.attrs} <= ALLOWED_ATTRS
    hrefs = [value or "" for name, value in parsed.attrs if name == "href"]
    assert hrefs == ['https://example.com/a?x=1&y="2"']
    srcs = [value or "" for name, value in parsed.attrs if name == "src"]
    assert srcs == [f"cid:{chart_cid(hostile())}"]
    styles = [value or "" for name, value in parsed.attrs if name == "style"]
    assert not any("onclick" in v or "expression" in v for v in styles)
    classes = " ".join(v or "" for n, v in parsed.attrs if n == "class")
    assert "onclick" not in classes.replace("chip-armed_grouponclickx", "")
    # The hostile text is still there, as text, for the analyst to see.
    text = "".join(parsed.data)
    assert '<script>alert("t")</script>' in text
    assert '<img src=x onerror="alert(1)">' in text
    assert '<script>alert("n")</script> $x$ _y' in text  # the trend's name, in the table


def test_hostile_text_has_no_dangerous_links_or_line_breaks_in_titles() -> None:
    rendered = render_digest(hostile())
    assert "javascript:" not in rendered.text.replace("[link](javascript:alert(1))", "")
    assert "data:text/html" not in rendered.text
    assert EVIL_URL not in rendered.text and "(no usable link)" in rendered.text
    assert "\r" not in rendered.text
    title_line = next(line for line in rendered.text.splitlines() if line.startswith("1. "))
    assert title_line.endswith("Militia Bcc: victim@example.org")
    assert "\r" not in rendered.subject and "\n" not in rendered.subject


def test_hostile_markdown_has_no_links_or_raw_html() -> None:
    md = render_markdown(hostile())
    assert not re.search(r"(?<!\\)\]\(<?javascript", md)
    assert not re.search(r"(?<!\\)<(script|img|b|i)\b", md)
    assert '](<https://example.com/a?x=1&y="2">)' in md


def test_hostile_csv_defuses_formulas_and_keeps_one_line_cells() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(hostile()))))
    assert len(rows) == 1
    assert rows[0]["title"].startswith("<script>") and "\n" not in rows[0]["title"]
    formula = dataclasses.replace(
        hostile().articles[0], title='=HYPERLINK("http://x")', source="+1", snippet="@SUM(A1)"
    )
    row = next(csv.DictReader(io.StringIO(render_csv(_with(hostile(), formula)))))
    assert row["title"] == '\'=HYPERLINK("http://x")'
    assert row["source"] == "'+1" and row["snippet"] == "'@SUM(A1)"


def test_hostile_atom_is_well_formed_without_script_links() -> None:
    root = ET.fromstring(render_atom(hostile(), alternate_url="javascript:alert(1)"))
    links = [el.get("href") for el in root.iter(f"{ATOM}link")]
    assert links == ["javascript%3Aalert%281%29"]  # a relative path now, not a script
    (content,) = [el.text or "" for el in root.iter(f"{ATOM}content")]
    parsed = _Collector()
    parsed.feed(content)
    assert set(parsed.tags) <= {"p", "br", "strong", "table", "tr", "th", "td", "small", "h3",
                                "a", "mark"}  # fmt: skip
    hrefs = [value for name, value in parsed.attrs if name == "href"]
    assert hrefs == ['https://example.com/a?x=1&y="2"']
    assert '<script>alert("t")</script>' in "".join(parsed.data)
    assert root.findtext(f"{ATOM}title") == "monitor: evil Bcc: victim@example.org"


def test_atom_drops_characters_xml_forbids() -> None:
    article = dataclasses.replace(morning().articles[0], title="Bad\x0b\x00 byte\ufffe")
    root = ET.fromstring(render_atom(_with(morning(), article)))
    assert "Bad" in (root.findtext(f"{ATOM}entry/{ATOM}content") or "")


def _with(content: DigestContent, *articles: object) -> DigestContent:
    return dataclasses.replace(content, articles=articles)  # type: ignore[arg-type]


# --- machine formats ------------------------------------------------------------------


def test_json_round_trips_the_content() -> None:
    doc = json.loads(render_json(morning()))
    assert doc["watchlist"] == "iraq-militias"
    assert doc["article_count"] == 2
    first = doc["articles"][0]
    assert first["published_at"] == "2026-11-30T21:15:00+00:00"
    assert first["actors"][0] == {
        "id": "kataib-hezbollah",
        "name": "Kata'ib Hezbollah",
        "type": "armed_group",
        "count": 3,
    }
    assert first["also_reported_by"][0]["source"] == "Reuters"
    assert doc["failing_sources"][0]["error_count"] == 4


def test_csv_has_one_row_per_article() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(morning()))))
    assert [r["story_id"] for r in rows] == ["41", "42"]
    assert rows[0]["also_reported_count"] == "2"
    assert rows[1]["published_at"] == ""


# --- templates ------------------------------------------------------------------------


def test_default_templates_dir_is_the_repository_templates() -> None:
    assert default_templates_dir() == Path(__file__).resolve().parents[1] / "templates"


def _templates(tmp_path: Path, html: str, text: str = "{{ subject }}") -> Path:
    (tmp_path / "digest.html.j2").write_text(html, encoding="utf-8")
    (tmp_path / "digest.txt.j2").write_text(text, encoding="utf-8")
    return tmp_path


def test_custom_templates_dir_is_used_and_autoescaped(tmp_path: Path) -> None:
    tdir = _templates(tmp_path, "<p>{{ articles[0].article.title }}</p>")
    rendered = render_digest(hostile(), templates_dir=tdir)
    assert rendered.html.count("<p>") == 1 and "&lt;script&gt;" in rendered.html
    assert rendered.text == digest_subject(hostile())


def test_undefined_variable_is_a_delivery_error(tmp_path: Path) -> None:
    tdir = _templates(tmp_path, "{{ no_such_thing }}")
    with pytest.raises(DeliveryError, match=re.escape("digest.html.j2")):
        render_digest(morning(), templates_dir=tdir)


def test_missing_templates_dir_is_a_delivery_error(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match="templates not found"):
        render_digest(morning(), templates_dir=tmp_path / "nope")


def test_unknown_time_zone_is_a_delivery_error() -> None:
    with pytest.raises(DeliveryError, match="Mars/Olympus"):
        render_digest(dataclasses.replace(morning(), timezone="Mars/Olympus"))


@pytest.mark.parametrize(
    ("snippet", "title", "expected"),
    [
        ("Rockets hit base. Three rockets struck", "Rockets hit base", "Three rockets struck"),
        ("ROCKETS HIT BASE — Three rockets", "Rockets hit base", "Three rockets"),
        ("Kata'ib Hezbollah denies role: it said", "Kataib Hezbollah denies role", "it said"),
        ("Rockets hit bases across Iraq", "Rockets hit base", "Rockets hit bases across Iraq"),
        ("Rockets hit base", "Rockets hit base", "Rockets hit base"),
        ("Three rockets struck", "Rockets hit base", "Three rockets struck"),
        ("Three rockets struck", "", "Three rockets struck"),
    ],
)
def test_snippet_without_title(snippet: str, title: str, expected: str) -> None:
    assert snippet_without_title(snippet, title) == expected


def test_headline_is_not_repeated_by_the_snippet() -> None:
    article = dataclasses.replace(
        morning().articles[0],
        snippet="Rockets hit Al Asad Air Base; Kataib Hezbollah denies role "
        "Three rockets struck near the base.",
        also_reported_by=(),  # one report: no list of reports repeating the headline
    )
    content = dataclasses.replace(morning(), articles=(article,))
    rendered = render_digest(content)
    assert rendered.text.count("denies role") == 1
    assert "Three rockets struck near the base." in rendered.text
    assert render_markdown(content).count("denies role") == 1
    assert json.loads(render_json(content))["articles"][0]["snippet"] == article.snippet


# --- actor table and chart --------------------------------------------------------------


def test_text_actor_table_flags_rising_actors() -> None:
    text = render_digest(morning()).text
    lines = text.splitlines()
    head = lines.index(next(line for line in lines if line.startswith("Actors published")))
    table = lines[head + 1 : head + 7]
    assert table[0].split() == ["Actor", "Articles", "Baseline", "Change"]
    assert table[1].split() == ["▲", "Kata'ib", "Hezbollah", "3", "0.6", "+2.4"]
    assert table[2].split() == ["Asaib", "Ahl", "al-Haq", "2", "1.1", "+0.9"]
    assert table[4].split() == ["Popular", "Mobilization", "Forces", "1", "1.4", "-0.4"]
    assert len({len(line) for line in table}) == 1  # columns line up
    # Countries and places are named in nearly every article: their own, shorter row.
    assert lines[head + 8] == "Countries and places: United States 3, Al Asad Air Base 3 ▲"
    assert "Most named" not in text  # the table replaces the short list


def test_html_actor_table_with_chart_swatches() -> None:
    rendered = render_digest(morning())
    html = rendered.html
    assert "Actors published this period" in html
    assert html.count("▲") == 3 and "+2.4" in html  # two rising actors and the key
    # The five charted actors carry their line colour; countries and places are not drawn.
    assert html.count("background: #0072b2") == 1
    assert html.count('class="swatch"') == 5
    assert "Abu Mahdi al-Muhandis <span" in html
    assert "Countries and places: United States 3 · Al Asad Air Base 3" in html
    cid = chart_cid(morning())
    assert list(rendered.images) == [cid]
    assert rendered.images[cid].startswith(b"\x89PNG\r\n\x1a\n")
    assert f'src="cid:{cid}"' in html and 'width="632" height="257"' in html
    assert "alt=\"Chart: matched articles per day over 14 days for Kata'ib Hezbollah, " in html


def test_markdown_and_json_carry_the_actor_table() -> None:
    md = render_markdown(morning())
    assert "| ▲ | Kata'ib Hezbollah | armed\\_group | 3 | 0.6 | +2.4 |" in md
    assert "Countries and places: United States 3 · Al Asad Air Base 3 ▲" in md
    doc = json.loads(render_json(morning()))
    assert doc["total_reports"] == 4
    assert doc["actor_trends"][0]["id"] == "kataib-hezbollah"
    assert doc["actor_trends"][0]["daily"][-1] == 3
    assert doc["trend_days"][0] == "2026-11-18" and doc["trend_days"][-1] == "2026-12-01"


def test_no_trends_means_no_table_no_chart_and_the_short_list() -> None:
    second = dataclasses.replace(morning().articles[1], actors=(KH, PMF))
    plain = dataclasses.replace(
        morning(), actor_trends=(), articles=(morning().articles[0], second)
    )
    rendered = render_digest(plain)
    assert rendered.images == {}
    assert "<img" not in rendered.html and "Actors published" not in rendered.html
    assert "Actors published" not in rendered.text
    assert "Most named: Kata'ib Hezbollah (2)" in rendered.text  # the older, shorter summary
    assert json.loads(render_json(plain))["trend_days"] == []


def test_trends_without_any_daily_counts_get_a_table_but_no_chart() -> None:
    flat = tuple(dataclasses.replace(t, daily=()) for t in TRENDS)
    rendered = render_digest(dataclasses.replace(morning(), actor_trends=flat))
    assert rendered.images == {} and "<img" not in rendered.html
    assert "Actors published this period" in rendered.html


def test_empty_period_stays_short_even_with_trends() -> None:
    assert empty().actor_trends
    rendered = render_digest(empty())
    assert rendered.images == {}
    assert "Actors published" not in rendered.text + rendered.html
    assert len(rendered.text.splitlines()) < 14


def test_total_reports_from_the_ledger_wins_over_the_count_here() -> None:
    more = dataclasses.replace(morning(), total_reports=9)
    assert "2 stories · 9 reports from 4 outlets" in render_digest(more).text
    fallback = dataclasses.replace(morning(), total_reports=0)
    assert "2 stories · 4 reports from 4 outlets" in render_digest(fallback).text


def test_actor_table_is_bounded() -> None:
    many = tuple(
        ActorTrend(f"a{i}", f"Actor {i:02d}", "person", 20 - i, 1.0, False, (1,) * 14)
        for i in range(TABLE_ACTORS + 3)
    )
    rendered = render_digest(dataclasses.replace(morning(), actor_trends=many))
    assert "Actor 09" in rendered.text and "Actor 10" not in rendered.text
    assert "(3 more actors not shown)" in rendered.text
    assert "3 more actors not shown." in rendered.html


def test_chart_cid_is_stable_per_watchlist_and_period() -> None:
    assert chart_cid(morning()) == chart_cid(morning())
    later = dataclasses.replace(morning(), period_end=datetime(2026, 12, 2, 4, 0, tzinfo=UTC))
    assert chart_cid(later) != chart_cid(morning())
    assert re.fullmatch(r"actor-trends\.[0-9a-f]{16}@monitor", chart_cid(morning()))


def test_inline_images_makes_one_self_contained_page() -> None:
    rendered = render_digest(morning())
    page = inline_images(rendered)
    assert "cid:" not in page
    assert page.count('src="data:image/png;base64,iVBORw0KGgo') == 1
    assert inline_images(render_digest(empty())) == render_digest(empty()).html


# --- the watchlist's Atom feed ----------------------------------------------------------


def _entries(feed: str) -> list[ET.Element]:
    return ET.fromstring(feed).findall(f"{ATOM}entry")


def _day(n: int) -> DigestContent:
    start = datetime(2026, 11, 1, 4, 0, tzinfo=UTC) + timedelta(days=n)
    return dataclasses.replace(
        morning(),
        period_start=start,
        period_end=start + timedelta(days=1),
        generated_at=start + timedelta(days=1, seconds=12),
    )


def test_atom_feed_is_one_entry_per_digest_with_stable_ids() -> None:
    feed = ET.fromstring(render_atom(morning(), self_url=FEED_URL, alternate_url=PAGE))
    assert feed.findtext(f"{ATOM}id") == feed_id("iraq-militias")
    assert feed.find(f"{ATOM}link[@rel='self']").get("href") == FEED_URL  # type: ignore[union-attr]
    (entry,) = feed.findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}id") == digest_entry_id(morning())
    assert entry.findtext(f"{ATOM}title") == "iraq-militias — 2 stories — 2026-12-01"
    assert entry.find(f"{ATOM}link").get("href") == PAGE  # type: ignore[union-attr]
    assert "Rising: Kata'ib Hezbollah, Al Asad Air Base." in entry.findtext(f"{ATOM}summary", "")
    content = entry.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "html"
    assert "<mark>Kataib Hezbollah</mark>" in (content.text or "")
    assert digest_entry_id(morning()) == digest_entry_id(morning())


def test_atom_feed_accumulates_newest_first_and_replaces_a_rerendered_digest() -> None:
    feed = None
    for n in (0, 2, 1):  # out of order, as a resend of an older period would come
        feed = render_atom(_day(n), previous=feed)
    ids = [e.findtext(f"{ATOM}id") for e in _entries(feed or "")]
    assert ids == [digest_entry_id(_day(n)) for n in (2, 1, 0)]
    fewer = dataclasses.replace(_day(1), articles=morning().articles[:1], total_stories=1)
    again = render_atom(fewer, previous=feed)
    titles = [e.findtext(f"{ATOM}title") for e in _entries(again)]
    assert titles == [
        "iraq-militias — 2 stories — 2026-11-04",
        "iraq-militias — 1 story — 2026-11-03",
        "iraq-militias — 2 stories — 2026-11-02",
    ]
    assert ET.fromstring(again).findtext(f"{ATOM}updated") == "2026-11-04T04:00:12+00:00"


def test_atom_feed_keeps_the_last_entries_only() -> None:
    feed = None
    for n in range(FEED_ENTRIES + 5):
        feed = render_atom(_day(n), previous=feed)
    entries = _entries(feed or "")
    assert len(entries) == FEED_ENTRIES
    assert entries[-1].findtext(f"{ATOM}id") == digest_entry_id(_day(5))
    assert len(_entries(render_atom(_day(99), previous=feed, limit=3))) == 3


def test_atom_feed_survives_an_unreadable_previous_file(caplog: pytest.LogCaptureFixture) -> None:
    assert len(_entries(render_atom(morning(), previous="<feed><entry>"))) == 1
    assert len(_entries(render_atom(morning(), previous="<rss/>"))) == 1
    assert "starts afresh" in caplog.text


# --- a briefing, not a dump -------------------------------------------------------------


def test_every_matched_report_is_listed_with_outlet_time_and_link() -> None:
    rendered = render_digest(morning())
    text = rendered.text
    assert "3 reports from 3 outlets:" in text
    assert "- Reuters · 2026-12-01 01:05 · Rockets hit Iraqi base" in text
    assert "- Al-Monitor · 2026-12-01 04:30 · Asad base attacked" in text
    html = rendered.html
    for url in ("https://example.com/world/iraq-rockets", "https://example.net/originals/asad"):
        assert f'href="{url}"' in html
    # A story of one report gets no list repeating its headline.
    assert text.count("Parliament debates PMF budget") == 1


def test_reports_are_listed_in_the_order_they_appeared() -> None:
    first = morning().articles[0]
    early = dataclasses.replace(
        first.also_reported_by[0], published_at=datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
    )
    item = dataclasses.replace(first, also_reported_by=(early, *first.also_reported_by[1:]))
    text = render_digest(_with(morning(), item)).text
    assert text.index("- Reuters · 2026-11-30 23:00") < text.index("- Long War Journal")


def test_items_are_marked_new_or_update() -> None:
    rendered = render_digest(morning())
    assert "1. [NEW] Rockets hit Al Asad Air Base" in rendered.text
    assert "2. [UPDATE] Parliament debates PMF budget" in rendered.text
    assert "Update: 2 earlier reports in past digests" in rendered.text
    assert ">New</span>" in rendered.html and ">Update</span>" in rendered.html
    assert "## Update: [Parliament debates" in render_markdown(morning())
    assert [a["status"] for a in json.loads(render_json(morning()))["articles"]] == [
        "new",
        "update",
    ]


def test_each_item_says_which_part_of_the_query_it_matched() -> None:
    rendered = render_digest(morning())
    assert "Matched: type:armed_group (Kata'ib Hezbollah) · United States · US" in rendered.text
    assert "Matched: Iran" in rendered.text
    assert '<span class="term"' in rendered.html
    # The names behind an entity or type term are highlighted like the words.
    assert ">Kata'ib Hezbollah</mark>" in rendered.html
    assert ">Kataib Hezbollah</mark>" in rendered.html  # the title's spelling


def test_matched_words_are_shown_under_their_query_term() -> None:
    from monitor.models import MatchedPart

    item = dataclasses.replace(
        morning().articles[0],
        matched_on=(
            MatchedPart("type", "armed_group", ("A", "B", "C", "D", "E")),
            MatchedPart("word", "rocket*", ("rockets", "Rocket")),
            MatchedPart("word", "Iran", ("Iran",)),
        ),
    )
    text = render_digest(_with(morning(), item)).text
    assert "Matched: type:armed_group (A, B, C +2) · rocket* (rockets, Rocket) · Iran" in text


def test_chip_colours_have_a_legend_of_the_types_present() -> None:
    html = render_digest(morning()).html
    legend = html[html.index("Actor chips:") :].split("</p>", 1)[0]
    labels = re.findall(r">([a-z ]+)</span>", legend)
    assert labels == ["armed group", "person", "state body", "country", "place"]
    assert "Actor chips:" not in render_digest(empty()).html


def test_less_than_a_week_of_history_has_no_baseline_and_nothing_rising() -> None:
    young = tuple(dataclasses.replace(t, baseline=None, rising=False) for t in TRENDS)
    rendered = render_digest(dataclasses.replace(morning(), actor_trends=young))
    assert "no baseline yet" in rendered.text
    assert "No baseline yet" in rendered.html
    assert "▲" not in rendered.text and "▲" not in rendered.html
    assert "Baseline" not in rendered.html.split("<table", 1)[1].split("</table>", 1)[0]
    lines = rendered.text.splitlines()
    head = lines.index(next(line for line in lines if line.startswith("Actors published")))
    assert lines[head + 1].split() == ["Actor", "Articles"]
    assert lines[head + 2].split() == ["Kata'ib", "Hezbollah", "3"]
    assert "No baseline yet" in render_markdown(dataclasses.replace(morning(), actor_trends=young))


def test_an_alert_reads_as_an_alert() -> None:
    rendered = render_digest(alert())
    text = rendered.text
    assert text.startswith("ALERT: iraq-militias\n")
    assert "MONITOR DIGEST" not in text and "Monitor digest" not in rendered.html
    assert "Alert query: entity:kataib-hezbollah AND (rocket* OR drone*)" in text
    assert "Triggered by 2 reports in 1 story" in text
    assert "Matched: entity:kataib-hezbollah (Kata'ib Hezbollah) · Rockets" in text
    assert ">Alert</div>" in rendered.html
    assert render_markdown(alert()).startswith("# ALERT: iraq-militias")


@pytest.mark.parametrize(
    ("start", "end", "shown"),
    [
        ((2026, 11, 30, 4, 0), (2026, 12, 1, 4, 0), "2026-11-30 07:00 – 2026-12-01 07:00"),
        ((2026, 12, 1, 3, 0), (2026, 12, 1, 4, 0), "2026-12-01 06:00 – 07:00"),
        ((2026, 12, 1, 13, 43, 5), (2026, 12, 1, 13, 43, 50), "2026-12-01 16:43:05 – 16:43:50"),
        ((2026, 12, 1, 13, 43, 5), (2026, 12, 1, 13, 43, 5), "at 2026-12-01 16:43:05"),
    ],
)
def test_a_period_is_shown_as_a_period(
    start: tuple[int, ...], end: tuple[int, ...], shown: str
) -> None:
    content = dataclasses.replace(
        morning(),
        period_start=datetime(*start, tzinfo=UTC),  # type: ignore[misc]
        period_end=datetime(*end, tzinfo=UTC),  # type: ignore[misc]
    )
    text = render_digest(content).text
    assert f"\n{shown} (Asia/Baghdad)\n" in text


def test_an_undelivered_digest_is_named_with_the_way_to_resend_it() -> None:
    rendered = render_digest(empty())
    assert (
        "NOT DELIVERED: the digest for 2026-11-29 07:00 – 2026-11-30 07:00 failed "
        "(SMTP 127.0.0.1:25: message refused: 552 5.3.4 message too big)." in rendered.text
    )
    assert "monitor digest us-iran --resend" in rendered.text
    assert 'class="undelivered"' in rendered.html
    assert "Not delivered" in render_markdown(empty())


def test_counts_are_stories_and_reports_with_the_cut_said() -> None:
    cut = dataclasses.replace(morning(), total_stories=130, total_reports=260)
    text = render_digest(cut).text
    assert "130 stories · 260 reports from 4 outlets (the first 2 shown)" in text
    assert digest_subject(cut).endswith("— 130 stories — 2026-12-01")
