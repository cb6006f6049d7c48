"""Turn a page's HTML into clean article text plus metadata, falling back to the feed's own text.

Owns the choice of extractor (`method`) and page metadata: canonical URL, date, author, language.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html
import trafilatura

from monitor.errors import ExtractError
from monitor.models import ExtractedText
from monitor.pipeline.bounds import clean_markup, clean_text, url_problem

# Same sanity window as feed dates: outside it a date is a placeholder or a typo.
EARLIEST_DATE = datetime(1995, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)

_SPACE_RE = re.compile(r"[ \t\f\v\u00a0\u200b]+")
_LINE_RE = re.compile(r"[\r\n\u2028\u2029]+")
_BLANK_LINES_RE = re.compile(r"\n\s*\n+")
_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)
_BREAK = "\u2029"  # paragraph separator: a marker folded whitespace cannot produce
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "tr"}
    | {"table", "section", "article", "header", "footer", "ul", "ol", "dd", "dt", "figcaption"}
)
_DATE_META = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "publishdate",
    "pubdate",
    "publish-date",
    "date",
    "dc.date.issued",
    "dc.date",
    "dcterms.created",
    "sailthru.date",
    "parsely-pub-date",
)


@dataclass(frozen=True)
class _Candidate:
    method: str
    title: str
    text: str


def extract(
    html: str,
    *,
    url: str,
    fallback_html: str = "",
    min_chars: int = 200,
    now: datetime | None = None,
) -> ExtractedText:
    """Extract the article in `html` (a page fetched from `url`).

    Tries trafilatura (precision defaults), then trafilatura with `favor_recall`, then the
    feed's own `fallback_html`; the first text of at least `min_chars` wins. When none is long
    enough the longest non-empty one wins, so a genuinely short brief is kept. `method` records
    which: "trafilatura", "trafilatura-recall" or "feed". Raises ExtractError if all are empty.
    Module-level and returning a frozen dataclass, so it runs in a process pool.
    """
    candidates: list[_Candidate] = []
    document = None
    for method, options in (("trafilatura", {}), ("trafilatura-recall", {"favor_recall": True})):
        found = _trafilatura(html, url, options)
        if found is not None:
            document = found if document is None else document
            candidates.append(_Candidate(method, _one_line(found.title), _clean(found.text)))
            if len(candidates[-1].text) >= min_chars:
                break
    if not candidates or len(candidates[-1].text) < min_chars:
        candidates.append(_Candidate("feed", "", html_to_text(fallback_html)))
    best = _choose(candidates, min_chars)
    if best is None:
        raise ExtractError(f"{url}: no text found in the page or the feed entry")
    return _result(best, document, html, url, now or datetime.now(UTC))


def _trafilatura(html: str, url: str, options: dict[str, Any]) -> Any:
    if not html.strip():
        return None
    try:
        return trafilatura.bare_extraction(
            html,
            url=url,
            with_metadata=True,
            deduplicate=False,  # its cache is process-global: output would depend on history
            include_comments=False,
            include_tables=True,
            **options,
        )
    except Exception:  # trafilatura/lxml raise assorted errors on hostile markup
        return None


def _choose(candidates: list[_Candidate], min_chars: int) -> _Candidate | None:
    for candidate in candidates:
        if len(candidate.text) >= min_chars:
            return candidate
    non_empty = [c for c in candidates if c.text]
    return max(non_empty, key=lambda c: len(c.text)) if non_empty else None


def _result(best: _Candidate, document: Any, html: str, url: str, now: datetime) -> ExtractedText:
    meta = _PageMeta.parse(html, url)
    title = best.title or _one_line(getattr(document, "title", None)) or meta.title
    return ExtractedText(
        title=title,
        text=best.text,
        method=best.method,
        published_at=_sane(meta.published_at or _page_date(document, url, now), now),
        author=_one_line(getattr(document, "author", None)) or None,
        language=meta.language or _language(getattr(document, "language", None)),
        site_name=_one_line(getattr(document, "sitename", None)) or meta.site_name,
        canonical_url=meta.canonical_url,
    )


def _page_date(document: Any, url: str, now: datetime) -> datetime | None:
    """trafilatura's date, unless it merely read it off the URL (then the URL gets the credit)."""
    found = _parse_date(getattr(document, "date", None))
    from_url = date_from_url(url, now=now)
    if found is not None and from_url is not None and found.date() == from_url.date():
        return None
    return found


