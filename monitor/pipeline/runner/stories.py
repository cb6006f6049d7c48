"""Duplicates and stories in storage: identity keys, MinHash bands, groups and stories.

The earliest published article of a group is its original, whatever the processing order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from types import EllipsisType
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    union,
    union_all,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.expression import ColumnElement

from monitor.models import EntityHit, ExtractedText
from monitor.pipeline import dedup
from monitor.pipeline.runner.context import Context
from monitor.storage.prepared import Prepared
from monitor.storage.schema import (
    ArticleRow,
    BandRow,
    SignatureRow,
    StoryKeyRow,
    StoryRow,
    StoryTermsRow,
)

# --- duplicates and stories -------------------------------------------------------------

MAX_NEAR_CANDIDATES = 200  # a flooded bucket (shared boilerplate) must not stall a lookup
# Reports clustered again around a new one, at most (the nearest in time): a busy story's
# newest reports, not its whole history.
MAX_STORY_NEIGHBOURHOOD = 24
# Counting a window's articles stops here: past it, "rare" means under a share of this many,
# so a busy week costs the same as a quiet one.
STORY_WINDOW_SAMPLE = 2000
SETTLE_BATCH = 50  # originals settled per transaction
SETTLE_GROWTH = 1.25  # a story window grown by more than this since: clustered again
_CLUSTERED = "monitor.story_clustered"  # Session.info key: originals clustered, window size
_WINDOW_COUNTS = "monitor.story_window_counts"  # Session.info key: per-window key counts


def _link_duplicate(
    ctx: Context,
    s: Session,
    row: ArticleRow,
    ex: ExtractedText,
    hits: Sequence[EntityHit],
    now: datetime,
    *,
    sig: dedup.Signature | EllipsisType | None = ...,
    keys: tuple[int, ...] | EllipsisType = ...,
    page: str | EllipsisType | None = ...,
) -> None:
    """Link a copy to its group's original (tiers 1-3), put the article in a story, index it.

    `sig` (`dedup.signature(row.text, ctx.dedup)`), `keys` (`dedup.article_story_keys` of
    the title, text and hits) and `page` (`dedup.canonical_url` of the page's own canonical
    link, None without one) are what the caller computed already, in an extraction worker;
    the default `...` computes them here.

    Groups and stories are the connected parts of a symmetric relation, and the original is
    the earliest published member, so the outcome does not depend on processing order.
    Lookups read plain rows through Core statements compiled once and run on the DBAPI
    cursor (`Prepared`), not ORM objects: one statement finds the identity matches and the
    LSH candidates with their sketches.
    """
    p = ctx.dedup
    if isinstance(page, EllipsisType):
        page = dedup.canonical_url(ex.canonical_url) if ex.canonical_url else None
    if page is not None:
        row.page_canonical_url = page if page != row.canonical_url else None
    at = _article_time(row)
    if isinstance(sig, EllipsisType):
        sig = dedup.signature(row.text, p)
    s.flush()  # the statements below run on the DBAPI cursor: they see flushed rows only
    found = _lookup(s, row, sig)
    copies = {o.id: o for o, _, same in found if same}
    exact = any(o.text_hash == row.text_hash for o in copies.values())
    related: dict[int, _Other] = {}
    sig = None if exact else sig
    if sig is not None:
        for other, sim in _near_matches(s, row, sig, [(o, st) for o, st, _ in found], p):
            if dedup.is_duplicate(sim, p):
                copies[other.id] = other
            elif sim.best >= p.story_similarity and abs(other.at - at) <= p.story_window:
                related[other.id] = other
    if exact:
        keys = ()
    elif isinstance(keys, EllipsisType):
        keys = dedup.article_story_keys(row.title, row.text, hits, p)
    _join_group(s, row, {o.duplicate_of_id or o.id for o in copies.values()})
    # Only originals are clustered: a copy's terms would never be read. A background
    # piece stores none either: no report joins its story, it joins none.
    background = dedup.is_background(row.title or "", row.url)
    tf = dedup.term_counts(keys) if row.duplicate_of_id is None and not background else {}
    copy_stories = {o.story_id for o in copies.values() if o.story_id is not None}
    if copy_stories:  # a copy is its text's story, whatever its words say
        _join_story(s, row, copy_stories, now)
    elif background:
        _join_story(s, row, set(), now)
    else:
        near = {o.story_id for o in related.values() if o.story_id is not None}
        _cluster_story(s, row, tf, at, near, p, now)
    _index_article(s, p, row, sig, keys, tf, at)


@dataclass(frozen=True)
class _Other:
    """What linking needs of a stored article found by a lookup (a plain row, no ORM object)."""

    id: int
    text_hash: str | None
    duplicate_of_id: int | None
    story_id: int | None
    at: datetime  # published, or else discovered


_OTHER_COLUMNS = (
    ArticleRow.id,
    ArticleRow.text_hash,
    ArticleRow.duplicate_of_id,
    ArticleRow.story_id,
    func.coalesce(ArticleRow.published_at, ArticleRow.discovered_at),
)
_Stored = tuple[int, bytes] | None  # a candidate's sketch (shingle count, bytes), if any


def _article_time(row: ArticleRow) -> datetime:
    return row.published_at or row.discovered_at


def _slots(n: int, step: int) -> int:
    """Parameter slots for `n` values: a multiple of `step`, so a few compiled forms serve."""
    return max(step, -(-n // step) * step)


def _padded(prefix: str, values: Sequence[int], slots: int, pad: int) -> dict[str, int]:
    return {f"{prefix}{i}": values[i] if i < len(values) else pad for i in range(slots)}


@lru_cache(maxsize=64)
def _lookup_statement(
    null_hash: bool, page: bool, guid: bool, guid_url: bool, buckets: int
) -> Prepared:
    """Tiers 1-3 in one statement: the processed articles that are the same page (canonical
    URL either way round, a global GUID) or text, found by a union of indexed lookups (an OR
    across columns would scan), and those sharing an LSH bucket (one of `buckets` slots,
    none when 0), each with its sketch and whether it is an identity match."""
    clauses = [
        ArticleRow.text_hash.is_(None) if null_hash else ArticleRow.text_hash == bindparam("h"),
        ArticleRow.page_canonical_url == bindparam("url"),
    ]
    if page:
        clauses.append(ArticleRow.canonical_url == bindparam("page"))
        clauses.append(ArticleRow.page_canonical_url == bindparam("page"))
    if guid:
        clauses.append(ArticleRow.guid == bindparam("guid"))
        if guid_url:
            clauses.append(ArticleRow.canonical_url == bindparam("guid_url"))
    parts = [select(ArticleRow.id).where(c) for c in clauses]
    if buckets:
        candidates = (
            select(BandRow.article_id)
            .where(
                BandRow.bucket.in_([bindparam(f"b{i}") for i in range(buckets)]),
                BandRow.article_id != bindparam("me"),
            )
            .distinct()
            .limit(MAX_NEAR_CANDIDATES)
        )
        parts.append(select(candidates.subquery().c.article_id))
    return Prepared(
        select(*_OTHER_COLUMNS, SignatureRow.shingles, SignatureRow.sketch, or_(*clauses))
        .outerjoin(SignatureRow, SignatureRow.article_id == ArticleRow.id)
        .where(
            ArticleRow.id.in_(union(*parts)),
            ArticleRow.id != bindparam("me"),
            ArticleRow.state == "processed",
        )
    )


def _lookup(
    s: Session, row: ArticleRow, sig: dedup.Signature | None
) -> list[tuple[_Other, _Stored, bool]]:
    """Tiers 1-3: each article found, its stored sketch, and whether it is the same page or
    text. An identity match compared on its sketch too only confirms what it is already."""
    # Most feeds use the permalink as GUID: its key is then the canonical URL we have.
    same = row.guid is not None and row.guid.strip() == row.url
    same = same and row.url.lower().startswith(("http://", "https://"))
    guid = row.canonical_url if same else dedup.guid_key(row.guid)
    guid_url = guid is not None and guid != row.canonical_url and guid.startswith("http")
    keys = () if sig is None else sig.band_keys
    slots = _slots(len(keys), 12) if keys else 0
    stmt = _lookup_statement(
        row.text_hash is None, bool(row.page_canonical_url), guid is not None, guid_url, slots
    )
    params = {
        "h": row.text_hash,
        "url": row.canonical_url,
        "page": row.page_canonical_url,
        "guid": row.guid,
        "guid_url": guid,
        "me": row.id,
        # Spare slots repeat a key: `IN` is a set, so nothing else is found.
        **_padded("b", keys, slots, keys[0] if keys else 0),
    }
    return [
        (
            _Other(aid, text_hash, dup, story, at),
            None if sketch is None else (shingles, sketch),
            bool(same),
        )
        for aid, text_hash, dup, story, at, shingles, sketch, same in stmt.rows(s, params)
    ]


def _near_matches(
    s: Session,
    row: ArticleRow,
    sig: dedup.Signature,
    found: Sequence[tuple[_Other, _Stored]],
    p: dedup.DedupParams,
) -> list[tuple[_Other, dedup.Similarity]]:
    """Tier 3: the articles found, verified on their stored sketches."""
    out = []
    mine = None
    for other, stored in found:
        if stored is None:
            continue
        shingles, sketch = stored
        sim = dedup.compare(sig, dedup.Signature(shingles, sketch, ()), p.sketch_size)
        if dedup.undecided(sim, p):
            # Rare (a bucket shared, yet no clear call): verify on the stored texts.
            mine = dedup.text_shingles(row.text, p) if mine is None else mine
            text = _TEXT_OF.scalar(s, {"id": other.id}) or ""
            sim = dedup.exact_compare(mine, dedup.text_shingles(text, p))
        out.append((other, sim))
    return out


def _window_start(at: datetime, p: dedup.DedupParams) -> datetime:
    """The story window weighing the terms of reports published on `at`'s (UTC) day: the
    days around it, the same for every report of that day."""
    return at.replace(hour=0, minute=0, second=0, microsecond=0) - p.story_window


def _window_key_counts(
    s: Session, keys: Iterable[int], at: datetime, p: dedup.DedupParams
) -> dict[int, int]:
    """Indexed articles carrying each key (and ANY_KEY: all of them) in the story window of
    `at`, each counted once per session (transaction) and then kept in step by
    `_counted_in` as the session indexes articles."""
    start = _window_start(at, p)
    windows: dict[datetime, dict[int, int]] = s.info.setdefault(_WINDOW_COUNTS, {})
    counts = windows.setdefault(start, {})
    missing = [k for k in dict.fromkeys((dedup.ANY_KEY, *keys)) if k not in counts]
    if missing:
        end = start + 2 * p.story_window + timedelta(days=1)
        found = _window_counts(s, missing, (start, end, 0), STORY_WINDOW_SAMPLE + 1)
        counts.update({k: found.get(k, 0) for k in missing})
    return counts


def _counted_in(s: Session, keys: Iterable[int], at: datetime, p: dedup.DedupParams) -> None:
    """Count a newly indexed article's keys in the session's windows that hold its time."""
    windows: dict[datetime, dict[int, int]] | None = s.info.get(_WINDOW_COUNTS)
    for start, counts in (windows or {}).items():
        if start <= at < start + 2 * p.story_window + timedelta(days=1):
            for k in keys:
                if k in counts:
                    counts[k] += 1


def story_vectors(
    s: Session,
    tf: dict[int, int],
    others: dict[int, dict[int, int]],
    at: datetime,
    p: dedup.DedupParams,
    *,
    stored: bool = False,
) -> tuple[dedup.StoryVector, dict[int, dedup.StoryVector]]:
    """The story vectors of an article about to be indexed (its term counts `tf`) and of
    stored `others`: tf-idf with the idf over the story window of the article's day as it
    stands with the article in it (`stored`: it is counted already). Weighed now, not
    when each report was stored, a neighbourhood's reports weigh their words alike
    whatever order they came in."""
    keys = set(tf).union(*others.values())
    counts = _window_key_counts(s, keys, at, p)
    new = not stored
    articles = min(counts[dedup.ANY_KEY], STORY_WINDOW_SAMPLE) + new
    df = {k: counts[k] + (new and k in tf) for k in keys}
    return (
        dedup.story_vector(tf, df, articles, p),
        {aid: dedup.story_vector(terms, df, articles, p) for aid, terms in others.items()},
    )


def _cluster_story(
    s: Session,
    row: ArticleRow,
    tf: dict[int, int],
    at: datetime,
    near: set[int],
    p: dedup.DedupParams,
    now: datetime,
) -> None:
    """Put `row` in a story by clustering it with the stories near it (`_regroup`)."""
    me = dedup.StoryMember(row.id, None, at, row.canonical_url, {})
    story = _regroup(s, me, tf, near, p, now, stored=False)
    seen: dict[int, int] = s.info.setdefault(_CLUSTERED, {})
    seen[row.id] = _window_key_counts(s, (), at, p)[dedup.ANY_KEY]
    if story is None:
        _join_story(s, row, set(), now)
    else:
        _join_story(s, row, {story}, now)


def _regroup(
    s: Session,
    me: dedup.StoryMember,
    tf: dict[int, int],
    near: set[int],
    p: dedup.DedupParams,
    now: datetime,
    *,
    stored: bool,
) -> int | None:
    """Cluster the reports around `me` (term counts `tf`) again and store the outcome; the
    story `me` is in (None: a new one, for an article not stored yet).

    The neighbourhood is the stories of the articles sharing one of its heaviest keys in
    the link window, and `near` (partial copies). Its reports are clustered again as a
    whole (average linkage), so a report joins the story it is close to as a whole, and a
    late report can also split or join stories as the evidence now says, not as it said
    in arrival order."""
    at = me.at
    lo, hi = at - p.story_link_window, at + p.story_link_window
    vector, _ = story_vectors(s, tf, {}, at, p, stored=stored)
    top = dedup.top_keys(vector, p.story_top_keys)
    stories = near | (_stories_near(s, top, lo, hi, me.id) if top else set())
    if me.story_id is not None:
        stories.add(me.story_id)
    if not stories:
        return None
    members = _story_members(s, stories, at - p.story_window, at + p.story_window, me.id)
    terms = _terms(s, [m[0] for m in members])
    vector, vectors = story_vectors(s, tf, terms, at, p, stored=stored)
    neighbourhood = [
        dedup.StoryMember(aid, story, when, url, vectors.get(aid, {}))
        for aid, story, when, url in members
    ]
    neighbourhood.append(dataclasses.replace(me, vector=vector))
    kept: set[int] = set()
    mine: int | None = None
    for cluster, story in dedup.assign_stories(dedup.average_linkage(neighbourhood, p)):
        if story is None:
            title = min(cluster, key=lambda m: (m.at, m.url)).id
            story = _NEW_STORY.scalar(
                s,
                {"created_at": now, "updated_at": now, "title": _TITLE_OF.scalar(s, {"id": title})},
            )
        assert story is not None
        if any(m.id == me.id for m in cluster):
            mine = story
        kept.add(story)
        moved = [m.id for m in cluster if m.story_id != story and (stored or m.id != me.id)]
        _move_to_story(s, moved, story)
    # A story no cluster continues may still hold reports outside the neighbourhood.
    _drop_empty_stories(s, stories - kept)
    return mine


def clustered_in(s: Session) -> dict[int, int]:
    """The originals this session put in a story by their words, each with the number of
    articles its story window held then."""
    return dict(s.info.get(_CLUSTERED, {}))


def settle_stories(ctx: Context, clustered: dict[int, int]) -> None:
    """Cluster again, once a pass is stored, around each original it clustered in a story
    window that has grown by more than SETTLE_GROWTH since, in publication order. Each was
    clustered with the window as it stood when it came: in a backfill or a first import
    (newest first, or all at once) the early ones met a nearly empty window, which weighs
    every word as rare. After this, stories are what the stored reports say, whatever
    order they came in; a daemon's pass, which grows a week's window by little, settles
    little."""
    p = ctx.dedup
    ids = sorted(clustered)
    now = ctx.clock()
    for start in range(0, len(ids), SETTLE_BATCH):
        with ctx.db.session() as s:
            chunk = ids[start : start + SETTLE_BATCH]
            terms = _terms(s, chunk)
            rows = s.execute(_SETTLE_ROWS, {"ids": chunk}).all()
            for aid, at, url in sorted(rows, key=lambda r: (r[1], r[2], r[0])):
                window = _window_key_counts(s, (), at, p)[dedup.ANY_KEY]
                if aid not in terms or window <= clustered[aid] * SETTLE_GROWTH:
                    continue
                story = _STORY_OF.scalar(s, {"id": aid})
                me = dedup.StoryMember(aid, story, at, url, {})
                _regroup(s, me, terms[aid], set(), p, now, stored=True)


def _stories_near(s: Session, keys: Sequence[int], lo: datetime, hi: datetime, me: int) -> set[int]:
    """Stories of the articles carrying one of `keys` between `lo` and `hi`."""
    return {
        sid
        for (sid,) in s.connection().execute(
            _STORIES_NEAR, {"keys": list(keys), "lo": lo, "hi": hi, "me": me}
        )
        if sid is not None
    }


def _story_members(
    s: Session, stories: set[int], lo: datetime, hi: datetime, me: int
) -> list[tuple[int, int, datetime, str]]:
    """(id, story, time, canonical URL) of the stories' originals between `lo` and `hi`,
    the nearest in time first, at most MAX_STORY_NEIGHBOURHOOD."""
    params = {"stories": sorted(stories), "lo": lo, "hi": hi, "me": me}
    rows = s.connection().execute(_STORY_MEMBERS, params)
    members = [(aid, sid, at, url) for aid, sid, at, url, copy in rows if copy is None and sid]
    mid = lo + (hi - lo) / 2
    members.sort(key=lambda m: (abs(m[2] - mid), m[3]))
    return members[:MAX_STORY_NEIGHBOURHOOD]


def _terms(s: Session, ids: Sequence[int]) -> dict[int, dict[int, int]]:
    """The stored story-term counts of originals."""
    out: dict[int, dict[int, int]] = {}
    for start in range(0, len(ids), 500):
        chunk = {"ids": list(ids[start : start + 500])}
        for aid, keys, counts in s.connection().execute(_TERMS, chunk):
            out[aid] = dedup.unpack_terms(keys, counts)
    return out


def _move_to_story(s: Session, originals: list[int], story: int) -> None:
    """Move originals and their copies to another story."""
    if originals:
        where = or_(ArticleRow.id.in_(originals), ArticleRow.duplicate_of_id.in_(originals))
        _update_articles(s, where, story_id=story)


def _drop_empty_stories(s: Session, stories: set[int]) -> None:
    if not stories:
        return
    s.flush()
    empty = [sid for sid in sorted(stories) if _STORY_SIZE.scalar(s, {"story": sid}) is None]
    if empty:
        s.execute(delete(StoryRow).where(StoryRow.id.in_(empty)))


_STORIES_NEAR = (
    select(ArticleRow.story_id)
    .where(
        ArticleRow.id.in_(
            select(StoryKeyRow.article_id)
            .where(
                StoryKeyRow.key.in_(bindparam("keys", expanding=True)),
                StoryKeyRow.at >= bindparam("lo"),
                StoryKeyRow.at <= bindparam("hi"),
                StoryKeyRow.article_id != bindparam("me"),
            )
            .limit(MAX_NEAR_CANDIDATES)
        ),
        ArticleRow.duplicate_of_id.is_(None),
    )
    .distinct()
)
# Copies are left out in Python: `duplicate_of_id IS NULL` in SQL leads SQLite to scan that
# index (most articles are originals) instead of finding the stories' rows.
_STORY_MEMBERS = select(
    ArticleRow.id,
    ArticleRow.story_id,
    _OTHER_COLUMNS[-1],
    ArticleRow.canonical_url,
    ArticleRow.duplicate_of_id,
).where(
    ArticleRow.story_id.in_(bindparam("stories", expanding=True)),
    ArticleRow.id != bindparam("me"),
    _OTHER_COLUMNS[-1] >= bindparam("lo"),
    _OTHER_COLUMNS[-1] <= bindparam("hi"),
)
_TERMS = select(StoryTermsRow.article_id, StoryTermsRow.keys, StoryTermsRow.counts).where(
    StoryTermsRow.article_id.in_(bindparam("ids", expanding=True))
)
_SETTLE_ROWS = select(ArticleRow.id, _OTHER_COLUMNS[-1], ArticleRow.canonical_url).where(
    ArticleRow.id.in_(bindparam("ids", expanding=True)), ArticleRow.duplicate_of_id.is_(None)
)
_STORY_OF = Prepared(select(ArticleRow.story_id).where(ArticleRow.id == bindparam("id")))
_STORY_SIZE = Prepared(
    select(ArticleRow.id).where(ArticleRow.story_id == bindparam("story")).limit(1)
)
_TITLE_OF = Prepared(select(ArticleRow.title).where(ArticleRow.id == bindparam("id")))


_NO_KEY = 0  # pads a statement's key slots; no stored key hashes to it in practice
_COUNT_SLOTS = 16  # keys per counting statement; padded, so one compiled statement serves


@lru_cache(maxsize=4)
def _window_count_statement(slots: int) -> Prepared:
    """(key, count) for each key slot: a count over one bounded index range per key. Counted
    apart, in scalar subqueries: a GROUP BY over all the ranges' rows sorts them first."""
    parts = []
    for i in range(slots):
        key = bindparam(f"k{i}", type_=BigInteger)
        hits = (
            select(literal_column("1"))
            .where(
                StoryKeyRow.key == key,
                StoryKeyRow.at >= bindparam("lo"),
                StoryKeyRow.at <= bindparam("hi"),
                StoryKeyRow.article_id != bindparam("me"),
            )
            .limit(bindparam("lim", type_=Integer))
            .subquery()
        )
        parts.append(select(key, select(func.count()).select_from(hits).scalar_subquery()))
    return Prepared(union_all(*parts))


