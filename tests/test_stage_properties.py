"""Stages that take outside input never crash on it and hand on only storable values.

Hypothesis properties for the feed stage, extraction, dedup keys; loopback redirects for fetch.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.errors import ExtractError, FeedError, FetchError
from monitor.models import DedupParams, FetchPolicy, LinkSubject, ParsedFeed
from monitor.pipeline import dedup, linking
from monitor.pipeline.bounds import (
    MAX_GUID_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    clean_text,
    url_problem,
)
from monitor.pipeline.extract import date_from_url, extract, html_to_text
from monitor.pipeline.feeds import EARLIEST_DATE, FUTURE_SLACK, absolute_http_url, parse_feed
from monitor.pipeline.fetch import fetch, host_key
from tests.loopback import LoopbackServer, Reply

NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
FEED_URL = "https://example.org/feed"
PAGE_URL = "https://example.org/news/2026/11/30/story"
XML_HEADERS = {"Content-Type": "application/rss+xml; charset=utf-8"}
FAST = settings(max_examples=400, deadline=None)
# Large generated documents are the point here, not a sign of a slow strategy.
BIG = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- what outside input looks like --------------------------------------------------------

LONG_LINK = "https://example.org/" + "a" * 5000
HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "a\x0bb",
    "\x1b[31mred",
    "\x7f",
    "\ud800",
    "a\udfffb",
    "\u2028\u2029",
    "\ufeff",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "mailto:a@b",
    "data:text/html,x",
    "about:blank",
    "tel:1",
    "http://[broken",
    "http://[::1",
    "https://[::1]:99999/x",
    "http://example.org:port/x",
    "http://",
    "//example.org/protocol-relative",
    "/relative/path",
    "http://exa mple.org/a b",
    "https://example.org/a\x00b",
    "https://example.org/\ud800",
    "https://example.org/" + "é" * 1500,  # 1,520 characters; 9,020 once percent-encoded
    LONG_LINK,
    "t" * 1500,  # over MAX_TITLE_CHARS
    "<b>bold</b> &amp; &#0; &#xD800; &#x1F;",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "9999-12-31T23:59:59-12:00",
    "Fri, 31 Dec 9999 23:59:59 -1200",
    "0000-00-00T00:00:00Z",
    "2026-11-30T10:00:00Z",
    "Mon, 30 Nov 2026 10:00:00 GMT",
]
SCRIPTS = st.sampled_from(["javascript:", "mailto:", "data:text/html,", "about:", "tel:"])
field_text = st.one_of(
    st.text(max_size=40),  # any code point, lone surrogates included
    st.text(st.characters(max_codepoint=0x9F), max_size=40),  # the controls, often
    st.sampled_from(HOSTILE),
    st.builds(lambda scheme, rest: scheme + rest, SCRIPTS, st.text(max_size=20)),
    st.builds(lambda rest: "http://[" + rest, st.text(max_size=20)),
    st.builds(lambda rest: "https://example.org/" + rest, st.text(max_size=60)),
)

short_text = field_text.filter(lambda v: len(v) <= 200)


def _charrefs(value: str) -> str:
    # Every character outside printable ASCII as a numeric reference: &#0; and &#xD800; too.
    out = []
    for char in value:
        if char in "&<>\"'" or not " " <= char <= "~":
            out.append(f"&#x{ord(char):X};")
        else:
            out.append(char)
    return "".join(out)


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


ENCODERS: dict[str, Callable[[str], str]] = {
    "escaped": lambda v: escape(v, quote=True),
    "charrefs": _charrefs,
    "cdata": _cdata,
    "raw": lambda v: v,
}
encoder = st.sampled_from(sorted(ENCODERS))


@st.composite
def feed_documents(draw: st.DrawFn) -> bytes:
    """An RSS 2.0 or Atom document of 1–3 entries whose every field is `field_text`."""
    atom = draw(st.booleans())
    entries = []
    for _ in range(draw(st.integers(1, 3))):
        f = {k: draw(field_text) for k in ("title", "link", "guid", "date", "desc", "body")}
        f["by"] = draw(short_text)  # a long author is slow: see test_a_long_author_...
        enc = ENCODERS[draw(encoder)]
        attr = ENCODERS["charrefs" if draw(st.booleans()) else "escaped"]
        if atom:
            entries.append(
                f"<entry><title type='html'>{enc(f['title'])}</title>"
                f"<link rel='alternate' href='{attr(f['link'])}'/><id>{enc(f['guid'])}</id>"
                f"<updated>{enc(f['date'])}</updated><published>{enc(f['date'])}</published>"
                f"<summary type='html'>{enc(f['desc'])}</summary>"
                f"<content type='html'>{enc(f['body'])}</content>"
                f"<author><name>{enc(f['by'])}</name></author></entry>"
            )
        else:
            permalink = draw(st.sampled_from(["true", "false", ""]))
            entries.append(
                f"<item><title>{enc(f['title'])}</title><link>{enc(f['link'])}</link>"
                f"<guid isPermaLink='{permalink}'>{enc(f['guid'])}</guid>"
                f"<pubDate>{enc(f['date'])}</pubDate><description>{enc(f['desc'])}</description>"
                f"<content:encoded>{enc(f['body'])}</content:encoded>"
                f"<author>{enc(f['by'])}</author></item>"
            )
    title = ENCODERS[draw(encoder)](draw(field_text))
    if atom:
        doc = (
            "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
            f"<title>{title}</title>{''.join(entries)}</feed>"
        )
    else:
        doc = (
            "<?xml version='1.0' encoding='utf-8'?><rss version='2.0' "
            "xmlns:content='http://purl.org/rss/1.0/modules/content/'><channel>"
            f"<title>{title}</title><link>https://example.org/</link>{''.join(entries)}"
            "</channel></rss>"
        )
    # A lone surrogate is not encodable as UTF-8; written as its three bytes all the same.
    return doc.encode("utf-8", errors="surrogatepass")


@st.composite
def json_feed_documents(draw: st.DrawFn) -> bytes:
    """A JSON Feed; JSON can carry NUL and lone surrogates as \\u escapes."""
    keys = ["id", "url", "external_url", "title", "summary", "content_html", "content_text"]
    items = []
    for _ in range(draw(st.integers(1, 3))):
        item: dict[str, Any] = {k: draw(field_text) for k in keys}
        item["date_published"] = draw(field_text)
        item["authors"] = [{"name": draw(short_text)}]
        items.append(item)
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": draw(field_text)}
    doc["items"] = items
    return json.dumps(doc).encode()


FEED_PREFIXES = [
    b"",
    b"<?xml version='1.0'?><rss version='2.0'><channel><item><link>",
    b"<rss version='2.0'><channel><item><guid isPermaLink='true'>http://[",
    b"<feed xmlns='http://www.w3.org/2005/Atom'><entry><link href='",
    b"<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><item><title>",
    b'{"items":[{"url":"https://example.org/',
    b"\xef\xbb\xbf{",
    b"\xff\xfe<\x00r\x00s\x00s\x00",
    b"<!DOCTYPE rss [<!ENTITY e 'x'>]><rss>",
]
any_feed_bytes = st.one_of(
    st.binary(max_size=600),
    st.builds(lambda p, b: p + b, st.sampled_from(FEED_PREFIXES), st.binary(max_size=600)),
)


# --- what storable means -----------------------------------------------------------------


def _clean(name: str, value: str | None) -> None:
    if value is not None:
        assert isinstance(value, str), f"{name} is {type(value).__name__}"
        assert clean_text(value) == value, f"{name} has unstorable characters: {value[:200]!r}"


def assert_storable(feed: ParsedFeed) -> None:
    """Every entry fits every database: no NUL, control character or lone surrogate in any
    string, the link an http(s) URL of at most MAX_URL_CHARS, title and GUID bounded."""
    _clean("feed title", feed.title)
    for entry in feed.entries:
        for name in ("url", "guid", "title", "summary", "content_html", "author"):
            _clean(f"entry {name}", getattr(entry, name))
        assert url_problem(entry.url) is None, f"{url_problem(entry.url)}: {entry.url[:200]!r}"
        parts = urlsplit(entry.url)
        assert parts.scheme in ("http", "https") and parts.hostname, entry.url[:200]
        assert len(entry.title) <= MAX_TITLE_CHARS, f"title of {len(entry.title):,} characters"
        assert "\n" not in entry.title
        if entry.guid is not None:
            assert 0 < len(entry.guid) <= MAX_GUID_CHARS, f"guid of {len(entry.guid):,} chars"
        if entry.published_at is not None:
            assert entry.published_at.tzinfo is not None
            assert EARLIEST_DATE <= entry.published_at <= NOW + FUTURE_SLACK


def parse_or_feed_error(body: bytes, headers: dict[str, str] = XML_HEADERS) -> ParsedFeed | None:
    try:
        feed = parse_feed(body, url=FEED_URL, headers=headers, now=NOW)
    except FeedError:
        return None
    assert isinstance(feed, ParsedFeed)
    return feed


def rss_item(**fields: str) -> bytes:
    item = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>t</title>"
        f"<item>{item}</item><item><link>https://example.org/good</link></item></channel></rss>"
    ).encode()


def assert_keys_fit(feed: ParsedFeed) -> None:
    """What the poll stores beside each entry: `canonical_url` is VARCHAR(MAX_URL_CHARS), and
    the poll stores `storable_canonical_url` (an entry with none would be left out)."""
    for entry in feed.entries:
        canonical = dedup.storable_canonical_url(entry.url)
        assert canonical is not None  # the feed stage let only links that fit through
        assert len(canonical) <= MAX_URL_CHARS, f"canonical URL of {len(canonical):,} chars"
        _clean("canonical URL", canonical)
        key = dedup.guid_key(entry.guid)
        _clean("guid key", key)


# --- the feed stage ----------------------------------------------------------------------


@FAST
@given(any_feed_bytes)
def test_any_bytes_give_a_feed_or_a_feed_error(body: bytes) -> None:
    feed = parse_or_feed_error(body)
    if feed is not None:
        assert_storable(feed)


@BIG
@given(feed_documents())
def test_every_entry_of_a_generated_rss_or_atom_feed_is_storable(body: bytes) -> None:
    feed = parse_or_feed_error(body)
    if feed is not None:
        assert_storable(feed)


def json_feed(**item: str) -> bytes:
    good = {"url": "https://example.org/good"}
    return json.dumps({"items": [{"url": "https://example.org/a", **item}, good]}).encode()


@BIG
@given(json_feed_documents())
@example(json_feed(date_published="9999-12-31T23:59:59-12:00"))
def test_every_entry_of_a_generated_json_feed_is_storable(body: bytes) -> None:
    feed = parse_or_feed_error(body, {"Content-Type": "application/feed+json"})
    if feed is not None:
        assert_storable(feed)


@settings(BIG, max_examples=150)
@given(st.one_of(feed_documents(), json_feed_documents()))
@example(rss_item(link="https://example.org/" + "é" * 1500))
def test_the_keys_of_every_parsed_entry_fit_their_columns(body: bytes) -> None:
    feed = parse_or_feed_error(body, {})
    if feed is not None:
        assert_keys_fit(feed)


@pytest.mark.parametrize(
    "fields",
    [
        {"link": "https://example.org/a", "guid": "http://[broken"},
        {"link": "https://example.org/a", "guid": "a&#0;b-guid-with-a-nul"},
        {"link": "https://example.org/a", "guid": "g" * (MAX_GUID_CHARS + 1)},
        {"link": LONG_LINK},
        {"link": "https://example.org/" + "é" * 1500},
        {"link": "javascript:alert(1)"},
        {"link": "https://example.org/a", "title": "t" * 100_000},
        {"link": "https://example.org/a", "title": "a&#x1F;b&#xD800;c"},
        {"link": "https://example.org/a", "description": "a&#0;b&#x0B;c"},
        {"link": "https://example.org/a", "author": "a&#0;b"},
    ],
    ids=lambda f: ",".join(f"{k}={v[:24]!r}" for k, v in f.items()),
)
def test_known_poison_entries_are_stored_bounded_or_dropped(fields: dict[str, str]) -> None:
    # `escape` writes "&" as "&amp;": the references above are meant as references.
    feed = parse_or_feed_error(rss_item(**fields).replace(b"&amp;#", b"&#"))
    if feed is not None:
        assert_storable(feed)
        assert_keys_fit(feed)


@pytest.mark.parametrize(
    "body",
    [
        rss_item(link="https://example.org/a", guid="http://[broken"),
        rss_item(link="https://example.org/a", title="t&#0;"),
        rss_item(link="https://example.org/a", title="a&#xD800;c"),
        rss_item(link="https://example.org/a", description="a&#xDFFF;c"),
        json_feed(date_published="9999-12-31T23:59:59-12:00"),
        json_feed(id="a\x00b", title="\ud800"),
    ],
    ids=[
        "guid-broken-ipv6",
        "nul-ref",
        "surrogate-ref-title",
        "surrogate-ref-desc",
        "json-9999",
        "json-nul-surrogate",
    ],
)
def test_one_poisoned_entry_does_not_lose_the_feed(body: bytes) -> None:
    feed = parse_or_feed_error(body.replace(b"&amp;#", b"&#"), {})
    assert feed is not None, "the whole feed is refused for one poisoned entry"
    assert "https://example.org/good" in [e.url for e in feed.entries]
    assert_storable(feed)


def test_a_long_author_takes_linear_time_not_quadratic() -> None:
    # feedparser looks for an e-mail address in an author with a regex that is quadratic in
    # its length when there is no "@" (20,000 characters: 2.8 s of CPU; 40,000: 9 s), and a
    # feed may be fetch.max_bytes (10 MB) long: one such entry stalls the poll for hours.
    body = rss_item(link="https://example.org/a", author="t" * 20_000)
    started = time.process_time()
    parse_or_feed_error(body)
    assert time.process_time() - started < 1.0


# --- extraction ----------------------------------------------------------------------------


def text_or_extract_error(html: str) -> str | None:
    try:
        text = html_to_text(html)
    except ExtractError:
        return None
    assert isinstance(text, str)
    return text


HTML_PIECES = [
    "<html>",
    "</html>",
    "<head>",
    "</head>",
    "<title>t</title>",
    "<body>",
    "</body>",
    "<p>",
    "</p>",
    "<div>",
    "</div>",
    "<br>",
    "<li>",
    "<table><tr><td>",
    "<script>x=1</script>",
    "<style>p{}</style>",
    "<template>",
    "<noscript>",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "<?xml version='1.0' encoding='latin-1'?>",
    "<!DOCTYPE html>",
    "<meta charset='utf-16'>",
    "<meta property='article:published_time' content='9999-12-31T23:59:59-12:00'>",
    "<link rel='canonical' href='http://[broken'>",
    f"<link rel='canonical' href='{LONG_LINK}'>",
    "<link rel='canonical' href='javascript:alert(1)'>",
    "<time datetime='0000-00-00'>",
    '<script type=\'application/ld+json\'>{"datePublished": "9999-99-99"}</script>',
    "<",
    ">",
    "&",
    "&#0;",
    "&#xD800;",
    "&#x1F;",
    "&nbsp;",
    "\x00",
    "\x0b",
    "\x0c",
    "\x1b",
    "\ud800",
    "\u2029",
    "\r\n",
    "word ",
]
mutated_html = st.lists(
    st.one_of(st.sampled_from(HTML_PIECES), st.text(max_size=8)), max_size=30
).map("".join)


@FAST
@given(st.text())
@example("<p>a\x0bb</p>")
@example("<html><head><title>t</title>")
@example("<p>&#x1F;")
def test_html_to_text_of_any_string_is_text_or_an_extract_error(html: str) -> None:
    text_or_extract_error(html)


@FAST
@given(mutated_html)
@example("<p>&#x1F;")
def test_html_to_text_of_mutated_html_is_text_or_an_extract_error(html: str) -> None:
    text_or_extract_error(html)


@settings(max_examples=120, deadline=None)
@given(mutated_html, mutated_html)
@example("<meta property='article:published_time' content='9999-12-31T23:59:59-12:00'>", "")
@example("", "<p>&#x1F;")
def test_extract_of_mutated_pages_is_text_or_an_extract_error(page: str, fallback: str) -> None:
    try:
        extracted = extract(page, url=PAGE_URL, fallback_html=fallback, min_chars=20, now=NOW)
    except ExtractError:
        return
    for name in ("title", "text", "author", "site_name", "canonical_url", "language"):
        _clean(f"extracted {name}", getattr(extracted, name))
    if extracted.canonical_url is not None:
        stored = dedup.storable_canonical_url(extracted.canonical_url)
        assert stored is None or len(stored) <= MAX_URL_CHARS


@pytest.mark.parametrize(
    "html",
    [
        "<p>a\x0bb</p>",
        "<html><head><title>t</title>",
        "<p>a\x00b\x1bc\x7fd</p>",
        "<p>\ud800</p>",
        "<p>&#x1F;",
        "<p>a&#0;b&#xD800;c&#x0B;d</p>",
    ],
)
def test_known_poison_html_gives_text_or_an_extract_error(html: str) -> None:
    text = text_or_extract_error(html)
    if text is not None:
        _clean("text", text)


@pytest.mark.parametrize(
    "page",
    [
        "",
        "<html><head><title>t</title>",
        f"<html><head><link rel='canonical' href='{LONG_LINK}'></head><body><p>x</p></body>",
        "<meta property='article:published_time' content='9999-12-31T23:59:59-12:00'>",
        '<script type=\'application/ld+json\'>{"datePublished": "9999-12-31T23:59:59-12:00"}'
        "</script><p>x</p>",
        "<time datetime='9999-12-31T23:59:59-12:00'>x</time>",
    ],
    ids=["empty", "no-body", "long-canonical", "meta-9999", "json-ld-9999", "time-9999"],
)
@pytest.mark.parametrize(
    "fallback", ["<p>a\x0bb</p>", "<html><head><title>t</title>"], ids=["vt", "no-body"]
)
def test_extract_survives_known_poison_in_page_and_feed_fallback(page: str, fallback: str) -> None:
    try:
        extracted = extract(page, url=PAGE_URL, fallback_html=fallback, now=NOW)
    except ExtractError:
        return
    _clean("text", extracted.text)
    if extracted.canonical_url is not None:
        stored = dedup.storable_canonical_url(extracted.canonical_url)
        assert stored is None or len(stored) <= MAX_URL_CHARS


# --- dedup keys ------------------------------------------------------------------------------

any_url = st.one_of(
    st.text(),
    st.sampled_from(HOSTILE),
    st.builds(
        lambda scheme, host, rest: f"{scheme}://{host}{rest}",
        st.sampled_from(["http", "https", "HTTP", "ftp", ""]),
        st.one_of(st.text(max_size=12), st.sampled_from(["[", "[::1", "[::1]", "m.x.org", ""])),
        st.text(max_size=30),
    ),
)
http_url = st.builds(
    lambda scheme, host, path, query: f"{scheme}://{host}/{path}?{query}",
    st.sampled_from(["http", "https"]),
    st.sampled_from(["example.org", "m.example.org", "Example.ORG:443", "amp.news.example"]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30),
)


@settings(max_examples=300, deadline=None)
@given(any_url)
@example("http://[broken")
@example("http://[::1")
def test_canonical_url_of_any_string_is_a_string(url: str) -> None:
    assert isinstance(dedup.canonical_url(url), str)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), any_url))
@example("http://[broken")
def test_guid_key_of_any_string_is_a_string_or_none(guid: str | None) -> None:
    key = dedup.guid_key(guid)
    assert key is None or isinstance(key, str)


@settings(max_examples=300, deadline=None)
@given(http_url)
def test_canonical_url_is_its_own_canonical_url(url: str) -> None:
    # A stored canonical URL met again (as a GUID, a rel=canonical) must give the same key.
    once = dedup.canonical_url(url)
    assert dedup.canonical_url(once) == once


@settings(max_examples=300, deadline=None)
@given(any_url)
def test_guid_key_is_stable_on_its_own_output(guid: str) -> None:
    key = dedup.guid_key(guid)
    if key is not None and not key.lower().startswith(("http://", "https://")):
        assert dedup.guid_key(key) == key


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), any_url), st.sampled_from(["https://example.org/a", "http://[x"]))
def test_guid_lookup_key_of_any_guid_is_a_string_or_none(guid: str | None, url: str) -> None:
    subject = LinkSubject(
        id=1, url=url, canonical_url=url, guid=guid, title="", text="", text_hash=None, at=NOW
    )
    key = linking.guid_lookup_key(subject)
    assert key is None or isinstance(key, str)


@settings(max_examples=300, deadline=None)
@given(any_url)
def test_other_url_keys_of_any_string_never_raise(url: str) -> None:
    assert isinstance(host_key(url), str)
    absolute = absolute_http_url(url, FEED_URL)
    assert absolute is None or urlsplit(absolute).scheme in ("http", "https")
    day = date_from_url(url, now=NOW)
    assert day is None or EARLIEST_DATE <= day <= NOW + FUTURE_SLACK


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_text_keys_of_any_text_never_raise(text: str) -> None:
    assert re.fullmatch("[0-9a-f]{64}", dedup.text_fingerprint(text))
    sig = dedup.signature(text, DedupParams())
    assert sig is None or sig.shingles > 0


@pytest.mark.parametrize("url", ["http://[broken", "http://[::1", "https://[::1]:99999/x"])
def test_known_poison_urls_give_keys(url: str) -> None:
    assert isinstance(dedup.canonical_url(url), str)
    key = dedup.guid_key(url)
    assert key is None or isinstance(key, str)


# --- fetch: redirects to what is not an http(s) URL ------------------------------------------

LOCAL = FetchPolicy(allow_private_networks=True, timeout_s=5.0, user_agent="monitor-test/1")
BAD_LOCATIONS = {
    "javascript": "javascript:alert(1)",
    "mailto": "mailto:a@b",
    "data": "data:text/html,x",
    "about": "about:blank",
    "tel": "tel:1",
    "broken-ipv6": "http://[::1",
    "broken-ipv6-path": "http://[broken/x",
    "bad-port": "http://127.0.0.1:99999/x",
    "empty": "",
    "spaces": "   ",
    "10000-chars-relative": "x" * 10_000,
    "10000-chars-host": "http://" + "a" * 10_000 + "/",
    "10000-chars-javascript": "javascript:" + "a" * 10_000,
}


def get(url: str, policy: FetchPolicy = LOCAL) -> Any:
    async def go() -> Any:
        async with httpx.AsyncClient(trust_env=False) as client:
            return await fetch(client, url, policy)

    return asyncio.run(go())


@pytest.mark.parametrize("location", BAD_LOCATIONS.values(), ids=BAD_LOCATIONS.keys())
def test_redirect_to_an_unusable_location_is_a_fetch_error(
    http_server: LoopbackServer, location: str
) -> None:
    http_server.route("/moved", Reply.redirect(location))
    with pytest.raises(FetchError):
        get(http_server.url("/moved"))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_every_redirect_status_to_javascript_is_a_fetch_error(
    http_server: LoopbackServer, status: int
) -> None:
    http_server.route("/moved", Reply.redirect("javascript:alert(1)", status))
    with pytest.raises(FetchError):
        get(http_server.url("/moved"))
    assert [r.path for r in http_server.requests] == ["/moved"]
