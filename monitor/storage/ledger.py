"""The delivery ledger: watchlists as first seen, digest periods and alert batches with their
state, attempts and next retry, and the matches still waiting to be alerted."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Update, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from monitor.models import AlertBatch, DigestPeriod, LedgerState, WaitingMatch
from monitor.storage.engine import Tx
from monitor.storage.schema import AlertRow, DigestRow, MatchRow, WatchlistRow

_CHUNK = 500  # ids per IN (...): well under every backend's parameter limit


def _ledger_values(state: LedgerState) -> dict[str, Any]:
    return {
        "state": state.state,
        "attempts": state.attempts,
        "next_attempt_at": state.next_attempt_at,
        "last_error": state.last_error,
        "sent_at": state.sent_at,
    }


# --- watchlists -----------------------------------------------------------------------------


def sync_watchlists(tx: Tx, queries: Mapping[str, str], now: datetime) -> None:
    """Record each watchlist (name -> query) not seen before as first seen `now`; keep the
    stored query of the known ones current. Two processes doing it at once both succeed."""
    s = tx.session
    known = {r.name: r for r in s.scalars(select(WatchlistRow))}
    for name, query in queries.items():
        if name in known:
            if known[name].query != query:
                known[name].query = query
            continue
        values = {"name": name, "first_seen_at": now, "query": query}
        dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
        s.execute(
            dialect.insert(WatchlistRow)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[WatchlistRow.name])
        )


def lock_watchlist(tx: Tx, watchlist: str) -> None:
    """Hold the watchlist's row until the transaction ends, so deciding what is due and
    recording it (a digest period, an alert batch) is one step across processes. PostgreSQL
    locks the row (FOR NO KEY UPDATE: foreign-key checks still pass); SQLite's write
    transactions (BEGIN IMMEDIATE) run one at a time already."""
    tx.session.execute(
        select(WatchlistRow.name)
        .where(WatchlistRow.name == watchlist)
        .with_for_update(key_share=True)
    )


def next_period_start(tx: Tx, watchlist: str) -> datetime | None:
    """Where the watchlist's next digest period starts: the end of its latest recorded one,
    else when the watchlist was first seen; None when it was never seen."""
    s = tx.session
    end: datetime | None = s.scalar(
        select(func.max(DigestRow.period_end)).where(DigestRow.watchlist == watchlist)
    )
    if end is not None:
        return end
    first = s.get(WatchlistRow, watchlist)
    return None if first is None else first.first_seen_at


# --- digests --------------------------------------------------------------------------------

_DIGEST_COLUMNS = (
    DigestRow.id,
    DigestRow.watchlist,
    DigestRow.period_start,
    DigestRow.period_end,
    DigestRow.message_id,
    DigestRow.article_count,
    DigestRow.state,
    DigestRow.attempts,
    DigestRow.next_attempt_at,
    DigestRow.last_error,
    DigestRow.sent_at,
)


_DIGESTS = select(*_DIGEST_COLUMNS)


def _digest_from(r: Any) -> DigestPeriod:
    return DigestPeriod(
        id=r.id,
        watchlist=r.watchlist,
        period_start=r.period_start,
        period_end=r.period_end,
        message_id=r.message_id,
        article_count=r.article_count,
        ledger=LedgerState(r.state, r.attempts, r.next_attempt_at, r.last_error, r.sent_at),
    )


def open_digest(
    tx: Tx,
    watchlist: str,
    start: datetime,
    end: datetime,
    message_id: str,
    state: LedgerState,
) -> tuple[int, bool]:
    """The id of the watchlist's digest for the period starting at `start`, and whether it
    was recorded just now (with `state`, ending at `end`) because there was none yet."""
    s = tx.session
    found: int | None = s.scalar(
        select(DigestRow.id).where(
            DigestRow.watchlist == watchlist, DigestRow.period_start == start
        )
    )
    if found is not None:
        return found, False
    row = DigestRow(
        watchlist=watchlist,
        period_start=start,
        period_end=end,
        message_id=message_id,
        created_at=end,
        outputs=[],
        **_ledger_values(state),
    )
    s.add(row)
    s.flush()
    return row.id, True


def _count(tx: Tx, statement: Update) -> int:
    """Run an UPDATE; the rows it changed."""
    result = tx.session.execute(statement.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def _changed(tx: Tx, statement: Update) -> bool:
    return _count(tx, statement) == 1


def digest(tx: Tx, digest_id: int) -> DigestPeriod:
    return _digest_from(tx.session.execute(_DIGESTS.where(DigestRow.id == digest_id)).one())


def digests(
    tx: Tx, watchlist: str, states: Collection[str], *, started_before: datetime | None = None
) -> list[DigestPeriod]:
    """The watchlist's digests in one of `states` (started before `started_before`), oldest
    period first."""
    q = _DIGESTS.where(DigestRow.watchlist == watchlist, DigestRow.state.in_(list(states)))
    if started_before is not None:
        q = q.where(DigestRow.period_start < started_before)
    return [_digest_from(r) for r in tx.session.execute(q.order_by(DigestRow.period_start))]


def latest_digest(tx: Tx, watchlist: str) -> DigestPeriod | None:
    """The watchlist's digest with the latest period end, whatever its state."""
    q = _DIGESTS.where(DigestRow.watchlist == watchlist).order_by(DigestRow.period_end.desc())
    r = tx.session.execute(q.limit(1)).first()
    return None if r is None else _digest_from(r)