def _window_counts(
    s: Session,
    keys: Sequence[int],
    window: tuple[datetime, datetime, int],
    limit: int,
    slots: int = _COUNT_SLOTS,
) -> dict[int, int]:
    """Articles carrying each key in the window, counted up to `limit` (all a caller needs)."""
    lo, hi, me = window
    out: dict[int, int] = {}
    stmt = _window_count_statement(slots)
    for start in range(0, len(keys), slots):
        params = _padded("k", keys[start : start + slots], slots, _NO_KEY)
        rows = stmt.rows(s, {**params, "lo": lo, "hi": hi, "me": me, "lim": limit})
        out.update({key: n for key, n in rows if n and key != _NO_KEY})
    return out


@dataclass(frozen=True, order=True)
class _Head:
    """A group's original, ordered as originals are: earliest published, then by URL (the
    same way in any processing order)."""

    at: datetime
    canonical_url: str
    id: int
    duplicate_of_id: int | None = field(compare=False)


def _join_group(s: Session, row: ArticleRow, roots: set[int]) -> None:
    """Merge `row` and the groups whose originals are `roots`; the earliest becomes original."""
    if not roots:
        row.duplicate_of_id = None
        return
    ids = sorted(roots)
    slots = _slots(len(ids), 4)
    heads = [_Head(*r) for r in _heads(slots).rows(s, _padded("r", ids, slots, ids[0]))]
    earlier = [h for h in heads if (h.at, h.canonical_url) < _original_order(row)]
    original = min(earlier).id if earlier else row.id
    for head in heads:
        # Rare (an article bridging groups): ORM statements keep loaded rows in step.
        if head.id != original:
            members = or_(ArticleRow.duplicate_of_id == head.id, ArticleRow.id == head.id)
            _update_articles(s, members, duplicate_of_id=original)
        elif head.duplicate_of_id is not None:
            _update_articles(s, ArticleRow.id == head.id, duplicate_of_id=None)
    if original != row.id:
        row.duplicate_of_id = original
        return
    row.duplicate_of_id = None
    s.flush()


