"""extract(): page fixtures in tests/fixtures/pages/ (`name.html` + `name.expected.json`).

Expectation keys: `url`, `fallback_html`, `min_chars`, exact `method`, `title`,
`canonical_url`, `published_at` (ISO or null), `author`, `language`, `site_name`, and
`text_contains` / `text_excludes` (substrings).
"""

from __future__ import annotations

import json
import pickle
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trafilatura

from monitor.errors import ExtractError
from monitor.models import ExtractedText
from monitor.pipeline import extract as extract_module
from monitor.pipeline.extract import extract, html_to_text

PAGES = Path(__file__).parent / "fixtures" / "pages"
DOCUMENTS = sorted(PAGES.glob("*.html"))
NOW = datetime(2024, 6, 1, tzinfo=UTC)
EXACT = ("method", "title", "canonical_url", "author", "language", "site_name")
LONG = " ".join(["The delegation met officials in the capital to discuss the withdrawal."] * 6)


def run_fixture(document: Path) -> tuple[ExtractedText, dict[str, Any]]:
    expected: dict[str, Any] = json.loads(document.with_suffix(".expected.json").read_text())
    result = extract(
        document.read_text(encoding="utf-8"),
        url=expected["url"],
        fallback_html=expected.get("fallback_html", ""),
        min_chars=expected.get("min_chars", 200),
        now=NOW,
    )
    return result, expected


@pytest.mark.parametrize("document", DOCUMENTS, ids=[d.name for d in DOCUMENTS])
def test_page_fixture(document: Path) -> None:
    result, expected = run_fixture(document)
    for key in EXACT:
        if key in expected:
            assert getattr(result, key) == expected[key], key
    if "published_at" in expected:
        got = result.published_at.isoformat() if result.published_at else None
        assert got == expected["published_at"]
    for fragment in expected.get("text_contains", []):
        assert fragment in result.text
    for fragment in expected.get("text_excludes", []):
        assert fragment not in result.text, fragment


def test_fixtures_exist() -> None:
    assert len(DOCUMENTS) >= 2


def test_output_does_not_depend_on_what_was_extracted_before() -> None:
    page = (PAGES / "news_article.html").read_text()
    first = extract(page, url="https://gulfledger.example/a", now=NOW)
    for _ in range(3):
        extract(page, url="https://gulfledger.example/b", now=NOW)
    assert extract(page, url="https://gulfledger.example/a", now=NOW) == first


def test_function_and_result_survive_pickling_for_a_process_pool() -> None:
    result = extract("<html><body><p>" + LONG + "</p></body></html>", url="https://x.example/1")
    assert pickle.loads(pickle.dumps(result)) == result
    assert pickle.loads(pickle.dumps(extract)) is extract
    error = ExtractError("https://x.example/: no text")
    assert str(pickle.loads(pickle.dumps(error))) == str(error)


def test_nothing_anywhere_is_an_extract_error() -> None:
    with pytest.raises(ExtractError, match=re.escape("https://x.example/empty")):
        extract("", url="https://x.example/empty", fallback_html="")
    with pytest.raises(ExtractError):
        extract("<html><body><script>x()</script></body></html>", url="https://x.example/s")


def test_short_text_everywhere_keeps_the_longest() -> None:
    brief = "<html><body><article><p>Explosion reported in Basra port.</p></article></body></html>"
    result = extract(brief, url="https://x.example/brief", fallback_html="<p>Blast.</p>")
    assert result.text == "Explosion reported in Basra port."
    assert result.method in ("trafilatura", "trafilatura-recall")


def test_fallback_only() -> None:
    result = extract("", url="https://x.example/f", fallback_html=f"<p>{LONG}</p>")
    assert result.method == "feed" and result.text == LONG


def test_recall_is_tried_when_the_default_is_too_short(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    real = trafilatura.bare_extraction

    def fake(html: str, **kwargs: Any) -> Any:
        calls.append(kwargs)
        document: Any = real(html, **kwargs)
        if not kwargs.get("favor_recall"):
            document.text = "Too short."
        return document

    monkeypatch.setattr(trafilatura, "bare_extraction", fake)
    page = f"<html><body><article><p>{LONG}</p></article></body></html>"
    result = extract(page, url="https://x.example/r", fallback_html="<p>feed text</p>")
    assert result.method == "trafilatura-recall"
    assert [c.get("favor_recall", False) for c in calls] == [False, True]
    assert all(c["deduplicate"] is False and c["with_metadata"] is True for c in calls)


def test_trafilatura_crash_falls_back_to_feed(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(html: str, **kwargs: Any) -> Any:
        raise ValueError("lxml said no")

    monkeypatch.setattr(trafilatura, "bare_extraction", crash)
    result = extract("<p>x</p>", url="https://x.example/c", fallback_html=f"<p>{LONG}</p>")
    assert result.method == "feed"


def page_with_head(head: str, url: str = "https://site.example/news/2024/story") -> ExtractedText:
    html = f"<html{head.split('|', 1)[0]}><head>{head.split('|', 1)[-1]}</head>"
    return extract(html + f"<body><article><p>{LONG}</p></article></body></html>", url=url, now=NOW)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (
            '|<link rel="canonical" href="https://site.example/news/story">',
            "https://site.example/news/story",
        ),
        ('|<link rel="canonical" href="/news/story?id=1">', "https://site.example/news/story?id=1"),
        (
            '|<link rel="Canonical nofollow" href="story-2">',
            "https://site.example/news/2024/story-2",
        ),
        ('|<link rel="canonical" href="https://site.example/">', None),  # home page: a template bug
        ('|<link rel="canonical" href="javascript:alert(1)">', None),
        ('|<link rel="canonical" href="">', None),
        ("|", None),
    ],
)
def test_canonical_url(head: str, expected: str | None) -> None:
    assert page_with_head(head).canonical_url == expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (
            '|<meta property="article:published_time" content="2024-05-02T06:40:00+03:00">',
            "2024-05-02T03:40:00+00:00",
        ),
        ('|<meta name="pubdate" content="2024-05-02T06:40:00+0300">', "2024-05-02T03:40:00+00:00"),
        (
            '|<meta itemprop="datePublished" content="2024-05-02T06:40:00Z">',
            "2024-05-02T06:40:00+00:00",
        ),
        ('|<meta name="date" content="2024-05-02 06:40">', "2024-05-02T06:40:00+00:00"),
        (
            '|<script type="application/ld+json">{"@graph": [{"@type": "WebPage"}, '
            '{"@type": "NewsArticle", "datePublished": "2024-05-01T10:00:00-04:00"}]}</script>',
            "2024-05-01T14:00:00+00:00",
        ),
        ('|<script type="application/ld+json">{not json</script>', None),
        ('|<meta property="article:published_time" content="2031-01-01T00:00:00Z">', None),
        ('|<meta property="article:published_time" content="1970-01-01T00:00:00Z">', None),
        ('|<meta property="article:published_time" content="yesterday">', None),
    ],
)
def test_published_at(head: str, expected: str | None) -> None:
    got = page_with_head(head).published_at
    assert (got.isoformat() if got else None) == expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (' lang="en-US"|', "en"),
        (' lang="AR"|', "ar"),
        (' lang="fa_IR"|', "fa"),
        ('|<meta property="og:locale" content="fr_FR">', "fr"),
        (' lang="x"|', None),
    ],
)
def test_language(head: str, expected: str | None) -> None:
    assert page_with_head(head).language == expected


