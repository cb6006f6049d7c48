"""Turn a `DigestContent` into the digest's email parts and report formats (pure, no I/O but
reading templates). HTML is autoescaped, links are allow-listed to http/https, CSS is inlined.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import css_inline
import jinja2
from markupsafe import Markup, escape

from monitor.errors import DeliveryError
from monitor.models import ActorChip, DigestArticle, DigestContent, RenderedDigest
from monitor.pipeline.normalize import fold_with_offsets

SUBJECT_MAX = 150
_TIME_FMT = "%Y-%m-%d %H:%M"
# C0/C1 controls, DEL and the Unicode line/paragraph separators: never inside one line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r"\s+")
_C0_AND_SPACE = "".join(chr(i) for i in range(0x21)) + "\x7f"
# Characters that change meaning in Markdown; backslash-escaping them is valid CommonMark.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~!])")
# Spreadsheets run cells starting with these as formulas (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# --- locating templates ---------------------------------------------------------------


def default_templates_dir() -> Path:
    """`monitor/_templates` inside an installed wheel, else the repository's `templates/`."""
    packaged = Path(__file__).resolve().parents[1] / "_templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "templates"


def _autoescape(name: str | None) -> bool:
    # select_autoescape looks at the last extension only, which is ".j2" for all of ours.
    return name is not None and name.removesuffix(".j2").endswith((".html", ".htm", ".xml"))


@lru_cache(maxsize=8)
def _environment(templates_dir: Path) -> jinja2.Environment:
    if not templates_dir.is_dir():
        raise DeliveryError(
            f"digest templates not found in {templates_dir}: "
            "reinstall monitor or pass templates_dir"
        )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        safe_url=safe_url,
        oneline=oneline,
        highlight=highlight_html,
        highlight_md=highlight_markdown,
        md=markdown_escape,
        md_url=markdown_url,
        chip_class=chip_class,
        plural=plural,
    )
    return env


# --- filters --------------------------------------------------------------------------


def safe_url(url: object) -> str:
    """`url` cleaned if it is an absolute http(s) URL, else "" (the template shows no link).

    Browsers drop tabs and newlines inside URLs and leading control characters, so
    "java\\tscript:" is JavaScript to them: strip those before looking at the scheme.
    """
    if not isinstance(url, str):
        return ""
    cleaned = re.sub(r"[\t\r\n]", "", url).strip(_C0_AND_SPACE)
    if _CONTROL.search(cleaned):
        return ""
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    return cleaned