def _update_articles(s: Session, where: ColumnElement[bool], **values: Any) -> None:
    s.execute(
        update(ArticleRow)
        .where(where)
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )


@lru_cache(maxsize=8)
def _heads(slots: int) -> Prepared:
    return Prepared(
        select(
            _OTHER_COLUMNS[-1], ArticleRow.canonical_url, ArticleRow.id, ArticleRow.duplicate_of_id
        ).where(ArticleRow.id.in_([bindparam(f"r{i}") for i in range(slots)]))
    )


def _original_order(a: ArticleRow) -> tuple[datetime, str]:
    # Published time first; the canonical URL breaks ties the same way in any order.
    return (_article_time(a), a.canonical_url)


def _join_story(s: Session, row: ArticleRow, story_ids: set[int], now: datetime) -> None:
    """Put `row` in the story it belongs to; an article bridging stories merges them."""
    if not story_ids:
        row.story_id = _NEW_STORY.scalar(
            s, {"created_at": now, "updated_at": now, "title": row.title}
        )
        return
    keep, *merged = sorted(story_ids)
    if merged:
        _update_articles(s, ArticleRow.story_id.in_(merged), story_id=keep)
    row.story_id = keep
    if merged:
        s.flush()
        s.execute(delete(StoryRow).where(StoryRow.id.in_(merged)))
    _TOUCH_STORY.execute(s, [{"story": keep, "at": now}])
    loaded = s.identity_map.get(identity_key(StoryRow, keep))
    if loaded is not None:  # a StoryRow this session holds sees the change too
        set_committed_value(loaded, "updated_at", now)