# --- page metadata -------------------------------------------------------------------------


@dataclass(frozen=True)
class _PageMeta:
    title: str = ""
    canonical_url: str | None = None
    published_at: datetime | None = None
    language: str | None = None
    site_name: str | None = None

    @classmethod
    def parse(cls, html: str, url: str) -> _PageMeta:
        """Title, canonical link, <meta> tags and the language from the page's <head> (parsed
        alone: the body is most of the page and trafilatura has parsed it already); the date
        from the head's <meta> tags, else from JSON-LD and <time> anywhere in the page."""
        end = _HEAD_END.search(html)
        head = _parse_html(html[: end.start()] + "</head></html>") if end else None
        tree = head if head is not None else _parse_html(html)
        if tree is None:
            return cls()
        metas = _meta_map(tree)
        published = _meta_date(metas)
        if published is None:
            body = _parse_html(html) if head is not None else tree
            published = _document_date(body) if body is not None else None
        return cls(
            title=_one_line(tree.findtext(".//title")),
            canonical_url=_canonical(tree, url),
            published_at=published,
            language=_language(tree.get("lang") or metas.get("og:locale")),
            site_name=_one_line(metas.get("og:site_name")) or None,
        )


def _parse_html(html: str) -> Any:
    if not html.strip():
        return None
    try:
        return lxml.html.document_fromstring(_utf8(html), parser=_utf8_parser())
    except (lxml.etree.ParserError, ValueError):
        return None


def _utf8(html: str) -> bytes:
    # Bytes, since lxml refuses a str that carries an XML encoding declaration.
    return html.encode("utf-8", errors="replace")


def _utf8_parser() -> Any:
    # Per call: an lxml parser is not safe to share between threads. The encoding is explicit,
    # as lxml would otherwise read bytes without a <meta charset> as latin-1.
    return lxml.html.HTMLParser(encoding="utf-8")


def _meta_map(tree: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        content = meta.get("content")
        if key and content and key not in found:
            found[key.strip()] = content.strip()
    return found


def _canonical(tree: Any, url: str) -> str | None:
    for link in tree.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        href = (link.get("href") or "").strip()
        if "canonical" in rel and href:
            try:
                return _usable_canonical(urljoin(url, href), url)
            except ValueError:  # href="http://[broken"
                return None
    return None


def _usable_canonical(candidate: str, url: str) -> str | None:
    """A canonical URL we can trust: http(s), and not a site's home page named for an article
    (a common template bug that would make every article a duplicate of every other)."""
    try:
        parts, page = urlsplit(candidate), urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or url_problem(candidate):
        return None
    if parts.path in ("", "/") and not parts.query and page.path not in ("", "/"):
        return None
    return candidate


def _meta_date(metas: dict[str, str]) -> datetime | None:
    for key in _DATE_META:
        parsed = _parse_date(metas.get(key))
        if parsed is not None:
            return parsed
    return None


def _document_date(tree: Any) -> datetime | None:
    for value in _json_ld_dates(tree):
        parsed = _parse_date(value)
        if parsed is not None:
            return parsed
    for time_el in tree.iter("time"):
        parsed = _parse_date(time_el.get("datetime"))
        if parsed is not None:
            return parsed
    return None


def _json_ld_dates(tree: Any) -> Iterator[str]:
    for script in tree.iter("script"):
        if (script.get("type") or "").lower() != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(script.text)
        except ValueError:
            continue
        yield from _walk_dates(data, depth=0)


def _walk_dates(data: Any, depth: int) -> Iterator[str]:
    if depth > 4:
        return
    if isinstance(data, list):
        for item in data:
            yield from _walk_dates(item, depth + 1)
    elif isinstance(data, dict):
        if isinstance(data.get("datePublished"), str):
            yield data["datePublished"]
        for key in ("@graph", "mainEntity", "mainEntityOfPage"):
            if key in data:
                yield from _walk_dates(data[key], depth + 1)


def _parse_date(value: object) -> datetime | None:
    """ISO 8601 (as pages and trafilatura write it) to an aware UTC datetime; naive means UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text)  # +0300 -> +03:00
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    try:
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-12:00 is past the last datetime in UTC
        return None


# /2026/11/30/, /2026-11-30-slug, /20261130/: a date path segment, as news CMSs write them.
_URL_DATE_RES = (
    re.compile(r"/((?:19|20)\d\d)[/-](0?[1-9]|1[0-2])[/-](0?[1-9]|[12]\d|3[01])(?=[/_.-]|$)"),
    re.compile(r"/((?:19|20)\d\d)(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=[/_.-]|$)"),
)


def date_from_url(url: str, *, now: datetime | None = None) -> datetime | None:
    """The publication day a URL path spells (midnight UTC), if any and if plausible."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    for pattern in _URL_DATE_RES:
        for m in pattern.finditer(path):
            try:
                day = datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC)
            except ValueError:  # 2026/02/30
                continue
            return _sane(day, now or datetime.now(UTC))
    return None


