"""The database's writer lock: one process at a time polls, processes, imports and delivers.

SQLite: an OS lock (flock) on `<database file>.lock`, which also holds the holder's details;
PostgreSQL: a session-level advisory lock on a dedicated connection, its holder found in
pg_stat_activity. Both end with the process, even on kill -9, so a dead holder never blocks.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from monitor.errors import DatabaseBusyError, StorageError

log = logging.getLogger("monitor.writer")

# pg_try_advisory_lock(bigint): "moni" in ASCII. Under 2**32, so pg_locks shows it as
# classid 0, objid LOCK_KEY, objsubid 1. Advisory locks are per database.
LOCK_KEY = 0x6D6F6E69
# A holder on this host whose pid is gone: its PostgreSQL session ends as soon as the server
# reads the closed socket; wait that long for it rather than refuse the start.
DEAD_HOLDER_GRACE_S = 10.0
_PG_NAME_LIMIT = 63  # PostgreSQL truncates application_name at NAMEDATALEN - 1 bytes


@dataclass(frozen=True)
class Holder:
    """Who holds (or asks for) the writer lock; any field may be unknown."""

    pid: int | None = None
    host: str | None = None
    since: datetime | None = None
    command: str | None = None
    session: str | None = None  # PostgreSQL: the holder's backend, e.g. "backend 4711"

    @classmethod
    def this_process(cls, command: str) -> Holder:
        return cls(os.getpid(), socket.gethostname(), datetime.now(UTC), command)

    def describe(self) -> str:
        """E.g. "pid 4242 on host ana-laptop, since 2026-12-01 06:00:03 UTC, running
        `monitor run`"."""
        if self == Holder():
            return "a process whose details could not be read"
        who = f"pid {self.pid}" if self.pid is not None else "a process"
        parts = [who + (f" on host {self.host}" if self.host else "")]
        if self.since is not None:
            parts.append(f"since {self.since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
        if self.command:
            parts.append(f"running `{self.command}`")
        if self.session:
            parts.append(f"PostgreSQL {self.session}")
        return ", ".join(parts)

    def is_dead_here(self) -> bool:
        """A process of this host that no longer exists."""
        if self.pid is None or self.host != socket.gethostname() or self.pid == os.getpid():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # someone else's process: alive
            return False
        return False


def busy_error(url: str, holder: Holder) -> DatabaseBusyError:
    return DatabaseBusyError(
        f"database {_safe(url)} is in use by another monitor process: {holder.describe()}. "
        "Only one process at a time may poll, process, import or send digests: stop that "
        "one first, or wait for it to finish. Read-only commands (status, search, export, "
        "sources) work meanwhile."
    )


def _safe(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "(unparsable URL)"


# --- SQLite: flock on a file beside the database -------------------------------------------


def lock_path(url: str) -> Path | None:
    """`<database file>.lock` of a SQLite URL; None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database + ".lock")


class _FileLock:
    """flock(LOCK_EX) on a file beside the database: the kernel drops it with the process."""

    def __init__(self, url: str, path: Path) -> None:
        self.url = url
        self.path = path
        self.fd: int | None = None

    def acquire(self, me: Holder) -> Holder | None:
        """Take the lock and write `me` into the file; else who holds it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot open the writer lock file {self.path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            return holder
        data = json.dumps(
            {
                "pid": me.pid,
                "host": me.host,
                "since": me.since.isoformat() if me.since else None,
                "command": me.command,
            }
        ).encode()
        # Write, then cut: a reader never sees an empty file, at worst the old holder's tail.
        os.pwrite(fd, data + b"\n", 0)
        os.ftruncate(fd, len(data) + 1)
        self.fd = fd
        return None

    def lost(self) -> bool:
        """Whether the file we lock is no longer the one at `path` (deleted or replaced)."""
        if self.fd is None:
            return True
        try:
            return os.stat(self.path).st_ino != os.fstat(self.fd).st_ino
        except FileNotFoundError:
            return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the only descriptor drops the flock
            self.fd = None


def _read_holder(fd: int) -> Holder:
    """The details a holder wrote into the lock file (Holder() when unreadable)."""
    for _ in range(5):  # it may be writing them right now
        try:
            raw = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
            since = raw.get("since")
            return Holder(
                pid=raw.get("pid"),
                host=raw.get("host"),
                since=datetime.fromisoformat(since) if since else None,
                command=raw.get("command"),
            )
        except (ValueError, AttributeError, OSError):
            time.sleep(0.01)
    return Holder()


# --- PostgreSQL: a session-level advisory lock on a dedicated connection --------------------

_HOLDERS = text(
    "SELECT a.pid, a.application_name, a.backend_start, host(a.client_addr)"
    " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND l.classid::bigint = 0 AND l.objid::bigint = :key AND l.objsubid = 1"
)
_APP_NAME = re.compile(r"^monitor pid=(\d+) host=(\S*) (.*)$")


def _application_name(me: Holder) -> str:
    """The holder as the lock session's application_name (63 bytes at most)."""
    name = f"monitor pid={me.pid} host={me.host} {me.command or ''}".strip()
    return name.encode()[:_PG_NAME_LIMIT].decode("utf-8", "ignore")


class _AdvisoryLock:
    """pg_try_advisory_lock on a connection of its own, idle (autocommit) for the process's
    lifetime: the server drops the lock when that session ends, however the process ends."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine | None = None
        self.conn: Connection | None = None

    def acquire(self, me: Holder) -> Holder | None:
        try:
            engine = create_engine(
                self.url,
                poolclass=NullPool,
                connect_args={"application_name": _application_name(me)},
            )
            conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except (SQLAlchemyError, ImportError) as exc:
            raise StorageError(f"cannot open database {_safe(self.url)}: {exc}") from exc
        try:
            got = conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY})
            holder = None if got else _pg_holder(conn)
        except SQLAlchemyError as exc:
            conn.close()
            engine.dispose()
            raise StorageError(f"cannot take the writer lock on {_safe(self.url)}: {exc}") from exc
        if holder is not None:
            conn.close()
            engine.dispose()
            return holder
        self.engine, self.conn = engine, conn
        return None

    def lost(self) -> bool:
        """Whether the lock's session is gone (a server restart, a dropped connection)."""
        if self.conn is None:
            return True
        try:
            self.conn.exec_driver_sql("SELECT 1")
        except DBAPIError:
            return True
        return False

    def release(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self.conn.close()  # the session ends: the server drops its advisory locks
            self.conn = None
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None


def _pg_holder(conn: Connection) -> Holder:
    row = conn.execute(_HOLDERS, {"key": LOCK_KEY}).first()
    if row is None:  # released between our try and this look
        return Holder()
    backend, app_name, started, client = row
    session = f"backend {backend}" + (f" from {client}" if client else "")
    m = _APP_NAME.match(app_name or "")
    if m is None:
        return Holder(since=started, command=app_name or None, session=session)
    return Holder(int(m.group(1)), m.group(2), started, m.group(3) or None, session)


# --- the lock as the process holds it ---------------------------------------------------------

_Backend = _FileLock | _AdvisoryLock | None


@dataclass
class _Held:
    backend: _Backend
    me: Holder
    users: int = 0


_held: dict[str, _Held] = {}
_registry = threading.Lock()


class WriterLock:
    """This process's hold on a database's writer lock, shared by every App of the process
    on that database (one writer *process*); released when the last one lets go.

    `fresh`: this call took the lock, nobody held it a moment ago, so a run left `running`
    or a delivery left in flight belongs to a process that ended.
    """

    def __init__(self, url: str, key: str, fresh: bool) -> None:
        self.url = url
        self._key = key
        self.fresh = fresh
        self._released = False

    @property
    def holder(self) -> Holder:
        return _held[self._key].me

    def check(self) -> None:
        """Make sure the lock is still ours (its session or file may be gone); take it again
        if it was lost and nobody else has it, else DatabaseBusyError."""
        with _registry:
            held = _held[self._key]
            if held.backend is None or not held.backend.lost():
                return
            log.warning("the writer lock on %s was lost; taking it again", _safe(self.url))
            held.backend.release()
            other = held.backend.acquire(held.me)
        if other is not None:
            raise busy_error(self.url, other)

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        with _registry:
            held = _held[self._key]
            held.users -= 1
            if held.users == 0:
                if held.backend is not None:
                    held.backend.release()
                del _held[self._key]


def _backend_for(url: str) -> tuple[str, _Backend]:
    if url.startswith("sqlite"):
        path = lock_path(url)
        if path is None:
            return url, None  # in memory: no other process can see it
        return f"file:{path.resolve()}", _FileLock(url, path)
    if url.startswith("postgresql"):
        return f"pg:{_safe(url)}", _AdvisoryLock(url)
    log.warning("no writer lock for %s: only SQLite and PostgreSQL have one", _safe(url))
    return url, None


def acquire(url: str, command: str) -> WriterLock:
    """Take the writer lock of the database at `url` for this process, naming `command` as
    what it does; DatabaseBusyError naming the holder when another process has it.

    A holder on this host whose process is gone (killed a moment ago) is waited for a few
    seconds: its PostgreSQL session is about to end.
    """
    key, backend = _backend_for(url)
    me = Holder.this_process(command)
    deadline = time.monotonic() + DEAD_HOLDER_GRACE_S
    with _registry:
        held = _held.get(key)
        if held is not None:
            held.users += 1
            return WriterLock(url, key, fresh=False)
        while backend is not None:
            other = backend.acquire(me)
            if other is None:
                break
            if not other.is_dead_here() or time.monotonic() > deadline:
                raise busy_error(url, other)
            time.sleep(0.05)
        _held[key] = _Held(backend, me, users=1)
    return WriterLock(url, key, fresh=True)