def _index_article(
    s: Session,
    p: dedup.DedupParams,
    row: ArticleRow,
    sig: dedup.Signature | None,
    keys: Sequence[int],
    tf: dict[int, int],
    at: datetime,
) -> None:
    """Store the sketch, LSH buckets, story keys and an original's story-term counts: the
    index every process shares. Every key is stored, however common, so window counts see
    it; the first, ANY_KEY, counts the articles."""
    if sig is not None:
        _INSERT_SIGNATURE.execute(
            s, [{"article_id": row.id, "shingles": sig.shingles, "sketch": sig.sketch}]
        )
        _INSERT_BANDS.execute(s, [{"bucket": k, "article_id": row.id} for k in sig.band_keys])
    if keys:
        distinct = dict.fromkeys(keys)
        _INSERT_STORY_KEYS.execute(
            s, [{"key": k, "at": at, "article_id": row.id} for k in distinct]
        )
        _counted_in(s, distinct, at, p)
    if tf:
        packed, counts = dedup.pack_terms(tf)
        _INSERT_TERMS.execute(s, [{"article_id": row.id, "keys": packed, "counts": counts}])


def reindex_article(
    ctx: Context,
    s: Session,
    row: ArticleRow,
    old: tuple[str, datetime, Sequence[EntityHit]],
    sig: dedup.Signature | None,
    keys: Sequence[int],
) -> None:
    """Replace the index rows of an article whose text (or time) re-extraction changed.

    `old` is (text, time, stored hits) before the change. Its story keys go (found by the
    article, whatever scheme made them); when the text changed, so do the sketch and LSH
    buckets the old text made (recomputed with the current dedup code, deleted by primary
    key). When only the time changed, the sketch and buckets stay and the story vector is
    stored again at the new time, if the article had them: an exact copy's group relies on
    its original's rows. When the text changed, `sig` and `keys` of the new text come in,
    unless another article has the same text (its group's original carries the index, as
    when it was first stored). The article's links and stories are kept (`reextract`'s
    rule).
    """
    p = ctx.dedup
    old_text, _, _ = old
    s.flush()
    at = _article_time(row)
    had_keys = _HAS_STORY_KEY.scalar(s, {"article_id": row.id}) is not None
    _DELETE_STORY_KEYS.execute(s, [{"article_id": row.id}])
    _DELETE_TERMS.execute(s, [{"article_id": row.id}])
    s.info.pop(_WINDOW_COUNTS, None)  # counted with the keys just deleted
    tf = dedup.term_counts(keys) if row.duplicate_of_id is None else {}
    if row.text == old_text:  # the time alone moved: sketch and buckets stay, keys follow
        if had_keys:
            _index_article(s, p, row, None, keys, tf, at)
        return
    old_sig = dedup.signature(old_text, p) if old_text else None
    _DELETE_SIGNATURE.execute(s, [{"article_id": row.id}])
    if old_sig is not None:
        _DELETE_BANDS.execute(s, [{"bucket": k, "article_id": row.id} for k in old_sig.band_keys])
    if _SAME_TEXT.scalar(s, {"hash": row.text_hash, "me": row.id}) is None:
        _index_article(s, p, row, sig, keys, tf, at)


