"""Runs: each pass of a command or scheduled job, recorded for `monitor status`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from monitor.models import RunRecord
from monitor.storage.engine import Tx
from monitor.storage.schema import RunRow


def start(tx: Tx, kind: str, at: datetime) -> int:
    """Record a run as running; its id."""
    run = RunRow(kind=kind, started_at=at, status="running", summary={})
    tx.session.add(run)
    tx.session.flush()
    return run.id


def finish(tx: Tx, run: int, at: datetime, status: str, summary: dict[str, Any]) -> None:
    row = tx.session.get_one(RunRow, run)
    row.finished_at, row.status, row.summary = at, status, summary


def close_interrupted(tx: Tx, at: datetime) -> int:
    """Close every run still `running` as `interrupted` at `at` (the writer lock's new holder
    calls this: whoever started them has ended); how many."""
    result = tx.session.execute(
        update(RunRow)
        .where(RunRow.status == "running")
        .values(status="interrupted", finished_at=at)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def recent(tx: Tx, limit: int) -> list[RunRecord]:
    """The last `limit` runs, newest first."""
    rows = tx.session.scalars(select(RunRow).order_by(RunRow.id.desc()).limit(limit))
    return [RunRecord(r.kind, r.started_at, r.finished_at, r.status, r.summary) for r in rows]
