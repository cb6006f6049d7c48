"""Turn fetched feed bytes (RSS 0.9x/1.0/2.0, Atom, JSON Feed) into a `ParsedFeed`.

Owns the feed-level hygiene: http(s)-only absolute links, plain one-line titles, sane dates.
"""

from __future__ import annotations

import calendar
import io
import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from html import escape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from monitor.errors import FeedError
from monitor.models import FeedEntry, ParsedFeed
from monitor.pipeline import bounds

# Dates outside [EARLIEST_DATE, now + FUTURE_SLACK] are treated as unknown (None): they are
# typos, placeholder dates (1970-01-01) or clock errors, and would otherwise sort an item to
# the top or bottom of every digest for years.
EARLIEST_DATE = datetime(1995, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
MAX_TTL_MINUTES = 7 * 24 * 60
MAX_AUTHOR_CHARS = 200

_JSON_FEED_PREFIX = "https://jsonfeed.org/version/"
_SPACE_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")
# feedparser 6.0.14 raises TypeError on these end tags outside an <image>; see _parse_xml.
_STRAY_END_TAGS_RE = re.compile(rb"</(?:width|height)\s*>", re.I)
_AUTHOR_TAGS = rb"(?:[\w.-]+:)?(?:author|creator|managingEditor|webMaster)"
_LONG_AUTHOR_RE = re.compile(rb"(<" + _AUTHOR_TAGS + rb"(?:\s[^>]*)?>)([^<]{%d,})" % 1000, re.I)


def parse_feed(
    body: bytes, *, url: str, headers: Mapping[str, str], now: datetime | None = None
) -> ParsedFeed:
    """Parse a fetched feed document. `url` is the feed's (final) URL, the base for relative
    links; `headers` are the HTTP response headers (for the charset). `now` bounds dates.

    Ill-formed feeds still yield what could be read, with `warning` set; entries without a
    usable http(s) link are dropped and counted in `warning`. Raises FeedError when the
    document is not a feed at all or nothing in it is usable.
    """
    now = now or datetime.now(UTC)
    if _looks_like_json(body, headers):
        title, raw_entries, warnings, ttl = _parse_json_feed(body, url)
    else:
        title, raw_entries, warnings, ttl = _parse_xml(body, url, headers)
    entries = [_entry(raw, url, now) for raw in raw_entries]
    kept = tuple(entry for entry in entries if entry is not None)
    dropped = len(entries) - len(kept)
    if dropped and not kept:
        raise FeedError(f"{url}: none of the {dropped} entries has a usable http(s) link")
    if dropped:
        warnings.append(
            f"{dropped} entries without a usable http(s) link dropped "
            f"(a link holds at most {bounds.MAX_URL_CHARS:,} characters)"
        )
    return ParsedFeed(
        title=title, entries=kept, warning="; ".join(warnings) or None, ttl_minutes=ttl
    )


# --- XML feeds via feedparser ------------------------------------------------------------------


def _parse_xml(
    body: bytes, url: str, headers: Mapping[str, str]
) -> tuple[str, list[dict[str, Any]], list[str], int | None]:
    warnings: list[str] = []
    body = _defused(body)
    try:
        result = _feedparser(body, headers)
    except UnicodeError:
        # feedparser turns &#xD800; (a lone surrogate) into a str it cannot encode; such
        # references, and those of control characters, stand for nothing storable.
        try:
            result = _feedparser(bounds.BAD_CHARREF_BYTES_RE.sub(b"", body), headers)
        except Exception as exc:
            raise FeedError(f"{url}: feed parser crashed ({type(exc).__name__}: {exc})") from exc
    except TypeError:
        # feedparser 6.0.14 crashes on a stray </width> or </height>; those values are never
        # used, so parse again without them.
        try:
            result = _feedparser(_STRAY_END_TAGS_RE.sub(b"", body), headers)
        except Exception as exc:
            raise FeedError(f"{url}: feed parser crashed ({type(exc).__name__}: {exc})") from exc
        warnings.append("feed parser crashed on a stray </width> or </height>; parsed without them")
    except Exception as exc:  # feedparser has raised more than TypeError over the years
        raise FeedError(f"{url}: feed parser crashed ({type(exc).__name__}: {exc})") from exc
    entries = list(result.get("entries") or [])
    feed = result.get("feed") or {}
    if result.get("bozo"):
        problem = _describe(result.get("bozo_exception"))
        if not entries and not result.get("version"):
            raise FeedError(f"{url}: not a readable feed ({problem})")
        if not _is_benign(result.get("bozo_exception")):
            warnings.append(f"ill-formed feed, read leniently ({problem})")
    elif not entries and not result.get("version"):
        raise FeedError(f"{url}: not a feed (no RSS, Atom or JSON Feed found)")
    return bounds.title(_plain(feed.get("title", ""))), entries, warnings, _ttl(feed.get("ttl"))


def _defused(body: bytes) -> bytes:
    """The feed with the text of any author element cut to MAX_AUTHOR_CHARS: feedparser looks
    for an e-mail address in it with a regular expression that takes quadratic time (a
    20,000-character author costs seconds, a megabyte one hours)."""
    if _LONG_AUTHOR_RE.search(body) is None:
        return body
    return _LONG_AUTHOR_RE.sub(lambda m: m.group(1) + m.group(2)[:MAX_AUTHOR_CHARS], body)


def _feedparser(body: bytes, headers: Mapping[str, str]) -> Any:
    # Only the charset matters. No Content-Location: with a base URI feedparser also
    # "resolves" non-permalink GUIDs (b-1 -> https://host/b-1); we resolve links ourselves.
    response_headers = {k.lower(): v for k, v in headers.items() if k.lower() == "content-type"}
    # A file object, never bytes or str: feedparser opens a str as a URL and even bytes as a
    # local path (b"/etc/passwd" would be read).
    return feedparser.parse(io.BytesIO(body), response_headers=response_headers)


def _is_benign(exc: object) -> bool:
    # A charset that disagrees with the HTTP header, or a feed served as text/html or
    # text/plain, is common and harmless once parsed: not worth a warning on the source.
    return type(exc).__name__ in ("CharacterEncodingOverride", "NonXMLContentType")


def _describe(exc: object) -> str:
    if exc is None:
        return "unknown problem"
    line = getattr(exc, "getLineNumber", None)
    where = f" at line {line()}" if callable(line) else ""
    return f"{type(exc).__name__}{where}: {exc}"


def _ttl(value: object) -> int | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes if 0 < minutes <= MAX_TTL_MINUTES else None


# --- JSON Feed (https://jsonfeed.org/version/1.1) ------------------------------------------------


def _looks_like_json(body: bytes, headers: Mapping[str, str]) -> bool:
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return head == b"{" or ("json" in content_type.lower() and head in (b"{", b"["))


def _parse_json_feed(
    body: bytes, url: str
) -> tuple[str, list[dict[str, Any]], list[str], int | None]:
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FeedError(f"{url}: invalid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise FeedError(f"{url}: JSON document is not a JSON Feed (no 'items' list)")
    warnings = []
    if not str(doc.get("version", "")).startswith(_JSON_FEED_PREFIX):
        warnings.append("JSON Feed without a jsonfeed.org version, read anyway")
    items = [item for item in doc["items"] if isinstance(item, dict)]
    entries = [_json_item(item) for item in items]
    return bounds.title(_plain(_str(doc.get("title")))), entries, warnings, None


def _json_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON Feed item in feedparser's entry shape, so one code path builds FeedEntry."""
    content_html = _str(item.get("content_html"))
    if not content_html and item.get("content_text"):
        content_html = _text_to_html(_str(item.get("content_text")))
    authors = item.get("authors") or ([item["author"]] if item.get("author") else [])
    names = [_str(a.get("name")) for a in authors if isinstance(a, dict) and a.get("name")]
    return {
        "id": _str(item.get("id")),
        "link": _str(item.get("url")) or _str(item.get("external_url")),
        "title": _str(item.get("title")),
        "summary": _str(item.get("summary")),
        "content": [{"value": content_html, "type": "text/html"}] if content_html else [],
        "published_parsed": _iso_to_struct(item.get("date_published")),
        "updated_parsed": _iso_to_struct(item.get("date_modified")),
        "author": ", ".join(names) or None,
    }


def _text_to_html(text: str) -> str:
    return "".join(f"<p>{escape(p.strip())}</p>" for p in text.split("\n\n") if p.strip())


def _iso_to_struct(value: object) -> time.struct_time | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC).timetuple()
    except OverflowError:  # 9999-12-31T23:59:59-12:00 is past the last datetime in UTC
        return None


def _str(value: object) -> str:
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))


