"""What a digest or an alert shows: the matched reports grouped into story items (new or
update, newest and growing first) and the leading actors by publication date.

Reading storage is done by the named query functions at the top; the rest is pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.delivery.chart import GEO_TYPES, type_rank
from monitor.models import (
    ActorChip,
    ActorTrend,
    DigestArticle,
    MatchedPart,
    OtherReport,
    SourceHealth,
)
from monitor.pipeline.normalize import fold, words_only
from monitor.storage.schema import (
    ArticleRow,
    DigestRow,
    EntityRow,
    MatchRow,
    MentionRow,
    SourceRow,
)

SNIPPET_CHARS = 320
ITEM_CHIPS = 10  # actor chips shown per story
TREND_DAYS = 14
BASELINE_DAYS = 7
TREND_ACTORS = 8  # rows of the actor table (armed groups, people, other actors)
TREND_PLACES = 6  # countries and places, shown in their own row


@dataclass(frozen=True)
class MatchedReport:
    """One article a watchlist (or alert) query matched, with the terms that satisfied it."""

    article_id: int
    story_id: int | None
    url: str
    title: str
    source: str
    text: str
    published_at: datetime | None
    matched_at: datetime
    terms: tuple[str, ...]
    copy: bool

    @property
    def story_key(self) -> int:
        """The story it belongs to; an article without a story is a story of its own."""
        return self.story_id if self.story_id is not None else -self.article_id

    @property
    def when(self) -> datetime:
        """When it was published, else when it was matched."""
        return self.published_at or self.matched_at


@dataclass(frozen=True)
class TrendRow:
    """One matched original naming one actor: its publication (else discovery) time."""

    when: datetime
    entity_id: str
    name: str
    type: str


# --- queries ------------------------------------------------------------------------------


def matched_report(match: MatchRow, article: ArticleRow) -> MatchedReport:
    return MatchedReport(
        article_id=article.id,
        story_id=article.story_id,
        url=article.url,
        title=article.title or article.url,
        source=article.source_name,
        text=article.text,
        published_at=article.published_at,
        matched_at=match.matched_at,
        terms=tuple(str(t) for t in match.terms),
        copy=article.duplicate_of_id is not None,
    )


def matched_reports(
    s: Session, watchlist: str, start: datetime, end: datetime
) -> list[MatchedReport]:
    """Every article the watchlist matched in [start, end), in matching order."""
    pairs = s.execute(
        select(MatchRow, ArticleRow)
        .join(ArticleRow, ArticleRow.id == MatchRow.article_id)
        .where(
            MatchRow.watchlist == watchlist,
            MatchRow.matched_at >= start,
            MatchRow.matched_at < end,
        )
        .order_by(MatchRow.matched_at, ArticleRow.id)
    ).all()
    return [matched_report(m, a) for m, a in pairs]


def earlier_story_matches(
    s: Session, watchlist: str, story_ids: Iterable[int], before: datetime
) -> dict[int, list[datetime]]:
    """Story id -> when the watchlist matched its other reports, before `before`."""
    ids = sorted(set(story_ids))
    out: dict[int, list[datetime]] = {}
    if not ids:
        return out
    rows = s.execute(
        select(ArticleRow.story_id, MatchRow.matched_at)
        .join(ArticleRow, ArticleRow.id == MatchRow.article_id)
        .where(
            MatchRow.watchlist == watchlist,
            MatchRow.matched_at < before,
            ArticleRow.story_id.in_(ids),
        )
    ).all()
    for story_id, matched_at in rows:
        if story_id is not None:
            out.setdefault(story_id, []).append(matched_at)
    return out


def delivered_periods(
    s: Session, watchlist: str, before: datetime
) -> list[tuple[datetime, datetime]]:
    """The [start, end) periods of the watchlist's sent digests that started before `before`."""
    rows = s.execute(
        select(DigestRow.period_start, DigestRow.period_end).where(
            DigestRow.watchlist == watchlist,
            DigestRow.state == "sent",
            DigestRow.period_start < before,
        )
    ).all()
    return [(a, b) for a, b in rows]


