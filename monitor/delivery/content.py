"""What a digest or an alert shows: the matched reports grouped into story items (new or
update, newest and growing first) and the leading actors by publication date.

`story_items`, `actor_trends` and `failing_sources` read storage (`monitor.storage`); the
rest is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.delivery.chart import GEO_TYPES, type_rank
from monitor.models import (
    ActorChip,
    ActorMention,
    ActorTrend,
    DigestArticle,
    MatchedPart,
    MatchedReport,
    OtherReport,
    SourceHealth,
)
from monitor.pipeline import retry
from monitor.pipeline.normalize import fold, words_only
from monitor.storage import digests, ledger, sources
from monitor.storage.engine import Tx

SNIPPET_CHARS = 320
ITEM_CHIPS = 10  # actor chips shown per story
TREND_DAYS = 14
BASELINE_DAYS = 7
TREND_ACTORS = 8  # rows of the actor table (armed groups, people, other actors)
TREND_PLACES = 6  # countries and places, shown in their own row


def failing_sources(tx: Tx) -> tuple[SourceHealth, ...]:
    """The sources whose last poll failed, by name."""
    return tuple(
        SourceHealth(r.name, r.url, r.error_count, r.last_error, r.next_check_at)
        for r in sources.failing(tx)
    )


# --- story items --------------------------------------------------------------------------


def story_items(
    tx: Tx,
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
    earlier = digests.earlier_story_matches(tx, watchlist, story_ids, start)
    sent = ledger.digests(tx, watchlist, (retry.SENT,), started_before=start)
    delivered = [(d.period_start, d.period_end) for d in sent]
    chips = digests.actor_chips(tx, [r.article_id for r in reports])
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


def actor_trends(tx: Tx, watchlist: str, start: datetime, end: datetime) -> tuple[ActorTrend, ...]:
    """Leading actors of the period by publication date (a backfill is not a spike)."""
    since = min(start - timedelta(days=BASELINE_DAYS), end - timedelta(days=TREND_DAYS))
    rows = digests.actor_mentions(tx, watchlist, since, end)
    first = digests.history_start(tx, watchlist, end)
    has_baseline = first is not None and first <= start - timedelta(days=BASELINE_DAYS)
    return trends_from(rows, start, end, has_baseline=has_baseline)


def trends_from(
    rows: Sequence[ActorMention], start: datetime, end: datetime, *, has_baseline: bool
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