def recent_digests(tx: Tx, limit: int) -> list[DigestPeriod]:
    """The last `limit` digests recorded, of every watchlist, newest first (`monitor status`)."""
    q = _DIGESTS.order_by(DigestRow.id.desc()).limit(limit)
    return [_digest_from(r) for r in tx.session.execute(q)]


def save_digest(
    tx: Tx,
    digest_id: int,
    state: LedgerState,
    *,
    seen: LedgerState | None = None,
    article_count: int | None = None,
    outputs: Sequence[str] | None = None,
) -> bool:
    """Store a digest's new ledger state, with the items it carries and the outputs it
    wrote when given. With `seen` (its state as read), only if no one changed its state or
    attempts since: False when another process claimed it first, or took it over."""
    values = _ledger_values(state)
    if article_count is not None:
        values["article_count"] = article_count
    if outputs is not None:
        values["outputs"] = list(outputs)
    statement = update(DigestRow).where(DigestRow.id == digest_id)
    if seen is not None:
        statement = statement.where(
            DigestRow.state == seen.state, DigestRow.attempts == seen.attempts
        )
    return _changed(tx, statement.values(**values))


def digest_outputs(tx: Tx, digest_id: int) -> list[str]:
    """What a digest's tries delivered so far (report files, `email: ADDRESS` …)."""
    outputs = tx.session.scalar(select(DigestRow.outputs).where(DigestRow.id == digest_id))
    return [str(o) for o in outputs or []]


def release_claims(tx: Tx, in_flight: Collection[str]) -> int:
    """Make every digest and alert batch left in one of the `in_flight` states due at once
    (the writer lock's new holder calls this: whoever claimed them has ended); how many."""
    released = 0
    for table in (DigestRow, AlertRow):
        released += _count(
            tx,
            update(table)
            .where(table.state.in_(list(in_flight)), table.next_attempt_at.is_not(None))
            .values(next_attempt_at=None),
        )
    return released


# --- alerts ---------------------------------------------------------------------------------


def waiting_matches(tx: Tx, watchlist: str) -> list[WaitingMatch]:
    """The watchlist's matches not alerted nor found unworthy yet, in matching order."""
    q = (
        select(MatchRow.id, MatchRow.article_id, MatchRow.matched_at, MatchRow.alert_worthy)
        .where(MatchRow.watchlist == watchlist, MatchRow.alerted_at.is_(None))
        .order_by(MatchRow.matched_at, MatchRow.id)
    )
    return [WaitingMatch(*r) for r in tx.session.execute(q)]


def mark_alerted(tx: Tx, match_ids: Sequence[int], now: datetime) -> None:
    """Matches considered at `now` (put in a batch, or found unworthy): never looked at again."""
    for start in range(0, len(match_ids), _CHUNK):
        chunk = list(match_ids[start : start + _CHUNK])
        tx.session.execute(update(MatchRow).where(MatchRow.id.in_(chunk)).values(alerted_at=now))


def last_alert_at(tx: Tx, watchlist: str) -> datetime | None:
    """When the watchlist's latest alert batch was opened."""
    last: datetime | None = tx.session.scalar(
        select(func.max(AlertRow.created_at)).where(AlertRow.watchlist == watchlist)
    )
    return last


def open_alert_batch(
    tx: Tx,
    watchlist: str,
    now: datetime,
    article_ids: Sequence[int],
    state: LedgerState,
    message_id: Callable[[int], str],
) -> int:
    """Record a batch of the watchlist's matched articles opened at `now`, with `state` and
    the Message-ID made from its id; returns the id."""
    row = AlertRow(
        watchlist=watchlist,
        created_at=now,
        message_id="",
        article_ids=list(article_ids),
        **_ledger_values(state),
    )
    tx.session.add(row)
    tx.session.flush()
    row.message_id = message_id(row.id)
    return row.id


def _alert_from(row: AlertRow) -> AlertBatch:
    return AlertBatch(
        id=row.id,
        watchlist=row.watchlist,
        created_at=row.created_at,
        message_id=row.message_id,
        article_ids=tuple(int(i) for i in row.article_ids),
        ledger=LedgerState(
            row.state, row.attempts, row.next_attempt_at, row.last_error, row.sent_at
        ),
    )


def alert_batch(tx: Tx, alert_id: int) -> AlertBatch:
    return _alert_from(tx.session.get_one(AlertRow, alert_id))


def alert_batches(tx: Tx, watchlist: str, states: Collection[str]) -> list[AlertBatch]:
    """The watchlist's alert batches in one of `states`, oldest first."""
    q = (
        select(AlertRow)
        .where(AlertRow.watchlist == watchlist, AlertRow.state.in_(list(states)))
        .order_by(AlertRow.id)
    )
    return [_alert_from(r) for r in tx.session.scalars(q)]


def save_alert(
    tx: Tx, alert_id: int, state: LedgerState, *, seen: LedgerState | None = None
) -> bool:
    """Store an alert batch's new ledger state; with `seen` (its state as read), only if no
    one changed its state or attempts since (see `save_digest`)."""
    statement = update(AlertRow).where(AlertRow.id == alert_id)
    if seen is not None:
        statement = statement.where(
            AlertRow.state == seen.state, AlertRow.attempts == seen.attempts
        )
    return _changed(tx, statement.values(**_ledger_values(state)))
