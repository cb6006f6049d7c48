"""parse_feed(): every fixture in tests/fixtures/feeds/ carries its own expectation file.

`name.ext` is parsed with `name.expected.json` beside it. Expectation keys: `url` (the feed
URL, default https://example.org/feed), `headers`, `now` (ISO), then either `error` (a
substring of the FeedError) or `title`, `ttl_minutes`, `warning` (exact, null = none) /
`warning_contains` (substrings), and `entries`: a list with, per entry, any of `url`, `guid`,
`title`, `published_at` (ISO or null), `author`, `summary`, `content_html` (exact), and
`summary_contains` / `content_contains` / `content_excludes` (substrings); `stored` lists the
URLs that storing the entries keeps (default: every entry's; see
tests/test_ingest.py::test_every_recoverable_fixture_entry_is_stored).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest

from monitor.errors import FeedError
from monitor.models import FeedEntry, ParsedFeed
from monitor.pipeline.feeds import absolute_http_url, parse_feed

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
DOCUMENTS = sorted(p for p in FIXTURES.iterdir() if not p.name.endswith(".expected.json"))
NOW = datetime(2024, 6, 1, tzinfo=UTC)
EXACT = ("url", "guid", "title", "author", "summary", "content_html")


def expectation(document: Path) -> dict[str, Any]:
    stem = document.name.rsplit(".", 1)[0]
    result: dict[str, Any] = json.loads((FIXTURES / f"{stem}.expected.json").read_text())
    return result


def parse_fixture(document: Path, expected: dict[str, Any]) -> ParsedFeed:
    now = datetime.fromisoformat(expected["now"]) if "now" in expected else NOW
    return parse_feed(
        document.read_bytes(),
        url=expected.get("url", "https://example.org/feed"),
        headers=expected.get("headers", {"content-type": "application/rss+xml"}),
        now=now,
    )


def check_entry(entry: FeedEntry, want: dict[str, Any]) -> None:
    for key in EXACT:
        if key in want:
            assert getattr(entry, key) == want[key], key
    if "published_at" in want:
        got = entry.published_at.isoformat() if entry.published_at else None
        assert got == want["published_at"]
        assert entry.published_at is None or entry.published_at.tzinfo == UTC
    for key, attr in (("summary_contains", "summary"), ("content_contains", "content_html")):
        if key in want:
            assert want[key] in getattr(entry, attr), key
    if "content_excludes" in want:
        assert want["content_excludes"] not in entry.content_html


def test_every_fixture_has_an_expectation() -> None:
    assert len(DOCUMENTS) >= 10
    for document in DOCUMENTS:
        expectation(document)


@pytest.mark.parametrize("document", DOCUMENTS, ids=[d.name for d in DOCUMENTS])
def test_fixture(document: Path) -> None:
    expected = expectation(document)
    if "error" in expected:
        with pytest.raises(FeedError, match=re.escape(expected["error"])) as info:
            parse_fixture(document, expected)
        assert expected.get("url", "https://example.org/feed") in str(info.value)
        return
    feed = parse_fixture(document, expected)
    assert feed.title == expected["title"]
    if "ttl_minutes" in expected:
        assert feed.ttl_minutes == expected["ttl_minutes"]
    if "warning" in expected:
        assert feed.warning == expected["warning"]
    for fragment in expected.get("warning_contains", []):
        assert feed.warning is not None and fragment in feed.warning
    assert len(feed.entries) == len(expected["entries"])
    for entry, want in zip(feed.entries, expected["entries"], strict=True):
        check_entry(entry, want)
        assert "\n" not in entry.title and "\r" not in entry.title
        assert entry.url.startswith(("http://", "https://"))


# --- beyond the fixtures -----------------------------------------------------------------------


def test_bytes_that_look_like_a_path_are_never_opened(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_bytes(b'<rss version="2.0"><channel><title>LEAK</title></channel></rss>')
    with pytest.raises(FeedError, match="not a"):
        parse_feed(str(secret).encode(), url="https://x.example/feed", headers={})


@pytest.mark.parametrize("body", [b"", b"   ", b"\x00\x01\x02garbage", b"<html><p>hi</p></html>"])
def test_nothing_usable_is_a_feed_error(body: bytes) -> None:
    with pytest.raises(FeedError):
        parse_feed(body, url="https://x.example/feed", headers={})


def test_feedparser_crash_becomes_feed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("internal confusion")

    monkeypatch.setattr(feedparser, "parse", crash)
    with pytest.raises(FeedError, match=r"feed parser crashed .*internal confusion"):
        parse_feed(b"<rss/>", url="https://x.example/feed", headers={})


def test_http_charset_is_used_for_undeclared_bytes() -> None:
    body = '<rss version="2.0"><channel><title>Ünïcode</title></channel></rss>'.encode("cp1252")
    feed = parse_feed(
        body,
        url="https://x.example/feed",
        headers={"Content-Type": "text/xml; charset=windows-1252"},
    )
    assert feed.title == "Ünïcode"


def test_default_now_is_the_wall_clock() -> None:
    body = (
        b'<rss version="2.0"><channel><title>t</title><item><link>https://x.example/1</link>'
        b"<pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate></item></channel></rss>"
    )
    (entry,) = parse_feed(body, url="https://x.example/feed", headers={}).entries
    assert entry.published_at == datetime(2024, 1, 1, tzinfo=UTC)


def test_json_feed_detected_by_body_even_with_xml_content_type() -> None:
    body = json.dumps(
        {"version": "https://jsonfeed.org/version/1", "items": [{"url": "https://x.example/1"}]}
    ).encode()
    feed = parse_feed(body, url="https://x.example/feed", headers={"content-type": "text/xml"})
    assert [e.url for e in feed.entries] == ["https://x.example/1"]
    assert feed.title == "" and feed.warning is None


def test_json_feed_without_version_is_read_with_a_warning() -> None:
    body = b'{"title": "t", "items": [{"url": "https://x.example/1", "title": "one"}]}'
    feed = parse_feed(body, url="https://x.example/feed", headers={})
    assert feed.entries[0].title == "one"
    assert feed.warning is not None and "jsonfeed.org version" in feed.warning


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://a.example/x", "https://a.example/x"),
        ("HTTP://A.example/x", "HTTP://A.example/x"),
        ("/x?y=1#z", "https://base.example/x?y=1#z"),
        ("x", "https://base.example/dir/x"),
        ("//other.example/x", "https://other.example/x"),
        (" https://a.example/\n x ", "https://a.example/x"),
        ("javascript:alert(1)", None),
        (" JavaScript:alert(1)", None),
        ("java\nscript:alert(1)", None),
        ("data:text/html,hi", None),
        ("file:///etc/passwd", None),
        ("mailto:a@b.example", None),
        ("ftp://a.example/x", None),
        ("http://", None),
        ("http://a.example:99999999/", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_absolute_http_url(link: object, expected: str | None) -> None:
    assert absolute_http_url(link, "https://base.example/dir/feed.xml") == expected


@pytest.mark.parametrize(
    "content_type", ["text/html; charset=utf-8", "text/plain", "application/xml; charset=latin-1"]
)
def test_harmless_bozo_reasons_give_no_warning(content_type: str) -> None:
    body = (FIXTURES / "rss20.xml").read_bytes()
    feed = parse_feed(body, url="https://x.example/feed", headers={"content-type": content_type})
    assert len(feed.entries) == 2 and feed.warning is None
