"""Turn a `DigestContent` into the digest's email parts (chart PNG included) and report formats
(pure, no I/O but reading templates). HTML is autoescaped, links allow-listed, CSS inlined.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import logging
import re
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

from monitor.delivery.chart import (
    CHART_SIZE,
    GEO_TYPES,
    leading_trends,
    trend_chart_png,
    trend_colours,
    trend_days,
    trend_rank,
    type_rank,
)
from monitor.errors import DeliveryError
from monitor.models import (
    ActorChip,
    ActorTrend,
    DigestArticle,
    DigestContent,
    MatchedPart,
    RenderedDigest,
)
from monitor.pipeline.normalize import fold_with_offsets

log = logging.getLogger(__name__)

SUBJECT_MAX = 150
TABLE_ACTORS = 10  # rows of the actor table; the rest are counted, not listed
FEED_ENTRIES = 50  # digests kept in a watchlist's Atom feed
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

# Chip colours' legend: the order and the words for the actor types.
TYPE_LABELS = {
    "armed_group": "armed group",
    "person": "person",
    "state_org": "state body",
    "international_org": "international org",
    "media": "media",
    "country": "country",
    "place": "place",
}
MATCHED_NAMES = 3  # names shown for a `type:` term; the rest are counted


@dataclass(frozen=True)
class _ReportView:
    source: str
    href: str
    title: str
    when: str  # published, else matched, in the digest's zone
    copy: bool
    face: bool  # the report the headline links to


@dataclass(frozen=True)
class _ArticleView:
    article: DigestArticle
    href: str
    snippet: str
    published: str
    matched: str
    status: str  # "new" or "update"
    matched_on: tuple[str, ...]  # which parts of the query it matched, for display
    marks: tuple[str, ...]  # what to highlight: matched words, and the actors' names
    reports: tuple[_ReportView, ...]  # every matched report, the face first
    n_outlets: int


@dataclass(frozen=True)
class _SourceView:
    name: str
    href: str
    error_count: int
    last_error: str
    next_check: str


@dataclass(frozen=True)
class _TrendView:
    name: str
    type: str
    articles: int
    baseline: str  # "" without a week of history
    change: str
    rising: bool
    colour: str  # its line colour in the chart, "" when not charted


def _trend_views(trends: Sequence[ActorTrend], colours: dict[str, str]) -> list[_TrendView]:
    ranked = sorted(trends, key=trend_rank)
    return [
        _TrendView(
            name=_clip(oneline(t.name), 40),
            type=oneline(t.type),
            articles=t.articles,
            baseline="" if t.baseline is None else f"{t.baseline:.1f}",
            change="" if t.baseline is None else f"{round(t.articles - t.baseline, 1) + 0.0:+.1f}",
            rising=t.rising,
            colour=colours.get(t.id, ""),
        )
        for t in ranked
    ]


def _trend_lines(views: Sequence[_TrendView]) -> list[str]:
    """The actor table as fixed-width lines for the plain-text digest."""
    width = max([len("Actor"), *(len(v.name) for v in views)])
    if not any(v.baseline for v in views):
        rows = [f"     {v.name.ljust(width)}  {v.articles:>8}" for v in views]
        return [f"     {'Actor'.ljust(width)}  Articles", *rows]
    head = f"     {'Actor'.ljust(width)}  Articles  Baseline  Change"
    rows = [
        f"  {'▲' if v.rising else ' '}  {v.name.ljust(width)}  {v.articles:>8}  "
        f"{v.baseline or '—':>8}  {v.change or '—':>6}"
        for v in views
    ]
    return [head, *rows]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DeliveryError(f"unknown time zone {name!r} for the digest: use an IANA name") from exc


def _local(dt: datetime | None, zone: ZoneInfo, fmt: str = _TIME_FMT) -> str:
    if dt is None:
        return ""
    if dt.tzinfo is None:  # storage keeps UTC; a naive value is UTC
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(zone).strftime(fmt)


def period_ends(start: datetime, end: datetime, zone: ZoneInfo) -> tuple[str, str]:
    """The period's start and end as local times that differ: with seconds when the minutes
    are the same, and the end without its date when both fall on one day."""
    a, b = _local(start, zone), _local(end, zone)
    if a == b:
        a, b = _local(start, zone, _TIME_FMT + ":%S"), _local(end, zone, _TIME_FMT + ":%S")
    if a[:10] == b[:10] and a != b:
        b = b[11:]
    return a, b


def period_label(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """ "2026-11-30 07:00 – 2026-12-01 07:00", "2026-12-01 06:00 – 06:11", or "at ..."."""
    a, b = period_ends(start, end, zone)
    return f"{a} – {b}" if a != b else f"at {a}"


def _reports(a: DigestArticle, zone: ZoneInfo) -> tuple[_ReportView, ...]:
    """Every report of the item, the headline's own included, in the order they appeared
    (a report of unknown time sorts as if it came with the headline's)."""
    face = (a.source, a.url, a.title, a.published_at or a.matched_at, False, True)
    others = [
        (o.source, o.url, o.title, o.published_at or o.matched_at, o.copy, False)
        for o in a.also_reported_by
    ]
    ordered = sorted([face, *others], key=lambda r: _aware(r[3] or a.matched_at))
    return tuple(
        _ReportView(oneline(src) or oneline(url), safe_url(url), oneline(title),
                    _local(when, zone), copy, is_face)
        for src, url, title, when, copy, is_face in ordered
    )  # fmt: skip


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def matched_labels(parts: Sequence[MatchedPart]) -> tuple[str, ...]:
    """ "type:armed_group (Kataib Hezbollah, Nujaba)", "entity:kataib-hezbollah (Kataib
    Hezbollah)", "rocket* (rocket, rockets)", "Iran"."""
    out = []
    for p in parts:
        names = [oneline(n) for n in p.names]
        if p.kind == "word":
            as_written = len(names) == 1 and names[0].casefold() == p.term.casefold()
            out.append(oneline(p.term) if as_written or not names else
                       f"{oneline(p.term)} ({', '.join(names)})")  # fmt: skip
            continue
        shown = ", ".join(names[:MATCHED_NAMES])
        more = f" +{len(names) - MATCHED_NAMES}" if len(names) > MATCHED_NAMES else ""
        label = f"{p.kind}:{oneline(p.term)}"
        out.append(f"{label} ({shown}{more})" if shown else label)
    return tuple(out)


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
    """The actors named in two articles or more, with their article counts: armed groups and
    people first, countries and places last, most named first within each."""
    counts: Counter[str] = Counter()
    first: dict[str, ActorChip] = {}
    for article in articles:
        for chip in {c.id: c for c in article.actors}.values():
            counts[chip.id] += 1
            first.setdefault(chip.id, chip)
    ranked = sorted(
        counts.items(),
        key=lambda kv: (type_rank(first[kv[0]].type), -kv[1], first[kv[0]].name.casefold()),
    )
    return [(first[i], n) for i, n in ranked[:limit] if n > 1]


def chip_legend(types: Iterable[str]) -> list[tuple[str, str]]:
    """(type, label) for each actor type present, in the legend's fixed order."""
    present = {oneline(t) for t in types if t}
    order = [t for t in TYPE_LABELS if t in present] + sorted(present - TYPE_LABELS.keys())
    return [(t, TYPE_LABELS.get(t, t.replace("_", " "))) for t in order]


def _article_view(a: DigestArticle, zone: ZoneInfo) -> _ArticleView:
    reports = _reports(a, zone)
    return _ArticleView(
        article=a,
        href=safe_url(a.url),
        snippet=snippet_without_title(a.snippet, a.title),
        published=_local(a.published_at, zone),
        matched=_local(a.matched_at, zone),
        status="update" if a.status == "update" else "new",
        matched_on=matched_labels(a.matched_on),
        marks=(*a.matched_terms, *(n for p in a.matched_on if p.kind != "word" for n in p.names)),
        reports=reports,
        n_outlets=len({r.source for r in reports}),
    )


def _failing(content: DigestContent, zone: ZoneInfo) -> list[_SourceView]:
    return [
        _SourceView(
            name=oneline(s.name),
            href=safe_url(s.url),
            error_count=s.error_count,
            last_error=_clip(oneline(s.last_error or ""), 200),
            next_check=_local(s.next_check_at, zone),
        )
        for s in content.failing_sources
    ]


def _trend_context(content: DigestContent) -> dict[str, Any]:
    # An empty period stays a short note: no table, no chart.
    trends = content.actor_trends if content.articles else ()
    views = _trend_views(trends, trend_colours(trends))
    lead = [v for v in views if v.type not in GEO_TYPES]
    return {
        "top_actors": [] if trends else top_actors(content.articles),
        "trends": lead[:TABLE_ACTORS],
        "geo_trends": [v for v in views if v.type in GEO_TYPES],
        "more_trends": max(len(lead) - TABLE_ACTORS, 0),
        "has_baseline": any(v.baseline for v in views),
        "rising": [v.name for v in views if v.rising],
        "trend_lines": _trend_lines(lead[:TABLE_ACTORS]) if lead else [],
    }


def _context(content: DigestContent) -> dict[str, Any]:
    zone = _zone(content.timezone)
    articles = [_article_view(a, zone) for a in content.articles]
    outlets = {r.source for v in articles for r in v.reports}
    reports = content.total_reports or sum(len(v.reports) for v in articles)
    stories = max(content.total_stories, len(articles))
    start, end = period_ends(content.period_start, content.period_end, zone)
    types = [c.type for a in content.articles for c in a.actors]
    types += [t.type for t in content.actor_trends] if content.articles else []
    return {
        "c": content,
        "is_alert": content.kind == "alert",
        "watchlist": oneline(content.watchlist),
        "query": oneline(content.query),
        "period_start": start,
        "period_end": end,
        "period": period_label(content.period_start, content.period_end, zone),
        "generated_at": _local(content.generated_at, zone),
        "timezone": content.timezone,
        "articles": articles,
        "n_articles": len(articles),
        "n_stories": stories,
        "more_stories": stories - len(articles),
        "n_reports": reports,
        "n_outlets": len(outlets),
        "legend": chip_legend(types),
        **_trend_context(content),
        "chart_src": "",
        "chart_alt": "",
        "chart_size": CHART_SIZE,
        "failing": _failing(content, zone),
        "undelivered": [
            (period_label(u.period_start, u.period_end, zone), _clip(oneline(u.error), 200))
            for u in content.undelivered
        ],
        "subject": digest_subject(content),
    }


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- public API -----------------------------------------------------------------------


def digest_subject(content: DigestContent) -> str:
    """ "[monitor] iraq-militias — 12 stories — 2026-12-01": one line, at most 150 chars."""
    day = _local(content.period_end, _zone(content.timezone))[:10]
    n = max(content.total_stories, len(content.articles))
    count = plural(n, "story", "stories") if n else "nothing new"
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


def chart_cid(content: DigestContent) -> str:
    """The Content-ID of the digest's chart: derived from (watchlist, period), so stable."""
    key = "\n".join((content.watchlist, _utc(content.period_start), _utc(content.period_end)))
    return f"actor-trends.{hashlib.sha256(key.encode()).hexdigest()[:16]}@monitor"


def digest_chart(content: DigestContent) -> bytes | None:
    """The PNG of daily mentions of the leading actors, or None (no trends, empty period)."""
    if not content.articles:
        return None
    return trend_chart_png(content.actor_trends, content.period_end, _zone(content.timezone))


def _chart_alt(content: DigestContent) -> str:
    names = ", ".join(oneline(t.name) for t in leading_trends(content.actor_trends))
    days = max(len(t.daily) for t in content.actor_trends)
    return f"Chart: matched articles per day over {days} days for {names}"


def render_digest(content: DigestContent, *, templates_dir: Path | None = None) -> RenderedDigest:
    """The digest email's subject, plain text and HTML (CSS inlined for mail clients).

    With actor trends the HTML shows the chart as `<img src="cid:...">` and `images` holds
    its PNG under that Content-ID; `inline_images` turns it into a self-contained page.
    """
    context = _context(content)
    chart = digest_chart(content)
    images: dict[str, bytes] = {}
    if chart is not None:
        cid = chart_cid(content)
        images[cid] = chart
        context.update(chart_src=f"cid:{cid}", chart_alt=_chart_alt(content))
    html = _render("digest.html.j2", context, templates_dir)
    html = css_inline.inline(html, load_remote_stylesheets=False, keep_at_rules=True)
    text = _render("digest.txt.j2", context, templates_dir)
    return RenderedDigest(
        subject=context["subject"], text=_newlines(text), html=html, images=images
    )


def inline_images(rendered: RenderedDigest) -> str:
    """The HTML with each `cid:` image as a data: URI: one self-contained file for reports."""
    html = rendered.html
    for cid, png in rendered.images.items():
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        # Our own attribute, quoted: escaped feed text can never contain `src="cid:`.
        html = html.replace(f'src="cid:{cid}"', f'src="{uri}"')
    return html


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
    days = max((len(t.daily) for t in content.actor_trends), default=0)
    doc["trend_days"] = [
        d.isoformat() for d in trend_days(content.period_end, _zone(content.timezone), days)
    ]
    return json.dumps(doc, default=_json_default, ensure_ascii=False, indent=2) + "\n"


CSV_COLUMNS = (
    "matched_at", "published_at", "source", "title", "url", "actors", "actor_ids",
    "matched_terms", "also_reported_count", "also_reported_by", "story_id", "snippet",
    "status", "matched_on",
)  # fmt: skip


def _cell(value: object) -> str:
    text = oneline("" if value is None else value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(content: DigestContent) -> str:
    """One row per story (its face; the other matched reports' URLs in `also_reported_by`);
    cells one-line and defused against spreadsheet formulas."""
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
            a.status,
            "; ".join(matched_labels(a.matched_on)),
        )
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue()


_ATOM = "http://www.w3.org/2005/Atom"
# Characters XML 1.0 forbids even escaped (most C0 controls, surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: object) -> str:
    return _NOT_XML.sub("", oneline(value))


def _utc(dt: datetime) -> str:
    # UTC with a fixed offset sorts as text, which is how feed entries are ordered.
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def feed_id(watchlist: str) -> str:
    """The Atom id of a watchlist's feed: the same for as long as the watchlist is named so."""
    return f"urn:monitor:watchlist:{quote(oneline(watchlist), safe='')}"


def digest_entry_id(content: DigestContent) -> str:
    """The Atom id of one digest, from (watchlist, period): a re-render replaces its entry."""
    name = quote(oneline(content.watchlist), safe="")
    start, end = (quote(_utc(t), safe="") for t in (content.period_start, content.period_end))
    return f"urn:monitor:digest:{name}:{start}:{end}"


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _summary(context: dict[str, Any]) -> str:
    n = context["n_stories"]
    if not n:
        return f"Nothing new between {context['period_start']} and {context['period_end']}."
    line = f"{plural(n, 'story', 'stories')} · {plural(context['n_reports'], 'report')}"
    line += f" from {plural(context['n_outlets'], 'outlet')}."
    if context["rising"]:
        line += " Rising: " + ", ".join(context["rising"]) + "."
    return line


def _digest_entry(
    content: DigestContent, alternate_url: str | None, templates_dir: Path | None
) -> ET.Element:
    context = _context(content)
    entry = ET.Element("entry")
    _el(entry, "id", digest_entry_id(content))
    _el(entry, "title", _xml_text(digest_subject(content).removeprefix("[monitor] ")))
    _el(entry, "updated", _utc(content.generated_at or content.period_end))
    _el(entry, "published", _utc(content.period_end))
    href = safe_url(alternate_url) or quote(alternate_url or "", safe="/._-")
    if href:
        _el(entry, "link", rel="alternate", type="text/html", href=href)
    _el(entry, "summary", _xml_text(_summary(context)))
    chips = {c.id: c for a in content.articles for c in a.actors}
    for chip in list(chips.values())[:TABLE_ACTORS]:
        _el(entry, "category", term=_xml_text(chip.id), label=_xml_text(chip.name))
    html = _render("digest.entry.html.j2", context, templates_dir)
    _el(entry, "content", _NOT_XML.sub("", _newlines(html)), type="html")
    return entry


def _previous_entries(previous: str | None) -> list[ET.Element]:
    if not previous:
        return []
    try:
        root = ET.fromstring(previous)
    except ET.ParseError as exc:
        log.warning("the Atom feed could not be read (%s); it starts afresh", exc)
        return []
    if root.tag != f"{{{_ATOM}}}feed":
        log.warning("the Atom feed's root is %s, not an Atom feed; it starts afresh", root.tag)
        return []
    # Our elements are built unqualified under one xmlns (ElementTree's default_namespace
    # refuses plain attributes, and register_namespace would change a process-wide table).
    for el in root.iter():
        el.tag = el.tag.removeprefix(f"{{{_ATOM}}}")
    return root.findall("entry")


def render_atom(
    content: DigestContent,
    *,
    previous: str | None = None,
    self_url: str | None = None,
    alternate_url: str | None = None,
    limit: int = FEED_ENTRIES,
    templates_dir: Path | None = None,
) -> str:
    """The watchlist's Atom feed, one entry per digest, with this digest as an entry.

    `previous` is the feed's current text: its entries are kept, newest period first, at
    most `limit`, and one with this digest's id is replaced. `self_url` is where readers
    fetch the feed (rel=self); `alternate_url` the digest's HTML page (may be relative).
    """
    new = _digest_entry(content, alternate_url, templates_dir)
    new_id = new.findtext("id")
    kept = [e for e in _previous_entries(previous) if e.findtext("id") != new_id]
    entries = sorted([new, *kept], key=lambda e: e.findtext("published") or "", reverse=True)
    entries = entries[: max(limit, 1)]
    feed = ET.Element("feed", xmlns=_ATOM)
    _el(feed, "id", feed_id(content.watchlist))
    _el(feed, "title", f"monitor: {_xml_text(content.watchlist)}")
    _el(feed, "subtitle", _xml_text(content.query))
    if self_url:
        _el(feed, "link", rel="self", type="application/atom+xml", href=_xml_text(self_url))
    _el(feed, "updated", max(e.findtext("updated") or "" for e in entries))
    _el(_el(feed, "author"), "name", "monitor")
    _el(feed, "generator", "monitor")
    feed.extend(entries)
    ET.indent(feed)
    text = ET.tostring(feed, encoding="unicode", xml_declaration=True)
    return text + "\n"
