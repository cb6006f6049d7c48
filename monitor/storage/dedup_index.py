"""The duplicate and story index: sketches, LSH buckets, story keys and terms, duplicate
groups and stories. Lookups run on statements compiled once (`Prepared`): the hot path."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
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

from monitor.models import DedupCandidate, GroupHead, StoryNeighbour
from monitor.pipeline import dedup, story
from monitor.storage.engine import Tx
from monitor.storage.prepared import Prepared
from monitor.storage.schema import (
    ArticleRow,
    BandRow,
    SignatureRow,
    StoryKeyRow,
    StoryRow,
    StoryTermsRow,
)

MAX_NEAR_CANDIDATES = 200  # a flooded bucket (shared boilerplate) must not stall a lookup
# Reports clustered again around a new one, at most (the nearest in time): a busy story's
# newest reports, not its whole history.
MAX_STORY_NEIGHBOURHOOD = 24
# Counting a window's articles stops here: past it, "rare" means under a share of this many,
# so a busy week costs the same as a quiet one.
STORY_WINDOW_SAMPLE = 2000
_WINDOW_COUNTS = "monitor.story_window_counts"  # Session.info key: per-window key counts
_published = func.coalesce(ArticleRow.published_at, ArticleRow.discovered_at)


# --- the article being linked ----------------------------------------------------------


def set_page(tx: Tx, article: int, page: str | None) -> None:
    """Record an article's page canonical link (None: none, or the same as its own)."""
    row = tx.session.get(ArticleRow, article)
    assert row is not None
    row.page_canonical_url = page
    tx.session.flush()  # the statements below run on the DBAPI cursor: flushed rows only


def text_of(tx: Tx, article: int) -> str:
    return _TEXT_OF.scalar(tx.session, {"id": article}) or ""


# --- tiers 1-3: identity and near-duplicate lookups ---------------------------------------