def choose_published(
    feed: datetime | None, page: datetime | None, url: str, *, now: datetime | None = None
) -> tuple[datetime | None, str | None]:
    """The article's publication time and where it came from, in order of trust:
    the feed entry ("feed"), the page's metadata ("page"), the URL's date path ("url")."""
    if feed is not None:
        return feed, "feed"
    if page is not None:
        return page, "page"
    from_url = date_from_url(url, now=now)
    return (from_url, "url") if from_url is not None else (None, None)


def _sane(moment: datetime | None, now: datetime) -> datetime | None:
    if moment is None or not EARLIEST_DATE <= moment <= now + FUTURE_SLACK:
        return None
    return moment


def _language(value: object) -> str | None:
    """The primary language subtag, lower case: "en-US" and "en_GB" give "en"."""
    if not isinstance(value, str):
        return None
    primary = re.split(r"[-_]", value.strip(), maxsplit=1)[0].lower()
    return primary if primary.isalpha() and 2 <= len(primary) <= 3 else None


# --- plain text ------------------------------------------------------------------------------


def html_to_text(html: str) -> str:
    """Feed HTML (content or summary) to plain text: blocks become paragraphs, scripts dropped."""
    html = clean_markup(html) if html else ""  # lxml refuses NUL and other control characters
    if not html.strip():
        return ""
    root = _fragment(html)
    if root is None:
        return _clean(html)
    for bad in root.xpath(".//script|.//style|.//noscript|.//template"):
        bad.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in _BLOCK_TAGS:
            # A marker, since whitespace inside HTML text means nothing and is folded below.
            # Cleaned again: a character reference (&#x1F;) is decoded only by the parser.
            element.tail = _BREAK + clean_text(element.tail or "")
            element.text = _BREAK + clean_text(element.text or "")
    folded = re.sub(r"[^\S\u2029]+", " ", clean_text(root.text_content()))
    paragraphs = (part.strip() for part in folded.split(_BREAK))
    return "\n\n".join(part for part in paragraphs if part)


def _fragment(html: str) -> Any:
    """The parsed fragment under one <div>, or None when lxml cannot parse it. A whole document
    (feeds carry them too) gives its body; a document without one has no text."""
    try:
        return lxml.html.fragment_fromstring(
            _utf8(html), create_parent="div", parser=_utf8_parser()
        )
    except (lxml.etree.ParserError, ValueError):
        return None
    except AssertionError:  # lxml asserts one <body>: "<html><head><title>t</title>"
        document = _parse_html(html)
        body = None if document is None else document.find("body")
        return body if body is not None else lxml.html.fragment_fromstring("", create_parent="div")


def _clean(text: object) -> str:
    if not isinstance(text, str):
        return ""
    text = clean_text(text).replace("\r\n", "\n")
    lines = [_SPACE_RE.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip()


def _one_line(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return _SPACE_RE.sub(" ", _LINE_RE.sub(" ", clean_text(value))).strip()