# --- entries ---------------------------------------------------------------------------------


def _entry(raw: Mapping[str, Any], feed_url: str, now: datetime) -> FeedEntry | None:
    link = _link(raw, feed_url)
    if link is None:
        return None
    author = bounds.clean_line(_plain(_str(_field(raw, "author"))))[:MAX_AUTHOR_CHARS] or None
    return FeedEntry(
        url=link,
        guid=bounds.guid(_str(_field(raw, "id"))),
        title=bounds.title(_plain(_str(_field(raw, "title")))),
        summary=bounds.clean_text(_str(_field(raw, "summary"))),
        content_html=bounds.clean_text(_content(raw)),
        published_at=_date(raw, now),
        author=author,
    )


def _field(raw: Mapping[str, Any], key: str) -> Any:
    # dict.get, not FeedParserDict.get: the latter maps missing keys to others (updated_parsed
    # to published_parsed) with a DeprecationWarning.
    return dict.get(raw, key) if isinstance(raw, dict) else raw.get(key)


def _link(raw: Mapping[str, Any], feed_url: str) -> str | None:
    candidates = [_field(raw, "link")]
    candidates += [
        link.get("href")
        for link in _field(raw, "links") or []
        if isinstance(link, Mapping) and link.get("rel", "alternate") == "alternate"
    ]
    if _field(raw, "guidislink"):
        candidates.append(_field(raw, "id"))
    for candidate in candidates:
        absolute = absolute_http_url(candidate, feed_url)
        if absolute:
            return absolute
    return None


