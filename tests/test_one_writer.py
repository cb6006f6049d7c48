"""One writer per database: a second daemon, `run --once`, poll, process, import or
`digest --send` is refused at start naming the holder (pid, host, since, command), while
commands that only read go on; a killed holder never blocks the next start, which closes the
runs it left `running` as `interrupted`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor import app as appmod
from monitor import cli
from monitor.config import load_settings
from monitor.errors import DatabaseBusyError
from monitor.scheduling import Daemon
from monitor.storage import runs
from monitor.storage import writer as writer_lock
from tests.conftest import REPO
from tests.loopback import LoopbackServer, Reply, Request

FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><title>Hello</title><link>http://127.0.0.1/nowhere</link></item></channel></rss>"""
WAIT_S = 60  # an upper bound for a child to get somewhere, never a pause


def write_config(tmp_path: Path, database_url: str, feed_url: str) -> Path:
    cfg = {
        "database": database_url,
        "entities": str(REPO / "config" / "entities.yaml"),
        # The feed may be held open as long as the test needs: never a timeout in between.
        "fetch": {"allow_private_networks": True, "timeout_s": 600},
        "sources": [{"name": "Feed", "url": feed_url, "interval": "1h"}],
    }
    config = tmp_path / "monitor.yaml"
    config.write_text(json.dumps(cfg), encoding="utf-8")
    return config