def test_title_is_one_line() -> None:
    result = page_with_head("|<title>Line one\r\nline two</title>")
    assert result.title == "Line one line two"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("", ""),
        ("plain text", "plain text"),
        (
            "<p>A drone\n struck  a <b>base</b>.</p><p>Second</p>",
            "A drone struck a base.\n\nSecond",
        ),
        ("<ul><li>one</li><li>two</li></ul>", "one\n\ntwo"),
        ("<p>x</p><script>alert(1)</script><style>p{}</style>", "x"),
        ("a &amp; b &lt;c&gt;", "a & b <c>"),
        ("<p>nul\x00byte</p>", "nulbyte"),
        ("<div><p></p>\n\n<p>  </p></div>", ""),
        ("قال المتحدث <b>اليوم</b>", "قال المتحدث اليوم"),
    ],
)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_module_has_no_mutable_globals_shared_between_calls() -> None:
    # Guard for the process-pool contract: nothing module-level collects per-call state.
    for name, value in vars(extract_module).items():
        if not name.startswith("__"):
            assert not isinstance(value, list | dict | set), name


@pytest.mark.parametrize(
    "prefix",
    ['<meta charset="windows-1256">', '<?xml version="1.0" encoding="iso-8859-1"?>', ""],
)
def test_decoded_text_is_not_re_decoded_by_a_charset_declaration(prefix: str) -> None:
    body = " ".join(["قال المتحدث باسم الحكومة إن المحادثات ستستمر في الأسابيع المقبلة."] * 5)
    html = (
        f"{prefix}<html lang='ar'><head><title>عنوان الخبر</title>"
        f"<meta property='og:site_name' content='موقع'></head>"
        f"<body><article><p>{body}</p></article></body></html>"
    )
    result = extract(html, url="https://x.example/a/b", min_chars=50, now=NOW)
    assert (result.title, result.site_name) == ("عنوان الخبر", "موقع")
    assert result.text.startswith("قال المتحدث")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://news.example/2023/11/30/militia-strike/", datetime(2023, 11, 30, tzinfo=UTC)),
        ("https://news.example/world/2024/5/3/story.html", datetime(2024, 5, 3, tzinfo=UTC)),
        ("https://news.example/2024-05-03-iraq-vote", datetime(2024, 5, 3, tzinfo=UTC)),
        ("https://news.example/archive/20240503/iraq.html", datetime(2024, 5, 3, tzinfo=UTC)),
        ("https://news.example/2024/02/30/impossible", None),  # no such day
        ("https://news.example/2024/13/01/x", None),
        ("https://news.example/1970/01/01/placeholder", None),  # outside the sane window
        ("https://news.example/2031/01/01/future", None),
        ("https://news.example/story/123456789", None),
        ("https://news.example/iraq?date=2024/05/03", None),  # the path only, not the query
        ("https://news.example/world/2024/story", None),  # a year alone is not a day
        ("http://[bad", None),
    ],
)
def test_date_from_url(url: str, expected: datetime | None) -> None:
    assert extract_module.date_from_url(url, now=NOW) == expected


FEED_DATE = datetime(2024, 5, 3, 9, 30, tzinfo=UTC)
PAGE_DATE = datetime(2024, 5, 3, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("feed", "page", "url", "expected"),
    [
        (FEED_DATE, PAGE_DATE, "https://x.example/2024/05/01/a", (FEED_DATE, "feed")),
        (None, PAGE_DATE, "https://x.example/2024/05/01/a", (PAGE_DATE, "page")),
        (None, None, "https://x.example/2024/05/01/a", (datetime(2024, 5, 1, tzinfo=UTC), "url")),
        (None, None, "https://x.example/a", (None, None)),
    ],
)
def test_choose_published_trusts_feed_then_page_then_url(
    feed: datetime | None, page: datetime | None, url: str, expected: tuple[object, object]
) -> None:
    assert extract_module.choose_published(feed, page, url, now=NOW) == expected