def absolute_http_url(link: object, base: str) -> str | None:
    """`link` made absolute against `base`, if it is an http(s) URL with a host; else None."""
    if not isinstance(link, str):
        return None
    link = _SPACE_RE.sub("", link)  # feeds wrap long links; no valid URL contains whitespace
    if not link:
        return None
    try:
        absolute = urljoin(base, link)
        parts = urlsplit(absolute)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return None
    return None if bounds.url_problem(absolute) else absolute


def _content(raw: Mapping[str, Any]) -> str:
    contents = [
        c for c in _field(raw, "content") or [] if isinstance(c, Mapping) and c.get("value")
    ]
    for content in contents:
        if "html" in str(content.get("type", "")):
            return str(content["value"])
    return str(contents[0]["value"]) if contents else ""


def _date(raw: Mapping[str, Any], now: datetime) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = _field(raw, key)
        if parsed:
            try:
                moment = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
            except (OverflowError, ValueError, OSError, TypeError):
                continue
            if EARLIEST_DATE <= moment <= now + FUTURE_SLACK:
                return moment
    return None


# --- plain text -------------------------------------------------------------------------------


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _plain(value: str) -> str:
    """One line of plain text: tags dropped, entities decoded, CR/LF and runs of space folded."""
    if not value:
        return ""
    if "<" in value or "&" in value:
        parser = _TextOnly()
        parser.feed(value)
        parser.close()
        value = "".join(parser.parts)
    return _SPACE_RE.sub(" ", _CONTROL_RE.sub(" ", value)).strip()
