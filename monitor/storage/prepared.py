"""Statements compiled once per dialect and run straight on the DBAPI cursor (hot paths).

`Prepared(stmt).rows(s, params)` / `.scalar` / `.execute(s, many)` inside a Session's
transaction; the caller flushes the session first. Used where SQLAlchemy's per-call work
(cache key, a type conversion per parameter occurrence) costs more than the database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.types import TypeDecorator

_Processor = Callable[[Any], Any]


class EncodedJSON(TypeDecorator[str]):
    """A JSON column's value that arrives already encoded (JSON text): bound as it is. The
    type still names JSON, so PostgreSQL (whose driver casts each parameter to its
    column's type) reads the text as JSON; SQLite stores the text."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


@dataclass(frozen=True)
class _Plan:
    """A statement compiled for one dialect: its SQL, where each parameter goes, and the
    type conversions of its parameters (each done once per name) and result columns."""

    sql: str
    positions: tuple[str, ...] | None  # the parameter name at each `?`; None: named style
    defaults: dict[str, Any]  # every parameter; constants (LIMIT 200) keep their value
    binders: dict[str, _Processor]
    results: tuple[_Processor | None, ...]

    @classmethod
    def compile(cls, stmt: ClauseElement, dialect: Dialect) -> _Plan:
        compiled = stmt.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        required = {b.key: None for b in compiled.binds.values() if b.required}
        defaults = dict(compiled.construct_params(required))
        binders: dict[str, _Processor] = {}
        for name in defaults:
            proc = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                binders[name] = proc
        columns = getattr(stmt, "exported_columns", ())
        results = tuple(
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        )
        positions = compiled.positiontup
        return cls(
            compiled.string,
            None if positions is None else tuple(positions),
            defaults,
            binders,
            results,
        )

    def values(self, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        """The DBAPI parameters for `params` (missing names take their defaults). Runs once
        per row of an executemany, so it builds no merged dict on the positional path."""
        defaults = self.defaults
        converted = {
            name: proc(params[name] if name in params else defaults[name])
            for name, proc in self.binders.items()
        }
        if self.positions is None:
            return {**defaults, **params, **converted}
        return [
            converted[n] if n in converted else params[n] if n in params else defaults[n]
            for n in self.positions
        ]


class Prepared:
    """A Core statement compiled once per dialect and run straight on the DBAPI cursor of the
    session's connection (inside its transaction; the caller flushes the session first).

    The dedup step runs about ten statements per article. Through `Connection.execute`, each
    pays for a cache key over the whole statement and a type conversion per parameter
    *occurrence* (the story window's two datetimes sit in sixteen union branches): several
    times what the database itself spends. Database errors come out as SQLAlchemy's.
    """

    def __init__(self, stmt: ClauseElement) -> None:
        self._stmt = stmt
        self._plans: dict[tuple[Any, ...], _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        key = (dialect.name, dialect.driver, dialect.paramstyle, dialect.server_version_info)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _Plan.compile(self._stmt, dialect)
        return plan

    def rows(self, s: Session, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        conn = s.connection()
        plan = self._plan(conn.dialect)
        cursor = conn.connection.cursor()
        try:
            values = plan.values(params)
            self._run(conn.dialect, cursor.execute, plan.sql, values)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        if not any(plan.results):
            return [tuple(r) for r in rows]
        procs = plan.results
        return [
            tuple(
                v if proc is None or v is None else proc(v)
                for v, proc in zip(r, procs, strict=True)
            )
            for r in rows
        ]

    def scalar(self, s: Session, params: Mapping[str, Any]) -> Any:
        rows = self.rows(s, params)
        return rows[0][0] if rows else None

    def execute(self, s: Session, many: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per parameter set (one `executemany`)."""
        conn = s.connection()
        plan = self._plan(conn.dialect)
        cursor = conn.connection.cursor()
        try:
            values = [plan.values(params) for params in many]
            self._run(conn.dialect, cursor.executemany, plan.sql, values)
        finally:
            cursor.close()

    @staticmethod
    def _run(dialect: Dialect, call: Callable[[str, Any], Any], sql: str, values: Any) -> None:
        error = dialect.loaded_dbapi.Error
        try:
            call(sql, values)
        except error as exc:
            raise DBAPIError.instance(sql, values, exc, error, dialect=dialect) from exc