def actor_chips(s: Session, article_ids: Iterable[int]) -> dict[int, list[ActorChip]]:
    """Article id -> the actors tagged in it, most mentioned first."""
    ids = sorted(set(article_ids))
    out: dict[int, list[ActorChip]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = s.execute(
        select(MentionRow.article_id, MentionRow.entity_id, MentionRow.count, EntityRow.name,
               EntityRow.type)
        .join(EntityRow, EntityRow.id == MentionRow.entity_id, isouter=True)
        .where(MentionRow.article_id.in_(ids))
        .order_by(MentionRow.article_id, MentionRow.count.desc(), MentionRow.entity_id)
    ).all()  # fmt: skip
    for aid, eid, count, name, etype in rows:
        out[aid].append(ActorChip(eid, name or eid, etype or "", count))
    return out


def failing_sources(s: Session) -> tuple[SourceHealth, ...]:
    rows = s.scalars(select(SourceRow).where(SourceRow.error_count > 0).order_by(SourceRow.name))
    return tuple(
        SourceHealth(r.name, r.url, r.error_count, r.last_error, r.next_check_at) for r in rows
    )


def trend_rows(s: Session, watchlist: str, since: datetime, end: datetime) -> list[TrendRow]:
    """Actor mentions of the watchlist's matched originals published in [since, end) and
    matched before `end`. Copies are left out, so syndication does not inflate an actor."""
    when = func.coalesce(ArticleRow.published_at, ArticleRow.discovered_at)
    rows = s.execute(
        select(when, MentionRow.entity_id, EntityRow.name, EntityRow.type)
        .select_from(MatchRow)
        .join(ArticleRow, ArticleRow.id == MatchRow.article_id)
        .join(MentionRow, MentionRow.article_id == MatchRow.article_id)
        .join(EntityRow, EntityRow.id == MentionRow.entity_id, isouter=True)
        .where(
            MatchRow.watchlist == watchlist,
            MatchRow.matched_at < end,
            ArticleRow.duplicate_of_id.is_(None),
            when >= since,
            when < end,
        )
    ).all()
    return [TrendRow(w, eid, name or eid, etype or "") for w, eid, name, etype in rows]


def history_start(s: Session, watchlist: str, end: datetime) -> datetime | None:
    """The earliest publication time among the watchlist's matches before `end`."""
    when = func.coalesce(ArticleRow.published_at, ArticleRow.discovered_at)
    first: datetime | None = s.scalar(
        select(func.min(when))
        .select_from(ArticleRow)
        .join(MatchRow, MatchRow.article_id == ArticleRow.id)
        .where(MatchRow.watchlist == watchlist, MatchRow.matched_at < end)
    )
    return first


# --- story items --------------------------------------------------------------------------


def story_items(
    s: Session,
    watchlist: str,
    reports: Sequence[MatchedReport],
    start: datetime,
    tz: str,
    query_terms: Sequence[str] = (),
) -> list[DigestArticle]:
    """The reports as story items, briefing order; "update" when an earlier delivered
    digest of the watchlist already carried reports of the story. `query_terms`: the
    query's word terms, to tell which of them each item matched."""
    story_ids = [r.story_id for r in reports if r.story_id is not None]
    earlier = earlier_story_matches(s, watchlist, story_ids, start)
    delivered = delivered_periods(s, watchlist, start)
    chips = actor_chips(s, [r.article_id for r in reports])
    shown = {key: _delivered_count(times, delivered) for key, times in earlier.items()}
    return build_items(reports, chips, shown, ZoneInfo(tz), query_terms)


def _delivered_count(
    times: Sequence[datetime], periods: Sequence[tuple[datetime, datetime]]
) -> int:
    return sum(1 for t in times if any(a <= t < b for a, b in periods))


def build_items(
    reports: Sequence[MatchedReport],
    chips: dict[int, list[ActorChip]],
    earlier: dict[int, int],
    zone: ZoneInfo,
    query_terms: Sequence[str] = (),
) -> list[DigestArticle]:
    """One item per story, briefing order: the newest day first; within a day the stories
    with the most reports (the growing ones), then the most recent."""
    groups: dict[int, list[MatchedReport]] = {}
    for r in reports:
        groups.setdefault(r.story_key, []).append(r)
    keyed = [
        (_briefing_key(group, zone), story_item(group, chips, earlier.get(key, 0), query_terms))
        for key, group in groups.items()
    ]
    return [item for _, item in sorted(keyed, key=lambda p: p[0])]


def _briefing_key(group: Sequence[MatchedReport], zone: ZoneInfo) -> tuple[int, int, float, int]:
    latest = max(r.when for r in group)
    day: date = latest.astimezone(zone).date()
    return (-day.toordinal(), -len(group), -latest.timestamp(), min(r.article_id for r in group))


def story_item(
    group: Sequence[MatchedReport],
    chips: dict[int, list[ActorChip]],
    earlier: int,
    query_terms: Sequence[str] = (),
) -> DigestArticle:
    """A story's face is its earliest original in the group; the others follow by time."""
    face = min(group, key=lambda r: (r.copy, r.when, r.article_id))
    others = sorted((r for r in group if r is not face), key=lambda r: (r.when, r.article_id))
    terms = tuple(dict.fromkeys(t for r in (face, *others) for t in r.terms))
    found = [c for r in group for c in chips.get(r.article_id, [])]
    return DigestArticle(
        url=face.url,
        title=face.title,
        source=face.source,
        published_at=face.published_at,
        matched_at=face.matched_at,
        snippet=snippet(face.text, terms),
        actors=lead_chips(chips.get(face.article_id, [])),
        matched_terms=terms,
        also_reported_by=tuple(
            OtherReport(r.source, r.url, r.title, r.published_at, r.matched_at, r.copy)
            for r in others
        ),
        story_id=face.story_id,
        status="update" if earlier else "new",
        earlier_reports=earlier,
        matched_on=matched_parts(terms, found, query_terms),
    )


def lead_chips(chips: Sequence[ActorChip], limit: int = ITEM_CHIPS) -> tuple[ActorChip, ...]:
    """Armed groups and people first, countries and places last; most mentioned first."""
    ranked = sorted(chips, key=lambda c: (type_rank(c.type), -c.count, c.id))
    return tuple(ranked[:limit])


def matched_parts(
    terms: Sequence[str], chips: Sequence[ActorChip], query_terms: Sequence[str] = ()
) -> tuple[MatchedPart, ...]:
    """The match's terms told apart: entity ids and types (as `entity:`/`type:` terms put
    them) with the names found, and words under the query term they satisfied (`rocket*`:
    rocket, rockets), each surface once whatever its case."""
    by_id = {c.id.casefold(): c for c in chips}
    by_type: dict[str, dict[str, int]] = {}
    for c in chips:
        names = by_type.setdefault(c.type.casefold(), {})
        names[c.name] = names.get(c.name, 0) + c.count
    parts: dict[tuple[str, str], MatchedPart] = {}
    words: dict[str, dict[str, str]] = {}  # query term -> surface key -> surface
    for term in terms:
        key = term.casefold()
        if key in by_id:
            chip = by_id[key]
            parts.setdefault(("entity", key), MatchedPart("entity", chip.id, (chip.name,)))
        elif key in by_type:
            ranked = sorted(by_type[key].items(), key=lambda kv: (-kv[1], kv[0]))
            parts.setdefault(("type", key), MatchedPart("type", key, tuple(n for n, _ in ranked)))
        else:
            surface = term.rstrip("'’")  # a plural possessive: drones'
            source = query_term_of(surface, query_terms) or surface
            parts.setdefault(("word", source), MatchedPart("word", source))
            words.setdefault(source, {}).setdefault(_key(surface), surface)
    return tuple(
        replace(p, names=tuple(words[p.term].values())) if p.kind == "word" else p
        for p in parts.values()
    )


def _key(text: str) -> str:
    return " ".join(words_only(fold(text)).split())


def query_term_of(surface: str, query_terms: Sequence[str]) -> str | None:
    """The query term (`rocket*`, `"United States"`) a matched surface satisfied, if any."""
    found = _key(surface)
    for term in query_terms:
        want = _key(term.rstrip("*"))
        if found == want or (term.endswith("*") and found.startswith(want)):
            return term
    return None


def snippet(text: str, terms: Sequence[str]) -> str:
    """A window of text around the first matched term (else the opening), on word bounds."""
    lower = text.lower()
    hits = [i for i in (lower.find(t.lower()) for t in terms if t) if i >= 0]
    start = max(0, min(hits) - SNIPPET_CHARS // 3) if hits else 0
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 40 else start
    piece = " ".join(text[start : start + SNIPPET_CHARS].split())
    prefix = "… " if start else ""
    suffix = " …" if start + SNIPPET_CHARS < len(text) else ""
    return f"{prefix}{piece}{suffix}"


def with_terms(report: MatchedReport, terms: Sequence[str]) -> MatchedReport:
    return replace(report, terms=tuple(terms))


# --- actor trends -------------------------------------------------------------------------


def actor_trends(
    s: Session, watchlist: str, start: datetime, end: datetime
) -> tuple[ActorTrend, ...]:
    """Leading actors of the period by publication date (a backfill is not a spike)."""
    since = min(start - timedelta(days=BASELINE_DAYS), end - timedelta(days=TREND_DAYS))
    rows = trend_rows(s, watchlist, since, end)
    first = history_start(s, watchlist, end)
    has_baseline = first is not None and first <= start - timedelta(days=BASELINE_DAYS)
    return trends_from(rows, start, end, has_baseline=has_baseline)


def trends_from(
    rows: Sequence[TrendRow], start: datetime, end: datetime, *, has_baseline: bool
) -> tuple[ActorTrend, ...]:
    """Per actor: originals published in the period, the baseline from the 7 days before
    (scaled to the period's length; None without a week of history), and the daily series.

    An actor is `rising` with at least 3 articles and more than twice its baseline. The table
    keeps the leading armed groups, people and other actors, and a few countries and places.
    """
    period_days = max((end - start).total_seconds() / 86400, 1 / 24)
    stats: dict[str, _Tally] = {}
    for row in rows:
        tally = stats.setdefault(row.entity_id, _Tally(row.name, row.type))
        tally.add(row.when, start, end)
    actors = sorted((i for i in stats.items() if i[1].now), key=lambda i: (-i[1].now, i[1].name))
    lead = [i for i in actors if i[1].type not in GEO_TYPES][:TREND_ACTORS]
    geo = [i for i in actors if i[1].type in GEO_TYPES][:TREND_PLACES]
    out = []
    for eid, tally in lead + geo:
        baseline = round(tally.before / BASELINE_DAYS * period_days, 2) if has_baseline else None
        rising = baseline is not None and tally.now >= 3 and tally.now > 2 * baseline
        out.append(
            ActorTrend(eid, tally.name, tally.type, tally.now, baseline, rising,
                       tuple(tally.daily))
        )  # fmt: skip
    return tuple(out)


class _Tally:
    def __init__(self, name: str, etype: str) -> None:
        self.name, self.type = name, etype
        self.now = self.before = 0
        self.daily = [0] * TREND_DAYS

    def add(self, when: datetime, start: datetime, end: datetime) -> None:
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        if when >= start:
            self.now += 1
        elif when >= start - timedelta(days=BASELINE_DAYS):
            self.before += 1
        day = int((end - when).total_seconds() // 86400)
        if 0 <= day < TREND_DAYS:
            self.daily[TREND_DAYS - 1 - day] += 1