def oneline(value: object) -> str:
    """`value` as one line: control characters (CR, LF, tab …) and runs of spaces → one space."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", str(value))).strip()


def plural(count: int, singular: str, many: str | None = None) -> str:
    """ "1 article", "12 articles"."""
    return f"{count} {singular if count == 1 else (many or singular + 's')}"


def chip_class(entity_type: object) -> str:
    """A CSS class for an actor type, reduced to [a-z0-9_] so a hostile type is harmless."""
    return "chip-" + (re.sub(r"[^a-z0-9_]", "", str(entity_type).lower()) or "other")


def markdown_escape(value: object) -> str:
    """One-line text safe inside Markdown: specials backslash-escaped, no raw HTML."""
    return _MD_SPECIAL.sub(r"\\\1", oneline(value))


def markdown_url(url: object) -> str:
    """An allow-listed URL as a Markdown link destination (`<...>`), or ""."""
    href = safe_url(url)
    for ch, enc in ((" ", "%20"), ("<", "%3C"), (">", "%3E"), ("\\", "%5C")):
        href = href.replace(ch, enc)
    return f"<{href}>" if href else ""


def term_spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """Non-overlapping [start, end) spans of `text` where a matched term stands as whole words.

    Comparison is on folded text (case, diacritics, apostrophes, Arabic letter variants), so
    the term "kataib" marks "Kata'ib" as the tagger and the query language saw it.
    """
    folded, origin = fold_with_offsets(text)
    spans: list[tuple[int, int]] = []
    for term in {t for t in (fold_with_offsets(x)[0].strip() for x in terms) if t}:
        start = folded.find(term)
        while start != -1:
            end = start + len(term)
            before = folded[start - 1] if start else " "
            after = folded[end] if end < len(folded) else " "
            if not before.isalnum() and not after.isalnum():
                spans.append((origin[start], origin[end - 1] + 1))
            start = folded.find(term, start + 1)
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def _highlight(text: str, terms: Iterable[str], quote: Any, open_: str, close: str) -> str:
    # Every piece of input goes through `quote`; only our own markers are added raw.
    out: list[str] = []
    pos = 0
    for start, end in term_spans(text, terms):
        out += [quote(text[pos:start]), open_, quote(text[start:end]), close]
        pos = end
    out.append(quote(text[pos:]))
    return "".join(out)


def highlight_html(text: object, terms: Sequence[str]) -> Markup:
    """`text` HTML-escaped, with matched terms wrapped in <mark>."""
    return Markup(_highlight(oneline(text), terms, lambda s: str(escape(s)), "<mark>", "</mark>"))


def highlight_markdown(text: object, terms: Sequence[str]) -> str:
    """`text` Markdown-escaped, with matched terms in **bold**."""
    return _highlight(oneline(text), terms, lambda s: _MD_SPECIAL.sub(r"\\\1", s), "**", "**")


# --- the view model -------------------------------------------------------------------


@dataclass(frozen=True)
class _ArticleView:
    article: DigestArticle
    href: str
    snippet: str
    published: str
    matched: str
    outlets: tuple[tuple[str, str, str], ...]  # (source, href, title), distinct sources


@dataclass(frozen=True)
class _SourceView:
    name: str
    href: str
    error_count: int
    last_error: str
    next_check: str


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DeliveryError(f"unknown time zone {name!r} for the digest: use an IANA name") from exc


def _local(dt: datetime | None, zone: ZoneInfo) -> str:
    if dt is None:
        return ""
    if dt.tzinfo is None:  # storage keeps UTC; a naive value is UTC
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(zone).strftime(_TIME_FMT)


def _outlets(article: DigestArticle) -> tuple[tuple[str, str, str], ...]:
    seen: dict[str, tuple[str, str, str]] = {}
    for other in article.also_reported_by:
        name = oneline(other.source) or oneline(other.url)
        seen.setdefault(name, (name, safe_url(other.url), oneline(other.title)))
    return tuple(seen.values())


def snippet_without_title(snippet: str, title: str) -> str:
    """`snippet` minus a leading repeat of `title` (extracted text often opens with the
    headline), compared folded; the snippet is kept whole if nothing would be left."""
    text, folded_title = oneline(snippet), fold_with_offsets(oneline(title))[0].strip()
    folded, origin = fold_with_offsets(text)
    if not folded_title or not folded.startswith(folded_title):
        return text
    end = len(folded_title)
    if end < len(folded) and folded[end].isalnum():  # the title ended mid-word
        return text
    rest = text[origin[end - 1] + 1 :].lstrip(" .:;,–—-|")
    return rest or text


def top_actors(articles: Sequence[DigestArticle], limit: int = 8) -> list[tuple[ActorChip, int]]:
    """The actors named in two articles or more, most named first, with their article counts."""
    counts: Counter[str] = Counter()
    first: dict[str, ActorChip] = {}
    for article in articles:
        for chip in {c.id: c for c in article.actors}.values():
            counts[chip.id] += 1
            first.setdefault(chip.id, chip)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], first[kv[0]].name.casefold()))
    return [(first[i], n) for i, n in ranked[:limit] if n > 1]


def _context(content: DigestContent) -> dict[str, Any]:
    zone = _zone(content.timezone)
    articles = [
        _ArticleView(
            article=a,
            href=safe_url(a.url),
            snippet=snippet_without_title(a.snippet, a.title),
            published=_local(a.published_at, zone),
            matched=_local(a.matched_at, zone),
            outlets=_outlets(a),
        )
        for a in content.articles
    ]
    sources = {oneline(a.source) for a in content.articles}
    sources |= {o[0] for v in articles for o in v.outlets}
    reports = sum(1 + len(a.also_reported_by) for a in content.articles)
    failing = [
        _SourceView(
            name=oneline(s.name),
            href=safe_url(s.url),
            error_count=s.error_count,
            last_error=_clip(oneline(s.last_error or ""), 200),
            next_check=_local(s.next_check_at, zone),
        )
        for s in content.failing_sources
    ]
    return {
        "c": content,
        "watchlist": oneline(content.watchlist),
        "query": oneline(content.query),
        "period_start": _local(content.period_start, zone),
        "period_end": _local(content.period_end, zone),
        "generated_at": _local(content.generated_at, zone),
        "timezone": content.timezone,
        "articles": articles,
        "n_articles": len(articles),
        "n_reports": reports,
        "n_outlets": len(sources),
        "top_actors": top_actors(content.articles),
        "failing": failing,
        "subject": digest_subject(content),
    }


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- public API -----------------------------------------------------------------------


def digest_subject(content: DigestContent) -> str:
    """ "[monitor] iraq-militias — 12 articles — 2026-12-01": one line, at most 150 chars."""
    day = _local(content.period_end, _zone(content.timezone))[:10]
    n = len(content.articles)
    count = plural(n, "article") if n else "nothing new"
    name = oneline(content.watchlist)
    tail = f" — {count} — {day}"
    room = SUBJECT_MAX - len("[monitor] ") - len(tail)
    return oneline(f"[monitor] {_clip(name, max(room, 10))}{tail}")[:SUBJECT_MAX]


def _render(template: str, context: dict[str, Any], templates_dir: Path | None) -> str:
    env = _environment((templates_dir or default_templates_dir()).resolve())
    try:
        return env.get_template(template).render(context)
    except jinja2.TemplateError as exc:
        raise DeliveryError(f"template {template}: {exc}") from exc


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def render_digest(content: DigestContent, *, templates_dir: Path | None = None) -> RenderedDigest:
    """The digest email's subject, plain text and HTML (CSS inlined for mail clients)."""
    context = _context(content)
    html = _render("digest.html.j2", context, templates_dir)
    html = css_inline.inline(html, load_remote_stylesheets=False, keep_at_rules=True)
    text = _render("digest.txt.j2", context, templates_dir)
    return RenderedDigest(subject=context["subject"], text=_newlines(text), html=html)