def _slots(n: int, step: int) -> int:
    """Parameter slots for `n` values: a multiple of `step`, so a few compiled forms serve."""
    return max(step, -(-n // step) * step)


def _padded(prefix: str, values: Sequence[int], slots: int, pad: int) -> dict[str, int]:
    return {f"{prefix}{i}": values[i] if i < len(values) else pad for i in range(slots)}


_OTHER_COLUMNS = (
    ArticleRow.id,
    ArticleRow.text_hash,
    ArticleRow.duplicate_of_id,
    ArticleRow.story_id,
    _published,
)


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


def candidates(
    tx: Tx,
    article: int,
    *,
    text_hash: str | None,
    canonical_url: str,
    page: str | None,
    guid: str | None,
    guid_key: str | None,
    band_keys: Sequence[int],
) -> list[DedupCandidate]:
    """Tiers 1-3: the processed articles that are the same page or text as `article`
    (`same`), and those sharing one of its LSH buckets, each with its stored sketch.

    `guid` is the feed's GUID as given; `guid_key` the key it is matched by (the canonical
    URL for a permalink GUID), None for no GUID."""
    guid_url = guid_key is not None and guid_key != canonical_url and guid_key.startswith("http")
    slots = _slots(len(band_keys), 12) if band_keys else 0
    stmt = _lookup_statement(text_hash is None, bool(page), guid_key is not None, guid_url, slots)
    params = {
        "h": text_hash,
        "url": canonical_url,
        "page": page,
        "guid": guid,
        "guid_url": guid_key,
        "me": article,
        # Spare slots repeat a key: `IN` is a set, so nothing else is found.
        **_padded("b", band_keys, slots, band_keys[0] if band_keys else 0),
    }
    return [
        DedupCandidate(aid, text_hash_, dup, story, at, bool(same), shingles, sketch)
        for aid, text_hash_, dup, story, at, shingles, sketch, same in stmt.rows(tx.session, params)
    ]


# --- duplicate groups --------------------------------------------------------------------


@lru_cache(maxsize=8)
def _heads(slots: int) -> Prepared:
    return Prepared(
        select(
            _published, ArticleRow.canonical_url, ArticleRow.id, ArticleRow.duplicate_of_id
        ).where(ArticleRow.id.in_([bindparam(f"r{i}") for i in range(slots)]))
    )


def group_heads(tx: Tx, roots: Iterable[int]) -> list[GroupHead]:
    """The originals of the groups whose original ids are `roots`."""
    ids = sorted(roots)
    if not ids:
        return []
    slots = _slots(len(ids), 4)
    return [GroupHead(*r) for r in _heads(slots).rows(tx.session, _padded("r", ids, slots, ids[0]))]


def merge_groups(tx: Tx, article: int, heads: Sequence[GroupHead], original: int) -> None:
    """Make `original` the original of `article` and of every group in `heads` (the
    `original` itself, if a head, stands alone again as an original)."""
    s = tx.session
    for head in heads:
        # Rare (an article bridging groups): ORM statements keep loaded rows in step.
        if head.id != original:
            members = or_(ArticleRow.duplicate_of_id == head.id, ArticleRow.id == head.id)
            _update_articles(s, members, duplicate_of_id=original)
        elif head.duplicate_of_id is not None:
            _update_articles(s, ArticleRow.id == head.id, duplicate_of_id=None)
    row = s.get(ArticleRow, article)
    assert row is not None
    row.duplicate_of_id = None if original == article else original
    s.flush()


def _update_articles(s: Session, where: ColumnElement[bool], **values: Any) -> None:
    s.execute(
        update(ArticleRow)
        .where(where)
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )


# --- stories -----------------------------------------------------------------------------


def new_story(tx: Tx, title: str, now: datetime) -> int:
    story = _NEW_STORY.scalar(tx.session, {"created_at": now, "updated_at": now, "title": title})
    assert story is not None
    return int(story)


def title_of(tx: Tx, article: int) -> str:
    return _TITLE_OF.scalar(tx.session, {"id": article}) or ""


def story_of(tx: Tx, article: int) -> int | None:
    story = _STORY_OF.scalar(tx.session, {"id": article})
    return None if story is None else int(story)


def join_story(tx: Tx, article: int, stories: set[int], now: datetime) -> int:
    """Put `article` in a story: a new one (titled by the article) when `stories` is empty,
    else the lowest of `stories`, into which the others merge. Returns the story."""
    s = tx.session
    row = s.get(ArticleRow, article)
    assert row is not None
    if not stories:
        row.story_id = new_story(tx, row.title, now)
        return row.story_id
    keep, *merged = sorted(stories)
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
    return keep


def move_to_story(tx: Tx, originals: Sequence[int], story: int) -> None:
    """Move originals and their copies to another story."""
    if originals:
        where = or_(ArticleRow.id.in_(originals), ArticleRow.duplicate_of_id.in_(originals))
        _update_articles(tx.session, where, story_id=story)


def drop_empty_stories(tx: Tx, stories: Iterable[int]) -> None:
    s = tx.session
    wanted = sorted(stories)
    if not wanted:
        return
    s.flush()
    empty = [sid for sid in wanted if _STORY_SIZE.scalar(s, {"story": sid}) is None]
    if empty:
        s.execute(delete(StoryRow).where(StoryRow.id.in_(empty)))


def stories_near(tx: Tx, keys: Sequence[int], lo: datetime, hi: datetime, article: int) -> set[int]:
    """Stories of the originals carrying one of `keys` between `lo` and `hi`."""
    if not keys:
        return set()
    params = {"keys": list(keys), "lo": lo, "hi": hi, "me": article}
    return {sid for (sid,) in tx.session.connection().execute(_STORIES_NEAR, params) if sid}


def story_members(
    tx: Tx, stories: set[int], lo: datetime, hi: datetime, article: int
) -> list[StoryNeighbour]:
    """The stories' originals between `lo` and `hi` but `article`, the nearest in time to
    the middle first, at most MAX_STORY_NEIGHBOURHOOD."""
    params = {"stories": sorted(stories), "lo": lo, "hi": hi, "me": article}
    rows = tx.session.connection().execute(_STORY_MEMBERS, params)
    members = [
        StoryNeighbour(aid, sid, at, url)
        for aid, sid, at, url, copy in rows
        if copy is None and sid
    ]
    mid = lo + (hi - lo) / 2
    members.sort(key=lambda m: (abs(m.at - mid), m.canonical_url))
    return members[:MAX_STORY_NEIGHBOURHOOD]


def story_terms(tx: Tx, ids: Sequence[int]) -> dict[int, dict[int, int]]:
    """The stored story-term counts of originals."""
    out: dict[int, dict[int, int]] = {}
    for start in range(0, len(ids), 500):
        chunk = {"ids": list(ids[start : start + 500])}
        for aid, keys, counts in tx.session.connection().execute(_TERMS, chunk):
            out[aid] = story.unpack_terms(keys, counts)
    return out


def originals_among(tx: Tx, ids: Sequence[int]) -> list[tuple[int, datetime, str]]:
    """(id, time, canonical URL) of those of `ids` that are originals."""
    rows = tx.session.execute(_ORIGINALS_AMONG, {"ids": list(ids)}).all()
    return [(aid, at, url) for aid, at, url in rows]


# --- window counts: what weighs story terms ---------------------------------------------


def window_start(at: datetime, p: dedup.DedupParams) -> datetime:
    """The story window weighing the terms of reports published on `at`'s (UTC) day: the
    days around it, the same for every report of that day."""
    return at.replace(hour=0, minute=0, second=0, microsecond=0) - p.story_window


def _window_end(start: datetime, p: dedup.DedupParams) -> datetime:
    return start + 2 * p.story_window + timedelta(days=1)


def window_key_counts(
    tx: Tx, keys: Iterable[int], at: datetime, p: dedup.DedupParams
) -> dict[int, int]:
    """Indexed articles carrying each key (and ANY_KEY: all of them) in the story window of
    `at`, each counted once per transaction (up to STORY_WINDOW_SAMPLE + 1) and kept in
    step as the transaction indexes articles."""
    s = tx.session
    start = window_start(at, p)
    windows: dict[datetime, dict[int, int]] = s.info.setdefault(_WINDOW_COUNTS, {})
    counts = windows.setdefault(start, {})
    missing = [k for k in dict.fromkeys((story.ANY_KEY, *keys)) if k not in counts]
    if missing:
        end = _window_end(start, p)
        found = key_counts(tx, missing, start, end, STORY_WINDOW_SAMPLE + 1)
        counts.update({k: found.get(k, 0) for k in missing})
    return counts


def _counted_in(s: Session, keys: Iterable[int], at: datetime, p: dedup.DedupParams) -> None:
    """Count a newly indexed article's keys in the transaction's windows holding its time."""
    windows: dict[datetime, dict[int, int]] | None = s.info.get(_WINDOW_COUNTS)
    for start, counts in (windows or {}).items():
        if start <= at < _window_end(start, p):
            for k in keys:
                if k in counts:
                    counts[k] += 1


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


def key_counts(
    tx: Tx, keys: Sequence[int], lo: datetime, hi: datetime, limit: int, exclude: int = 0
) -> dict[int, int]:
    """Articles (but `exclude`) carrying each key between `lo` and `hi`, counted up to
    `limit` (all a caller needs); keys no article carries are left out."""
    out: dict[int, int] = {}
    stmt = _window_count_statement(_COUNT_SLOTS)
    for start in range(0, len(keys), _COUNT_SLOTS):
        params = _padded("k", keys[start : start + _COUNT_SLOTS], _COUNT_SLOTS, _NO_KEY)
        bounds = {"lo": lo, "hi": hi, "me": exclude, "lim": limit}
        rows = stmt.rows(tx.session, {**params, **bounds})
        out.update({key: n for key, n in rows if n and key != _NO_KEY})
    return out


# --- the index rows ----------------------------------------------------------------------


def index(
    tx: Tx,
    article: int,
    sig: dedup.Signature | None,
    keys: Sequence[int],
    tf: dict[int, int],
    at: datetime,
    p: dedup.DedupParams,
) -> None:
    """Store the sketch, LSH buckets, story keys and an original's story-term counts: the
    index every process shares. Every key is stored, however common, so window counts see
    it; the first, ANY_KEY, counts the articles."""
    s = tx.session
    if sig is not None:
        _INSERT_SIGNATURE.execute(
            s, [{"article_id": article, "shingles": sig.shingles, "sketch": sig.sketch}]
        )
        _INSERT_BANDS.execute(s, [{"bucket": k, "article_id": article} for k in sig.band_keys])
    if keys:
        distinct = dict.fromkeys(keys)
        _INSERT_STORY_KEYS.execute(
            s, [{"key": k, "at": at, "article_id": article} for k in distinct]
        )
        _counted_in(s, distinct, at, p)
    if tf:
        packed, counts = story.pack_terms(tf)
        _INSERT_TERMS.execute(s, [{"article_id": article, "keys": packed, "counts": counts}])


def unindex_keys(tx: Tx, article: int) -> bool:
    """Delete an article's story keys and terms; whether it had story keys."""
    s = tx.session
    s.flush()
    had = _HAS_STORY_KEY.scalar(s, {"article_id": article}) is not None
    _DELETE_STORY_KEYS.execute(s, [{"article_id": article}])
    _DELETE_TERMS.execute(s, [{"article_id": article}])
    s.info.pop(_WINDOW_COUNTS, None)  # counted with the keys just deleted
    return had


def unindex_text(tx: Tx, article: int, old: dedup.Signature | None) -> None:
    """Delete an article's sketch and the LSH buckets of its old text's signature."""
    s = tx.session
    _DELETE_SIGNATURE.execute(s, [{"article_id": article}])
    if old is not None:
        _DELETE_BANDS.execute(s, [{"bucket": k, "article_id": article} for k in old.band_keys])


def text_shared(tx: Tx, article: int, text_hash: str | None) -> bool:
    """Whether another article has the same text (its group's original holds the index)."""
    return _SAME_TEXT.scalar(tx.session, {"hash": text_hash, "me": article}) is not None


# --- statements ----------------------------------------------------------------------------

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
    _published,
    ArticleRow.canonical_url,
    ArticleRow.duplicate_of_id,
).where(
    ArticleRow.story_id.in_(bindparam("stories", expanding=True)),
    ArticleRow.id != bindparam("me"),
    _published >= bindparam("lo"),
    _published <= bindparam("hi"),
)
_TERMS = select(StoryTermsRow.article_id, StoryTermsRow.keys, StoryTermsRow.counts).where(
    StoryTermsRow.article_id.in_(bindparam("ids", expanding=True))
)
_ORIGINALS_AMONG = select(ArticleRow.id, _published, ArticleRow.canonical_url).where(
    ArticleRow.id.in_(bindparam("ids", expanding=True)), ArticleRow.duplicate_of_id.is_(None)
)
_STORY_OF = Prepared(select(ArticleRow.story_id).where(ArticleRow.id == bindparam("id")))
_STORY_SIZE = Prepared(
    select(ArticleRow.id).where(ArticleRow.story_id == bindparam("story")).limit(1)
)
_TITLE_OF = Prepared(select(ArticleRow.title).where(ArticleRow.id == bindparam("id")))
_TEXT_OF = Prepared(select(ArticleRow.text).where(ArticleRow.id == bindparam("id")))
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
