"""Stored articles: pending work, what extraction and processing store on them, their
mentions and watchlist matches, what a query sees of them (`match_docs`), kept HTML."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, or_, select, update

from monitor.models import (
    ArticleHeader,
    ExportedArticle,
    ExtractedFields,
    LinkSubject,
    MatchDoc,
    MentionRecord,
    PendingArticle,
    StoredText,
    WatchlistHit,
)
from monitor.storage.engine import Tx
from monitor.storage.prepared import EncodedJSON, Prepared
from monitor.storage.schema import ArticleRow, EntityRow, MatchRow, MentionRow

_CHUNK = 500  # ids per IN (...): well under every backend's parameter limit
_HELD = "monitor.held_articles"  # Session.info key: the rows `load` took in hand


def match_docs(tx: Tx, ids: Sequence[int]) -> dict[int, MatchDoc]:
    """What a watchlist query sees of each stored article: title, text, source, and the ids
    and types of the entities tagged in it (the one mentions-with-entities read)."""
    s = tx.session
    docs: dict[int, MatchDoc] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        entities: dict[int, set[str]] = {}
        types: dict[int, set[str]] = {}
        rows = s.execute(
            select(MentionRow.article_id, MentionRow.entity_id, EntityRow.type)
            .join(EntityRow, EntityRow.id == MentionRow.entity_id, isouter=True)
            .where(MentionRow.article_id.in_(chunk))
        )
        for aid, eid, etype in rows:
            entities.setdefault(aid, set()).add(eid)
            if etype:
                types.setdefault(aid, set()).add(etype)
        for aid, title, text, source in s.execute(
            select(ArticleRow.id, ArticleRow.title, ArticleRow.text, ArticleRow.source_name).where(
                ArticleRow.id.in_(chunk)
            )
        ):
            docs[aid] = MatchDoc(
                title=title,
                text=text,
                source=source,
                entity_ids=frozenset(entities.get(aid, ())),
                entity_types=frozenset(types.get(aid, ())),
            )
    return docs


# --- entities ----------------------------------------------------------------------------


def sync_entities(tx: Tx, entities: Sequence[tuple[str, str, str]]) -> None:
    """Mirror the entity list's (id, name, type) so mentions keep a name after it changes."""
    s = tx.session
    known = {r.id: r for r in s.scalars(select(EntityRow))}
    for eid, name, etype in entities:
        row = known.get(eid)
        if row is None:
            s.add(EntityRow(id=eid, name=name, type=etype))
        elif (row.name, row.type) != (name, etype):
            row.name, row.type = name, etype


# --- pending work and what processing stores ---------------------------------------------


def pending(tx: Tx, now: datetime, limit: int | None = None) -> list[PendingArticle]:
    """The articles waiting to be processed (none held back by a Retry-After), earliest
    published first."""
    q = (
        select(ArticleRow)
        .where(
            ArticleRow.state == "pending",
            or_(ArticleRow.retry_at.is_(None), ArticleRow.retry_at <= now),
        )
        .order_by(
            func.coalesce(ArticleRow.feed_published_at, ArticleRow.discovered_at), ArticleRow.id
        )
    )
    return [
        PendingArticle(
            r.id, r.url, r.feed_content or r.feed_summary, r.attempts, r.title, r.source_name
        )
        for r in tx.session.scalars(q.limit(limit) if limit else q)
    ]


def load(tx: Tx, ids: Sequence[int]) -> dict[int, ArticleHeader]:
    """Take a batch of articles in hand for storing (one read); what the feed said of each."""
    rows = list(tx.session.scalars(select(ArticleRow).where(ArticleRow.id.in_(list(ids)))))
    # Held for the transaction: the session's identity map holds rows weakly, and the
    # writes that follow (`record_*`, linking) find them there instead of reading again.
    tx.session.info.setdefault(_HELD, []).extend(rows)
    return {
        r.id: ArticleHeader(r.id, r.url, r.title, r.source_name, r.feed_published_at) for r in rows
    }


def _row(tx: Tx, article: int) -> ArticleRow:
    row = tx.session.get(ArticleRow, article)  # loaded by `load`: no query
    assert row is not None
    return row