_NEW_STORY = Prepared(
    insert(StoryRow)
    .values(
        created_at=bindparam("created_at"),
        updated_at=bindparam("updated_at"),
        title=bindparam("title"),
    )
    .returning(StoryRow.id)
)
_TOUCH_STORY = Prepared(
    update(StoryRow).where(StoryRow.id == bindparam("story")).values(updated_at=bindparam("at"))
)
_TEXT_OF = Prepared(select(ArticleRow.text).where(ArticleRow.id == bindparam("id")))
_INSERT_SIGNATURE = Prepared(insert(SignatureRow))
_INSERT_BANDS = Prepared(insert(BandRow))
_INSERT_STORY_KEYS = Prepared(insert(StoryKeyRow))
_INSERT_TERMS = Prepared(insert(StoryTermsRow))
_DELETE_TERMS = Prepared(
    delete(StoryTermsRow).where(StoryTermsRow.article_id == bindparam("article_id"))
)
_DELETE_SIGNATURE = Prepared(
    delete(SignatureRow).where(SignatureRow.article_id == bindparam("article_id"))
)
_DELETE_BANDS = Prepared(
    delete(BandRow).where(
        BandRow.bucket == bindparam("bucket"), BandRow.article_id == bindparam("article_id")
    )
)
_DELETE_STORY_KEYS = Prepared(
    delete(StoryKeyRow).where(StoryKeyRow.article_id == bindparam("article_id"))
)
_HAS_STORY_KEY = Prepared(
    select(StoryKeyRow.article_id).where(StoryKeyRow.article_id == bindparam("article_id")).limit(1)
)
_SAME_TEXT = Prepared(
    select(ArticleRow.id)
    .where(ArticleRow.text_hash == bindparam("hash"), ArticleRow.id != bindparam("me"))
    .limit(1)
)