def render_markdown(content: DigestContent, *, templates_dir: Path | None = None) -> str:
    """The digest as Markdown (matched terms in bold, links allow-listed)."""
    return _newlines(_render("digest.md.j2", _context(content), templates_dir))


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def render_json(content: DigestContent) -> str:
    """The digest's full content as one JSON document (times ISO 8601, as stored)."""
    doc = asdict(content)
    doc["article_count"] = len(content.articles)
    return json.dumps(doc, default=_json_default, ensure_ascii=False, indent=2) + "\n"


CSV_COLUMNS = (
    "matched_at", "published_at", "source", "title", "url", "actors", "actor_ids",
    "matched_terms", "also_reported_count", "also_reported_by", "story_id", "snippet",
)  # fmt: skip


def _cell(value: object) -> str:
    text = oneline("" if value is None else value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(content: DigestContent) -> str:
    """One row per article; cells one-line and defused against spreadsheet formulas."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for a in content.articles:
        row = (
            a.matched_at.isoformat(),
            a.published_at.isoformat() if a.published_at else "",
            a.source,
            a.title,
            a.url,
            "; ".join(f"{c.name} ({c.type})" for c in a.actors),
            " ".join(c.id for c in a.actors),
            "; ".join(a.matched_terms),
            len(a.also_reported_by),
            " ".join(o.url for o in a.also_reported_by),
            "" if a.story_id is None else a.story_id,
            a.snippet,
        )
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue()


_ATOM = "http://www.w3.org/2005/Atom"


def _xml_text(value: object) -> str:
    # XML 1.0 forbids most control characters even escaped.
    text = oneline(value)
    return "".join(
        ch for ch in text if unicodedata.category(ch) != "Cs" and ch not in "\ufffe\uffff"
    )


def _iso(dt: datetime) -> str:
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).isoformat()


def render_atom(content: DigestContent, *, feed_id: str | None = None) -> str:
    """The digest as an Atom feed, one entry per article (for feed readers)."""
    ET.register_namespace("", _ATOM)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{_ATOM}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    feed = ET.Element(f"{{{_ATOM}}}feed")
    name = _xml_text(content.watchlist)
    urn = f"urn:monitor:digest:{quote(name, safe='')}:{quote(_iso(content.period_end), safe='')}"
    sub(feed, "id", feed_id or urn)
    sub(feed, "title", digest_subject(content))
    sub(feed, "updated", _iso(content.generated_at or content.period_end))
    sub(sub(feed, "author"), "name", "monitor")
    for a in content.articles:
        entry = sub(feed, "entry")
        href = safe_url(a.url)
        sub(entry, "id", href or f"urn:monitor:article:{quote(_xml_text(a.url), safe='')}")
        sub(entry, "title", _xml_text(a.title))
        if href:
            sub(entry, "link", href=href)
        sub(entry, "updated", _iso(a.matched_at))
        if a.published_at:
            sub(entry, "published", _iso(a.published_at))
        sub(sub(entry, "author"), "name", _xml_text(a.source))
        sub(entry, "summary", _xml_text(a.snippet))
        for chip in a.actors:
            sub(entry, "category", term=_xml_text(chip.id), label=_xml_text(chip.name))
    ET.indent(feed)
    return ET.tostring(feed, encoding="unicode", xml_declaration=True) + "\n"