def record_failure(
    tx: Tx,
    article: int,
    error: str,
    *,
    attempted: bool,
    retry_at: datetime | None,
    failed: bool,
) -> None:
    """An article whose page could not be had: the error, one more attempt (unless the
    server only asked us to come back later), and either failed for good or pending again
    (not before `retry_at`, if given)."""
    row = _row(tx, article)
    row.attempts += attempted
    row.retry_at = retry_at
    row.last_error = error
    if failed:
        row.state = "failed"


@dataclass(frozen=True)
class FailedArticle:
    """An article given up on (`monitor status`): its page could not be had or stored."""

    url: str
    source: str
    attempts: int
    error: str | None
    discovered_at: datetime


def failed(tx: Tx, limit: int) -> list[FailedArticle]:
    """The articles most recently given up on, with their errors, newest first."""
    q = (
        select(ArticleRow)
        .where(ArticleRow.state == "failed")
        .order_by(ArticleRow.id.desc())
        .limit(limit)
    )
    return [
        FailedArticle(r.url, r.source_name, r.attempts, r.last_error, r.discovered_at)
        for r in tx.session.scalars(q)
    ]


def record_extracted(
    tx: Tx,
    article: int,
    fields: ExtractedFields,
    *,
    attempted: bool,
    html_gz: bytes | None,
    error: str | None,
    page: str | None,
) -> LinkSubject:
    """Store what extraction made of an article (and its compressed HTML, if kept; `error`
    when the feed's text stood in for the page); what linking it needs."""
    row = _row(tx, article)
    row.attempts += attempted
    row.retry_at = None
    _apply(row, fields)
    if html_gz is not None:
        row.html_gz = html_gz
    if error is not None:
        row.last_error = error
    return _subject(row, page)


def _apply(row: ArticleRow, f: ExtractedFields) -> None:
    row.title = f.title
    row.text = f.text
    row.author = f.author
    row.language = f.language
    row.site_name = f.site_name
    row.extraction_method = f.extraction_method
    row.published_at, row.date_source = f.published_at, f.date_source
    row.text_hash = f.text_hash


def _subject(row: ArticleRow, page: str | None) -> LinkSubject:
    return LinkSubject(
        id=row.id,
        url=row.url,
        canonical_url=row.canonical_url,
        guid=row.guid,
        title=row.title or "",
        text=row.text or "",
        text_hash=row.text_hash,
        at=row.published_at or row.discovered_at,
        page_canonical_url=page if page != row.canonical_url else None,
    )


def mark_processed(tx: Tx, article: int, now: datetime) -> bool:
    """The article is processed (linked and indexed); whether it is a copy of another."""
    row = _row(tx, article)
    row.state, row.processed_at = "processed", now
    return row.duplicate_of_id is not None


def store_mentions(tx: Tx, rows: Sequence[tuple[int, Sequence[MentionRecord]]]) -> None:
    """Replace the articles' mentions: one delete and one bulk insert for the whole batch."""
    if not rows:
        return
    s = tx.session
    s.execute(delete(MentionRow).where(MentionRow.article_id.in_([aid for aid, _ in rows])))
    values = [
        {"article_id": aid, "entity_id": m.entity_id, "count": m.count, "evidence": m.evidence}
        for aid, mentions in rows
        for m in mentions
    ]
    if values:
        s.flush()
        _INSERT_MENTIONS.execute(s, values)


def store_matches(
    tx: Tx, found: Sequence[tuple[int, Sequence[WatchlistHit]]], now: datetime
) -> int:
    """Insert the new (watchlist, article) matches; returns how many. A match whose alert
    verdict is no is marked considered (`alerted_at`) at once: the alert step skips it."""
    wanted = {(h.watchlist, aid): h for aid, hits in found for h in hits}
    if not wanted:
        return 0
    s = tx.session
    existing = set(
        s.execute(
            select(MatchRow.watchlist, MatchRow.article_id).where(  # the unique index's order
                MatchRow.watchlist.in_({name for name, _ in wanted}),
                MatchRow.article_id.in_({aid for _, aid in wanted}),
            )
        ).all()
    )
    values = [
        {
            "watchlist": name,
            "article_id": aid,
            "matched_at": now,
            "terms": list(h.terms),
            "alert_worthy": h.alert,
            "alerted_at": now if h.alert is False else None,
        }
        for (name, aid), h in wanted.items()
        if (name, aid) not in existing
    ]
    if values:
        s.flush()
        _INSERT_MATCHES.execute(s, values)
    return len(values)


