"""Shared fixtures: databases (SQLite files, and PostgreSQL when MONITOR_TEST_POSTGRES_URL is
set), a real SMTP server on 127.0.0.1, the loopback HTTP server and a controllable clock."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.loopback import LoopbackServer

REPO = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("MONITOR_TEST_POSTGRES_URL")


@dataclass
class Clock:
    """An injected clock: tests move time instead of sleeping."""

    now: datetime = field(default_factory=lambda: datetime(2026, 12, 1, 6, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _postgres_database() -> Iterator[str]:
    import psycopg
    from sqlalchemy.engine import make_url

    assert POSTGRES_URL
    admin = make_url(POSTGRES_URL)
    name = f"monitor_test_{uuid.uuid4().hex[:12]}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database: a SQLite file, and (when configured) a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'monitor.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("MONITOR_TEST_POSTGRES_URL is not set")
    yield from _postgres_database()


@dataclass
class SmtpSink:
    """Messages a real aiosmtpd server on 127.0.0.1 received."""

    port: int
    reply: str = "250 OK"  # set to "451 ..." or "550 ..." to refuse DATA
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.sink.reply.startswith("2"):
            return self.sink.reply
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.sink.messages.append(msg)
        self.sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink(port=free_port())
    controller = Controller(_Handler(sink), hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server
