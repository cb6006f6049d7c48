"""Engine, transactions (SQLite: WAL, busy timeout, BEGIN IMMEDIATE; or PostgreSQL), migrations.

`open_database` is what the composition root calls; it migrates to the newest schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from monitor.errors import StorageError

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """Create the engine; for SQLite make the parent folder and set WAL, busy timeout, FKs."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    try:
        return create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError) as exc:
        raise StorageError(f"cannot open database {url!r}: {exc}") from exc


def _sqlite_engine(url: str) -> Engine:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves: pysqlite's implicit BEGIN is DEFERRED.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A read-then-write WAL transaction can fail at once with SQLITE_BUSY_SNAPSHOT;
        # taking the write lock up front makes the busy timeout apply instead.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def migrate(engine: Engine, revision: str = "head") -> None:
    """Apply Alembic migrations up to `revision` on `engine`."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except SQLAlchemyError as exc:
        raise StorageError(f"database migration failed on {engine.url!r}: {exc}") from exc


class Tx:
    """One transaction as the layers above storage hold it: they pass it to the storage
    functions (`monitor.storage.*`) and never touch the session inside."""

    __slots__ = ("session",)

    def __init__(self, session: Session) -> None:
        self.session = session


class Database:
    """The engine plus a session factory; `transaction()` (or, inside storage, `session()`)
    is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._factory = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._factory() as s, s.begin():
            yield s

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A transaction that commits on success and rolls back on error."""
        with self.session() as s:
            yield Tx(s)

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str, *, upgrade: bool = True) -> Database:
    engine = make_engine(url)
    if upgrade:
        migrate(engine)
    return Database(engine)