# --- kept HTML: retention and re-extraction -------------------------------------------------


def expire_html(tx: Tx, cutoff: datetime) -> int:
    """Drop the raw HTML of articles processed before `cutoff`; how many."""
    result = tx.session.execute(
        update(ArticleRow)
        .where(ArticleRow.html_gz.is_not(None), ArticleRow.processed_at < cutoff)
        .values(html_gz=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def with_html(tx: Tx, after: int, limit: int) -> list[StoredText]:
    """Processed articles whose raw HTML is kept, by id after `after`, at most `limit`."""
    rows = tx.session.execute(
        select(
            ArticleRow.id,
            ArticleRow.url,
            ArticleRow.title,
            ArticleRow.source_name,
            ArticleRow.feed_content,
            ArticleRow.feed_summary,
            ArticleRow.html_gz,
        )
        .where(
            ArticleRow.state == "processed",
            ArticleRow.html_gz.is_not(None),
            ArticleRow.id > after,
        )
        .order_by(ArticleRow.id)
        .limit(limit)
    ).all()
    return [
        StoredText(
            PendingArticle(
                r.id, r.url, r.feed_content or r.feed_summary, 0, r.title, r.source_name
            ),
            r.html_gz,
        )
        for r in rows
    ]


def record_reextracted(
    tx: Tx, article: int, fields: ExtractedFields
) -> tuple[LinkSubject, LinkSubject, bool]:
    """Store a re-extraction's fields; (the article before, after, whether an original)."""
    row = tx.session.get_one(ArticleRow, article)
    before = _subject(row, row.page_canonical_url)
    _apply(row, fields)
    return before, _subject(row, row.page_canonical_url), row.duplicate_of_id is None


def header(tx: Tx, article: int) -> ArticleHeader:
    r = tx.session.get_one(ArticleRow, article)
    return ArticleHeader(r.id, r.url, r.title, r.source_name, r.feed_published_at)


# --- import -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportSlot:
    """The row an imported article is processed in: its id, and whether an earlier import
    stored it and stopped before processing it (a row left in state "importing")."""

    id: int
    resumed: bool


def add_imported(
    tx: Tx,
    *,
    url: str,
    canonical_url: str,
    title: str,
    html: str,
    published_at: datetime | None,
    source: str,
    now: datetime,
) -> ImportSlot | None:
    """Store an imported article to be processed (state "importing"); None when an article
    with that canonical URL is stored already. A row left "importing" by an import that
    stopped (killed, or its processing failed) is not yet imported: it takes this record's
    values and is handed out again, so the article is stored once and processed once."""
    s = tx.session
    row = s.scalar(select(ArticleRow).where(ArticleRow.canonical_url == canonical_url))
    if row is not None and row.state != "importing":
        return None
    resumed = row is not None
    if row is None:
        row = ArticleRow(canonical_url=canonical_url, discovered_at=now, state="importing")
        s.add(row)
    row.source_name, row.url, row.title = source, url, title
    row.feed_content, row.feed_published_at = html, published_at
    s.flush()
    return ImportSlot(row.id, resumed)


def unfinished_imports(tx: Tx, ids: Sequence[int]) -> dict[int, str]:
    """Of these imported articles, those still "importing" (their processing failed), each
    with the error recorded on it."""
    rows = tx.session.execute(
        select(ArticleRow.id, ArticleRow.last_error).where(
            ArticleRow.id.in_(list(ids)), ArticleRow.state == "importing"
        )
    )
    return {aid: error or "not processed" for aid, error in rows}


# --- export and candidates -----------------------------------------------------------------


def exported(
    tx: Tx, since: datetime | None = None, only: set[int] | None = None, chunk: int = 500
) -> Iterator[ExportedArticle]:
    """Processed articles (processed at or after `since`; only the ids in `only`, if
    given), oldest first, with their mentions, watchlists and original's URL: three reads
    per chunk of articles, not per article."""
    s = tx.session
    q = select(ArticleRow.id).where(ArticleRow.state == "processed").order_by(ArticleRow.id)
    if since is not None:
        q = q.where(ArticleRow.processed_at >= since)
    ids = [aid for aid in s.scalars(q) if only is None or aid in only]
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        rows = {r.id: r for r in s.scalars(select(ArticleRow).where(ArticleRow.id.in_(part)))}
        mentions: dict[int, list[tuple[str, int]]] = {}
        for aid, eid, count in s.execute(
            select(MentionRow.article_id, MentionRow.entity_id, MentionRow.count)
            .where(MentionRow.article_id.in_(part))
            .order_by(MentionRow.count.desc(), MentionRow.entity_id)
        ):
            mentions.setdefault(aid, []).append((eid, count))
        lists: dict[int, list[str]] = {}
        for aid, name in s.execute(
            select(MatchRow.article_id, MatchRow.watchlist)
            .where(MatchRow.article_id.in_(part))
            .order_by(MatchRow.watchlist)
        ):
            lists.setdefault(aid, []).append(name)
        originals = {r.duplicate_of_id for r in rows.values() if r.duplicate_of_id}
        urls = {
            aid: url
            for aid, url in s.execute(
                select(ArticleRow.id, ArticleRow.url).where(ArticleRow.id.in_(originals))
            )
        }
        for aid in part:
            r = rows[aid]
            yield ExportedArticle(
                id=r.id,
                url=r.url,
                canonical_url=r.canonical_url,
                title=r.title,
                source=r.source_name,
                published_at=r.published_at,
                processed_at=r.processed_at,
                text=r.text,
                entities=tuple(mentions.get(aid, ())),
                story_id=r.story_id,
                duplicate_of=urls.get(r.duplicate_of_id) if r.duplicate_of_id else None,
                watchlists=tuple(lists.get(aid, ())),
                extraction_method=r.extraction_method,
            )
        s.expunge_all()  # a long export does not hold every row it read


def matched_originals(tx: Tx) -> list[tuple[str, str, datetime]]:
    """(title, text, published or found time) of the originals some watchlist matched,
    oldest first: where names not yet listed are looked for."""
    when = func.coalesce(ArticleRow.published_at, ArticleRow.discovered_at)
    matched = select(MatchRow.article_id).where(MatchRow.article_id == ArticleRow.id).exists()
    rows = tx.session.execute(
        select(ArticleRow.title, ArticleRow.text, when)
        .where(ArticleRow.state == "processed", ArticleRow.duplicate_of_id.is_(None), matched)
        .order_by(when)
    )
    return [(title, text, at) for title, text, at in rows]


# --- backtests --------------------------------------------------------------------------


def processed_newest_first(
    tx: Tx, since: datetime | None, chunk: int = 200
) -> Iterator[list[tuple[ArticleHeader, datetime | None, MatchDoc]]]:
    """Processed articles (processed at or after `since`), newest first, in chunks: each
    with when it was processed and what a query sees of it."""
    q = select(ArticleRow.id, ArticleRow.processed_at).where(ArticleRow.state == "processed")
    if since is not None:
        q = q.where(ArticleRow.processed_at >= since)
    q = q.order_by(ArticleRow.processed_at.desc(), ArticleRow.id.desc())
    order = tx.session.execute(q).all()
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        ids = [aid for aid, _ in part]
        docs = match_docs(tx, ids)
        heads = {
            r.id: ArticleHeader(r.id, r.url, r.title, r.source_name, r.feed_published_at)
            for r in tx.session.execute(
                select(
                    ArticleRow.id,
                    ArticleRow.url,
                    ArticleRow.title,
                    ArticleRow.source_name,
                    ArticleRow.feed_published_at,
                ).where(ArticleRow.id.in_(ids))
            )
        }
        yield [(heads[aid], at, docs[aid]) for aid, at in part]


# Bulk inserts on the DBAPI cursor (the session is flushed before them): through the ORM the
# per-row work was most of the batch's storing time besides dedup.
# `evidence` arrives as JSON text (MentionRecord): bound as it is, not encoded again.
_INSERT_MENTIONS = Prepared(
    insert(MentionRow).values(
        {
            "article_id": bindparam("article_id"),
            "entity_id": bindparam("entity_id"),
            "count": bindparam("count"),
            "evidence": bindparam("evidence", type_=EncodedJSON()),
        }
    )
)
_INSERT_MATCHES = Prepared(
    insert(MatchRow).values(
        {
            c: bindparam(c)
            for c in (
                "watchlist",
                "article_id",
                "matched_at",
                "terms",
                "alert_worthy",
                "alerted_at",
            )
        }
    )
)
