"""The digest's view model: a `DigestContent` turned into the template context (local times,
clipped one-line text, article/report/source/trend views, the actor table) and the subject.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.delivery.chart import CHART_SIZE, GEO_TYPES, trend_colours, trend_rank, type_rank
from monitor.delivery.render.filters import oneline, plural, safe_url
from monitor.errors import DeliveryError
from monitor.models import ActorChip, ActorTrend, DigestArticle, DigestContent, MatchedPart
from monitor.pipeline.normalize import fold_with_offsets

SUBJECT_MAX = 150
TABLE_ACTORS = 10  # rows of the actor table; the rest are counted, not listed
_TIME_FMT = "%Y-%m-%d %H:%M"

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


def time_zone(name: str) -> ZoneInfo:
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


def digest_context(content: DigestContent) -> dict[str, Any]:
    zone = time_zone(content.timezone)
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


def digest_subject(content: DigestContent) -> str:
    """ "[monitor] iraq-militias — 12 stories — 2026-12-01": one line, at most 150 chars."""
    day = _local(content.period_end, time_zone(content.timezone))[:10]
    n = max(content.total_stories, len(content.articles))
    count = plural(n, "story", "stories") if n else "nothing new"
    name = oneline(content.watchlist)
    tail = f" — {count} — {day}"
    room = SUBJECT_MAX - len("[monitor] ") - len(tail)
    return oneline(f"[monitor] {_clip(name, max(room, 10))}{tail}")[:SUBJECT_MAX]


def utc_text(dt: datetime) -> str:
    # UTC with a fixed offset sorts as text, which is how feed entries are ordered.
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