def monitor(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class HeldFeed:
    """A feed whose answer waits until `release()`: a daemon polling it is mid-cycle, its
    run recorded as running, for as long as the test needs."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.released = threading.Event()

    def __call__(self, _request: Request) -> Reply:
        self.arrived.set()
        self.released.wait(WAIT_S * 2)
        return Reply(body=FEED, content_type="application/rss+xml")

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def held_daemon(
    tmp_path: Path, database_url: str, http_server: LoopbackServer
) -> Iterator[tuple[Path, subprocess.Popen[str], HeldFeed]]:
    """`monitor run` in a child process, stopped in its start-up cycle's poll."""
    feed = HeldFeed()
    http_server.route("/feed.xml", feed)
    config = write_config(tmp_path, database_url, http_server.url("/feed.xml"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "run"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if not feed.arrived.wait(WAIT_S):
            proc.kill()
            pytest.fail(f"the daemon never polled its feed: {proc.communicate()[1]}")
        yield config, proc, feed
    finally:
        feed.release()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_a_second_writer_is_refused_naming_the_holder_and_readers_go_on(
    held_daemon: tuple[Path, subprocess.Popen[str], HeldFeed],
) -> None:
    config, daemon, _ = held_daemon
    for args in (["run", "--once"], ["run"], ["poll"], ["digest", "kh", "--send"]):
        refused = monitor(config, *args)
        assert refused.returncode == cli.EXIT_BUSY == 75, (args, refused.stderr)
        err = refused.stderr
        assert "Traceback" not in err
        assert err.startswith("error: database ") and "is in use by another monitor process" in err
        assert f"pid {daemon.pid} on host {socket.gethostname()}, since " in err
        assert "running `monitor run`" in err and "stop that one first" in err
    # Reading goes on beside the daemon, and shows its cycle under way.
    status = monitor(config, "status")
    assert status.returncode == 0, status.stderr
    assert "cycle" in status.stdout and "running" in status.stdout
    assert monitor(config, "sources").returncode == 0
    assert daemon.poll() is None  # the holder never noticed


def test_a_killed_holder_never_blocks_the_next_start_which_closes_its_run(
    held_daemon: tuple[Path, subprocess.Popen[str], HeldFeed],
) -> None:
    config, daemon, feed = held_daemon
    daemon.send_signal(signal.SIGKILL)  # mid-cycle: no clean-up of any kind
    daemon.wait(WAIT_S)
    feed.release()  # the feed answers the next start at once
    done = monitor(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    assert "closed 1 run(s) left running by a process that ended: interrupted" in done.stderr
    settings = load_settings(config)
    with appmod.build(settings, workers=1, writer=None) as app, app.db.transaction() as tx:
        recorded = [(r.kind, r.status) for r in reversed(runs.recent(tx, 10))]
    assert recorded == [("cycle", "interrupted"), ("cycle", "ok")]


def test_the_lock_names_an_in_process_holder_and_is_free_once_released(
    tmp_path: Path, database_url: str
) -> None:
    config = write_config(tmp_path, database_url, "http://127.0.0.1:9/feed.xml")
    lock = writer_lock.acquire(database_url, "the test's own holder")
    try:
        assert lock.fresh
        again = writer_lock.acquire(database_url, "a second App of this process")
        assert not again.fresh  # one writer *process*: its Apps share the lock
        again.release()
        refused = monitor(config, "process")
        assert refused.returncode == cli.EXIT_BUSY, refused.stderr
        assert f"pid {os.getpid()} on host {socket.gethostname()}" in refused.stderr
        assert "running `the test's own holder`" in refused.stderr
    finally:
        lock.release()
    assert monitor(config, "process").returncode == 0


def test_a_writer_command_is_refused_in_process_and_a_reader_is_not(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, database_url, "http://127.0.0.1:9/feed.xml")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from monitor.storage import writer; "
            f"writer.acquire({database_url!r}, 'a holder'); print('held', flush=True); "
            "sys.stdin.read()",
        ],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert cli.main(["--config", str(config), "import", "-"]) == cli.EXIT_BUSY
        assert f"pid {holder.pid} on host" in capsys.readouterr().err
        settings = load_settings(config)
        with pytest.raises(DatabaseBusyError, match="running `a holder`"):
            appmod.build(settings, workers=1, writer=appmod.Writer("mine"))
        # What a library user builds by default works without the lock while it is taken.
        with appmod.build(settings, workers=1) as app:
            assert not app.is_writer
        assert cli.main(["--config", str(config), "status"]) == 0
    finally:
        holder.communicate(timeout=WAIT_S)  # its stdin closed, it exits, and its lock with it
    with appmod.build(load_settings(config), workers=1) as app:
        assert app.is_writer


def test_a_lost_lock_is_taken_again_when_free(tmp_path: Path, database_url: str) -> None:
    """The lock file deleted, or the PostgreSQL session ended (a server restart): the next
    cycle's check takes the lock again."""
    lock = writer_lock.acquire(database_url, "holder")
    try:
        path = writer_lock.lock_path(database_url) if database_url.startswith("sqlite") else None
        if path is not None:
            path.unlink()
        else:
            import psycopg

            with psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True) as c:
                c.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND objid::bigint = %s AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())",
                    (writer_lock.LOCK_KEY,),
                )
        lock.check()
        if path is not None:
            assert json.loads(path.read_text())["pid"] == os.getpid()
        with pytest.raises(DatabaseBusyError):  # it is ours again: a second process is refused
            _acquire_in_child(database_url)
    finally:
        lock.release()


def _acquire_in_child(database_url: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from monitor.storage import writer; writer.acquire({database_url!r}, 'child')",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if "DatabaseBusyError" in done.stderr:
        raise DatabaseBusyError(done.stderr)
    assert done.returncode == 0, done.stderr


def test_a_daemon_that_lost_the_lock_to_another_process_stops(
    tmp_path: Path, database_url: str
) -> None:
    config = write_config(tmp_path, database_url, "http://127.0.0.1:9/feed.xml")
    app = appmod.build(load_settings(config), workers=1, writer=None)
    try:
        daemon = Daemon(app)
        ran: list[str] = []

        def lost() -> None:
            raise DatabaseBusyError("database x is in use by another monitor process: ...")

        daemon._guarded("cycle", lost)()
        daemon._guarded("heartbeat", lambda: ran.append("heartbeat"))()
        assert isinstance(daemon.failure, DatabaseBusyError)  # run_forever raises it
        assert daemon._stop.is_set() and ran == []  # no job runs after that
    finally:
        app.close()
