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
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from monitor.delivery.render import (
    SUBJECT_MAX,
    default_templates_dir,
    digest_subject,
    highlight_html,
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
from monitor.models import DigestContent
from tests.golden.samples import EVIL_URL, empty, hostile, morning

GOLDEN = Path(__file__).parent / "golden"


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
    ("morning.atom", lambda: render_atom(morning())),
    ("empty.txt", lambda: render_digest(empty()).text),
    ("empty.html", lambda: render_digest(empty()).html),
]


@pytest.mark.parametrize(("name", "make"), GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_golden(name: str, make: Callable[[], str]) -> None:
    assert_golden(name, make())


# --- subject --------------------------------------------------------------------------


def test_subject_names_watchlist_count_and_local_day() -> None:
    assert render_digest(morning()).subject == "[monitor] iraq-militias — 2 articles — 2026-12-01"


def test_subject_day_is_in_the_digest_time_zone() -> None:
    # 22:30 UTC on the 30th is already 1 December in Baghdad (UTC+3).
    late = dataclasses.replace(morning(), period_end=datetime(2026, 11, 30, 22, 30, tzinfo=UTC))
    assert digest_subject(late).endswith("— 2026-12-01")
    utc = dataclasses.replace(late, timezone="UTC")
    assert digest_subject(utc).endswith("— 2026-11-30")


def test_subject_singular_and_nothing_new() -> None:
    one = dataclasses.replace(morning(), articles=morning().articles[:1])
    assert "— 1 article —" in digest_subject(one)
    assert digest_subject(empty()) == "[monitor] us-iran — nothing new — 2026-12-01"


def test_subject_is_one_bounded_line() -> None:
    long = dataclasses.replace(morning(), watchlist="x\r\n" * 200 + "Bcc: a@b.org")
    subject = digest_subject(long)
    assert "\r" not in subject and "\n" not in subject
    assert len(subject) <= SUBJECT_MAX
    assert subject.endswith("— 2 articles — 2026-12-01")


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
    assert "Also reported by 2 outlets" in html
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
    "mark", "strong", "code", "ul", "li",
}  # fmt: skip
ALLOWED_ATTRS = {"lang", "charset", "name", "content", "class", "style", "href", "title"}


def test_hostile_html_has_no_markup_of_its_own() -> None:
    html = render_digest(hostile()).html
    parsed = _Collector()
    parsed.feed(html)
    assert set(parsed.tags) <= ALLOWED_TAGS
    assert {name for name, _ in parsed.attrs} <= ALLOWED_ATTRS
    hrefs = [value or "" for name, value in parsed.attrs if name == "href"]
    assert hrefs == ['https://example.com/a?x=1&y="2"']
    classes = " ".join(v or "" for n, v in parsed.attrs if n == "class")
    assert "onclick" not in classes.replace("chip-armed_grouponclickx", "")
    # The hostile text is still there, as text, for the analyst to see.
    text = "".join(parsed.data)
    assert '<script>alert("t")</script>' in text
    assert '<img src=x onerror="alert(1)">' in text


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
    root = ET.fromstring(render_atom(hostile()))
    links = [el.get("href") for el in root.iter("{http://www.w3.org/2005/Atom}link")]
    assert links == []
    titles = [el.text for el in root.iter("{http://www.w3.org/2005/Atom}title")]
    assert any(t and t.startswith('<script>alert("t")') for t in titles)


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
    )
    content = dataclasses.replace(morning(), articles=(article,))
    rendered = render_digest(content)
    assert rendered.text.count("denies role") == 1
    assert "Three rockets struck near the base." in rendered.text
    assert render_markdown(content).count("denies role") == 1
    assert json.loads(render_json(content))["articles"][0]["snippet"] == article.snippet
