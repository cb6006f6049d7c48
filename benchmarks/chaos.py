"""Chaos: kills, concurrent writers and poisoned input against the real `monitor` command, on
SQLite and PostgreSQL, measured against issue 13's targets.

Run: .venv/bin/python benchmarks/chaos.py [--quick] [--kills 12] [--seed 13]
     [--scenarios kills,two-once,two-daemons,import] [--db sqlite,postgresql]
     [--pages 240] [--huge 20000] [--import-records 3000] [--import-kills 6]
     [--poison all|none|KIND,...] [--skip-poison KIND,...] [--refused-exit CODE]
     [--live | --src DIR] [--keep]
Prints a table and writes benchmarks/results/chaos.json (or --out); exits 1 when a target
is missed. `--quick`: 120 pages, a 2,000-entry feed, 400 import records, 4 and 3 kills.
The processes run a copy of monitor/, templates/ and config/ made at the start (so edits made
meanwhile do not change the code halfway); `--live` runs the working tree itself, `--src DIR`
the package in DIR (`git archive COMMIT monitor templates config | tar -x -C DIR`).

A loopback site (`benchmarks/chaos_site.py`, served by tests/loopback.py on 127.0.0.1) holds
--pages good article pages in eight feeds (RSS, Atom, JSON Feed; some articles listed in two
feeds) with poisoned items mixed in: pages and feeds redirecting to javascript:, mailto:,
data:, about: and tel:, a GUID `http://[broken`, a NUL in a GUID, feed content with control
characters, a page with no body, a link and a rel=canonical over 2,000 characters, a
100,000-character title, a page and a feed answering 500, and a feed of --huge entries. A
real aiosmtpd server on 127.0.0.1 records every message. Each scenario gets a fresh database
(a SQLite file; a PostgreSQL database created on --postgres and dropped after) and a config
whose watchlist matches most pages (`type:armed_group`, digest every minute, an alert):

  kills        `monitor run --once` SIGKILLed (with its pool workers) --kills times at random
               moments (seeded), then a clean run;
  two-once     two `monitor run --once` started together, then a clean run;
  two-daemons  two `monitor run` daemons started together, stopped with SIGTERM once a
               digest slot has passed (35-95 s), then a clean run;
  import       `monitor import` of --import-records JSON Lines (bad UTF-8, lone surrogates,
               overflowing dates, bad URLs and broken JSON among them) SIGKILLed
               --import-kills times at random moments, then run to its end.

Every scenario ends with `monitor digest chaos --send`, so everything matched is delivered.
Then, from the database and the SMTP sink: good articles lost (not stored and processed),
stored twice (one article or import URL in two rows), digests and alerts sent twice (one
Message-ID twice, overlapping digest periods, an article in two alert mails), tracebacks in
any process's stderr, exit codes other than 0 and the "refused: another writer" code (`import`
may exit 1 after reporting bad lines), good articles delivered in a digest against those the
watchlist should match, and poisoned items recorded with their error (see `classify_poison`).
Four kills in five land uniformly within --kill-window (--import-kill-window) seconds after
the process has started working (its first line on stderr), one in five during its start-up
(see `kill_runs`); the phase each kill hit is in the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from aiosmtpd.controller import Controller  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from benchmarks import chaos_site as site_mod  # noqa: E402
from tests.loopback import LoopbackServer  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "chaos.json"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
WATCHLIST = "chaos"
SCENARIOS = ("kills", "two-once", "two-daemons", "import")
TRACEBACK = "Traceback (most recent call last)"
GOOD_ID = re.compile(r"/g(\d{4})-report\.html")
IMPORT_ID = re.compile(r"archive\.example\.org/2026/(\d{5})-")
URL_RE = re.compile(r"https?://[^\s<>\"')\]]+")
MID_RE = re.compile(r"<digest\.(.+)\.(\d{8}T\d{6}Z)\.(\d{8}T\d{6}Z)@")
# An exception's line at the end of a traceback, or the CLI's own `error: ...` message.
EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)\b|error:)")


# --- processes ---------------------------------------------------------------------------


@dataclass
class Proc:
    """One `monitor` process we started: its outcome, stderr and stdout."""

    label: str
    argv: list[str]
    workdir: Path
    popen: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    ended: float | None = None
    returncode: int | None = None
    killed: str | None = None  # "SIGKILL" by plan, "SIGTERM" stop, "timeout"
    kill_phase: str | None = None

    @property
    def err_path(self) -> Path:
        return self.workdir / f"{self.label}.stderr"

    @property
    def out_path(self) -> Path:
        return self.workdir / f"{self.label}.stdout"

    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    @property
    def seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started


def monitor_cmd() -> list[str]:
    script = Path(sys.executable).parent / "monitor"
    return [str(script)] if script.exists() else [sys.executable, "-m", "monitor"]


def child_env(src: Path | None) -> dict[str, str]:
    """The environment of every `monitor` process: no proxy (all is on loopback), and the
    snapshot of the code first on the path when there is one."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "monitor_config")
    }
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    return env


def snapshot(work: Path) -> Path:
    """A copy of the code as it is now (monitor/, templates/, config/), so files edited while
    the benchmark runs do not change what it measures halfway."""
    import shutil

    src = work / "src"
    for name in ("monitor", "templates", "config"):
        shutil.copytree(
            ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    return src


def code_state() -> dict[str, Any]:
    """The commit and the files changed since, read without touching the index."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        return done.stdout

    changed = [ln[3:] for ln in git("status", "--porcelain").splitlines() if ln.strip()]
    return {"head": git("rev-parse", "--short", "HEAD").strip(), "changed": changed}


def start(run: Run, label: str, *args: str) -> Proc:
    workdir = run.workdir
    proc = Proc(label, [*monitor_cmd(), "--config", str(run.config), *args], workdir)
    with proc.out_path.open("wb") as out, proc.err_path.open("wb") as err:
        proc.popen = subprocess.Popen(
            proc.argv,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=child_env(run.src),
            start_new_session=True,  # its own process group: the pool workers die with it
        )
    proc.started = time.monotonic()
    return proc


def poll_exit(proc: Proc) -> bool:
    assert proc.popen is not None
    if proc.returncode is None and proc.popen.poll() is not None:
        proc.returncode = proc.popen.returncode
        proc.ended = time.monotonic()
    return proc.returncode is not None


def wait(proc: Proc, timeout: float) -> None:
    wait_all([proc], timeout)


def wait_all(procs: Sequence[Proc], timeout: float) -> None:
    """Wait for every process to end (each end time noted as it happens); SIGKILL the ones
    still running after `timeout` seconds (`killed` = "timeout"), then their pool workers."""
    deadline = time.monotonic() + timeout
    while not all([poll_exit(p) for p in procs]) and time.monotonic() < deadline:
        time.sleep(0.05)
    for proc in procs:
        if not poll_exit(proc):
            kill_group(proc, "timeout")
        reap_group(proc)


def kill_group(proc: Proc, why: str) -> None:
    """SIGKILL the process and its pool workers (its own process group)."""
    assert proc.popen is not None
    proc.killed = why
    proc.kill_phase = phase(proc.stderr())
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.popen.pid, signal.SIGKILL)
    proc.popen.wait()
    poll_exit(proc)
    reap_group(proc)


def reap_group(proc: Proc) -> None:
    """Pool workers left behind by a killed parent: end them (same process group)."""
    assert proc.popen is not None
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.popen.pid, signal.SIGKILL)


def phase(stderr: str) -> str:
    """Where a run was, from the last progress line it printed."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith("polling"):
            return "poll"
        if line.startswith("processing") or "articles stored" in line:
            return "process"
    return "start" if not lines else "other"


def kill_runs(
    run: Run,
    label: str,
    args: Sequence[str],
    kills: int,
    rng: random.Random,
    span: float,
    procs: list[Proc],
) -> int:
    """Start `monitor ARGS` and SIGKILL it (with its pool workers) at a random moment, `kills`
    times. Four kills in five land in the work: a moment drawn uniformly from `span` seconds
    after the run's first line on stderr (it has started working; a loaded machine can take
    seconds to import and spawn before that); the fifth lands in the start-up, before the
    first line the previous run printed. A run that ends before its moment narrows `span` to
    what it lasted. Gives up after 4 * kills starts."""
    done, startup = 0, 2.0
    for attempt in range(4 * max(1, kills)):
        if done >= kills:
            break
        early = rng.random() < 0.2
        delay = rng.uniform(0.3, max(0.3, startup)) if early else rng.uniform(0.0, span)
        proc = start(run, f"{label}-{attempt + 1:02d}", *args)
        procs.append(proc)
        while not early and not proc.err_path.stat().st_size and not poll_exit(proc):
            time.sleep(0.02)
        began = time.monotonic() - proc.started
        startup = began if not early else startup
        deadline = (proc.started if early else time.monotonic()) + delay
        while time.monotonic() < deadline and not poll_exit(proc):
            time.sleep(0.02)
        if proc.returncode is not None:
            span = max(0.2, min(span, proc.seconds - began))
            reap_group(proc)
            continue
        kill_group(proc, "SIGKILL")
        done += 1
    return done


def tracebacks(procs: Iterable[Proc]) -> list[dict[str, Any]]:
    """Every traceback in the processes' stderr: its exception line, the last frame in our
    code (`monitor/`, not a library) and the last frame of all."""
    found = []
    for proc in procs:
        lines = proc.stderr().splitlines()
        for i, line in enumerate(lines):
            if TRACEBACK not in line:
                continue
            where, ours, exc = "", "", ""
            for j in range(i + 1, len(lines)):
                if lines[j].startswith("  File "):
                    where = _frame(lines[j])
                    if "/monitor/" in lines[j] and "site-packages" not in lines[j]:
                        ours = where
                elif lines[j] and not lines[j].startswith(" "):
                    exc = lines[j].strip()
                    break
            found.append(
                {"process": proc.label, "where": where, "ours": ours, "exception": exc[:300]}
            )
    return found


def _frame(line: str) -> str:
    """`  File "/x/monitor/a/b.py", line 3, in f` -> `monitor/a/b.py:3 in f`."""
    m = re.match(r'\s*File "(.*)", line (\d+), in (.*)', line)
    if not m:
        return line.strip()
    path = m.group(1)
    for marker in ("/site-packages/", "/monitor/"):
        if marker in path:
            path = ("monitor/" if marker == "/monitor/" else "") + path.rsplit(marker, 1)[1]
            break
    else:
        path = "/".join(path.split("/")[-3:])  # the standard library: its last parts
    return f"{path}:{m.group(2)} in {m.group(3)}"


# --- the SMTP sink ------------------------------------------------------------------------


@dataclass
class Mail:
    message_id: str
    subject: str
    recipients: list[str]
    kind: str  # digest | alert
    urls: set[str]
    at: float


class Sink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 keeping what each message says."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self._lock = threading.Lock()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._controller = Controller(
            self, hostname="127.0.0.1", port=self.port, data_size_limit=256 * 2**20
        )
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(
            envelope.original_content or envelope.content, policy=policy.default
        )
        urls: set[str] = set()
        for part in msg.walk():
            if part.get_content_type() in ("text/plain", "text/html"):
                try:
                    body = part.get_content()
                except (LookupError, ValueError):
                    body = part.get_payload(decode=True).decode("utf-8", "replace")
                urls.update(URL_RE.findall(body.replace("&amp;", "&")))
        mid = str(msg.get("Message-ID", "")).strip()
        subject = str(msg.get("Subject", ""))
        kind = (
            "alert" if "alert" in mid.lower() or subject.upper().startswith("ALERT") else "digest"
        )
        mail = Mail(mid, subject, list(envelope.rcpt_tos), kind, urls, time.monotonic())
        with self._lock:
            self.mails.append(mail)
        return "250 OK"

    def since(self, index: int) -> list[Mail]:
        with self._lock:
            return list(self.mails[index:])


# --- databases ----------------------------------------------------------------------------


class Backend:
    """A fresh database per scenario: a SQLite file, or a PostgreSQL database made and dropped."""

    def __init__(self, kind: str, admin_url: str) -> None:
        self.kind = kind
        self.admin_url = admin_url
        self.note = ""

    def available(self) -> bool:
        if self.kind == "sqlite":
            return True
        try:
            import psycopg

            with psycopg.connect(self._dsn(), autocommit=True, connect_timeout=3):
                return True
        except Exception as exc:
            why = " ".join(str(exc).split())
            self.note = f"PostgreSQL skipped: {self.admin_url} does not answer ({why})"
            return False

    def _dsn(self, database: str | None = None) -> str:
        from sqlalchemy.engine import make_url

        url = make_url(self.admin_url).set(drivername="postgresql")
        if database:
            url = url.set(database=database)
        return url.render_as_string(hide_password=False)

    def create(self, workdir: Path, name: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{workdir / f'{name}.db'}"
        import psycopg
        from sqlalchemy.engine import make_url

        db = f"chaos_{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self._dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')
        return make_url(self.admin_url).set(database=db).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        if self.kind == "sqlite":
            return
        import psycopg
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        with psycopg.connect(self._dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def read_store(url: str) -> dict[str, Any]:
    """What the scenario left in the database (only columns every schema so far has)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            articles = [
                dict(r._mapping)
                for r in conn.execute(
                    text(
                        "SELECT id, source_name, url, canonical_url, state, last_error,"
                        " length(title) AS title_len FROM articles"
                    )
                )
            ]
            sources = [
                dict(r._mapping)
                for r in conn.execute(
                    text("SELECT name, last_error, warning, error_count FROM sources")
                )
            ]
            runs = Counter(r[0] for r in conn.execute(text("SELECT status FROM runs")).fetchall())
            digests = [
                dict(r._mapping)
                for r in conn.execute(
                    text("SELECT watchlist, period_start, period_end, state FROM digests")
                )
            ]
    finally:
        engine.dispose()
    return {"articles": articles, "sources": sources, "runs": dict(runs), "digests": digests}


# --- config -------------------------------------------------------------------------------


def write_config(
    workdir: Path, database: str, sources: Sequence[tuple[str, str]], smtp_port: int
) -> Path:
    cfg = {
        "database": database,
        "timezone": "UTC",
        "entities": str(ROOT / "config" / "entities.yaml"),
        "reports_dir": str(workdir / "reports"),
        "watchlists_dir": str(workdir / "watchlists"),
        "fetch": {
            "allow_private_networks": True,
            "timeout_s": 10,
            "total_timeout_s": 30,
            "per_host": 4,
        },
        "smtp": {
            "host": "127.0.0.1",
            "port": smtp_port,
            "sender": "Monitor <monitor@example.org>",
        },
        "sources": [{"name": n, "url": u, "interval": "1m"} for n, u in sources],
        "watchlists": [
            {
                "name": WATCHLIST,
                "query": "type:armed_group",
                "digest": {
                    "schedule": "* * * * *",
                    "recipients": ["analyst@example.org"],
                    "formats": ["email"],
                    "max_articles": 10_000,
                },
                "alert": {
                    "query": "entity:kataib-hezbollah AND (rocket* OR drone*)",
                    "recipients": ["duty@example.org"],
                    "window": "20s",
                },
            }
        ],
    }
    path = workdir / "monitor.yaml"
    path.write_text(json.dumps(cfg, indent=1), encoding="utf-8")
    return path


# --- scenarios ----------------------------------------------------------------------------


@dataclass
class Run:
    """One scenario on one database: its processes and what they left."""

    scenario: str
    db: str
    workdir: Path
    config: Path
    url: str
    procs: list[Proc] = field(default_factory=list)
    kills: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    mail_index: int = 0
    import_lines: list[site_mod.ImportLine] = field(default_factory=list)
    import_final: Proc | None = None
    src: Path | None = None  # the code snapshot the processes run (None: the live tree)
    page_fetches: Counter[str] = field(default_factory=Counter)


def finish(run: Run, label: str = "final") -> None:
    """A clean `run --once` to its end, then the digest of everything not yet delivered."""
    if run.scenario != "import":
        proc = start(run, f"{label}-run-once", "run", "--once")
        run.procs.append(proc)
        wait(proc, 900)
    send = start(run, f"{label}-digest-send", "digest", WATCHLIST, "--send")
    run.procs.append(send)
    wait(send, 600)


def scenario_kills(run: Run, args: argparse.Namespace, rng: random.Random) -> None:
    run.kills = kill_runs(
        run,
        "once",
        ["run", "--once"],
        args.kills,
        rng,
        args.kill_window,
        run.procs,
    )
    finish(run)


def scenario_two_once(run: Run, args: argparse.Namespace, rng: random.Random) -> None:
    pair = [start(run, f"once-{c}", "run", "--once") for c in "ab"]
    run.procs += pair
    wait_all(pair, 900)
    finish(run)


def scenario_two_daemons(run: Run, args: argparse.Namespace, rng: random.Random) -> None:
    began = datetime.now(UTC)
    boundary = (began + timedelta(seconds=15)).replace(second=0, microsecond=0) + timedelta(
        minutes=1
    )
    stop_at = time.monotonic() + (boundary + timedelta(seconds=20) - began).total_seconds()
    pair = [start(run, f"daemon-{c}", "run") for c in "ab"]
    run.procs += pair
    while time.monotonic() < stop_at and not all([poll_exit(p) for p in pair]):
        time.sleep(0.1)
    for proc in pair:
        if not poll_exit(proc):
            assert proc.popen is not None
            proc.killed = "SIGTERM"
            os.kill(proc.popen.pid, signal.SIGTERM)
    wait_all(pair, args.stop_timeout)  # "timeout": SIGKILLed, it did not stop
    finish(run)


def scenario_import(run: Run, args: argparse.Namespace, rng: random.Random) -> None:
    path = run.workdir / "records.jsonl"
    run.import_lines = site_mod.write_import_file(path, args.import_records, seed=args.seed)
    argv = ["import", path.name]
    run.kills = kill_runs(
        run,
        "import",
        argv,
        args.import_kills,
        rng,
        args.import_kill_window,
        run.procs,
    )
    final = start(run, "import-final", *argv)
    run.procs.append(final)
    wait(final, 1800)
    run.import_final = final
    finish(run)


RUNNERS = {
    "kills": scenario_kills,
    "two-once": scenario_two_once,
    "two-daemons": scenario_two_daemons,
    "import": scenario_import,
}


# --- measures -----------------------------------------------------------------------------


def allowed_exit(proc: Proc, refused: int | None) -> bool:
    if proc.killed in ("SIGKILL",):
        return True  # our planned kill
    if proc.killed == "timeout":
        return False
    code = proc.returncode
    if code == 0 or (refused is not None and code == refused):
        return True
    # `monitor import` exits 1 after reporting skipped bad lines, once it has finished.
    return code == 1 and proc.argv[-2:-1] == ["import"] and "imported " in proc.stdout()


def classify_poison(
    p: site_mod.Poison, rows: list[dict[str, Any]], source: dict[str, Any] | None, site_huge: int
) -> tuple[str, str]:
    """The outcome of one poisoned item and what was recorded for it:
    source-error | capped | error | processed | bounded | refused, or a miss: missing,
    stuck, unbounded, uncapped, no-source-error."""
    if p.level == "source":
        if source is None:
            return "no-source-row", ""
        if p.kind == "huge-feed":
            n = sum(1 for r in rows)
            if source.get("warning") and n < site_huge:
                return "capped", f"{n} rows; warning: {source['warning'][:160]}"
            return (
                "uncapped",
                f"{n} of {site_huge} entries stored; warning: {source.get('warning')}",
            )
        if source.get("last_error") or (source.get("error_count") or 0) > 0:
            return "source-error", str(source.get("last_error"))[:200]
        return "no-source-error", ""
    if not rows:
        warn = (source or {}).get("warning") or (source or {}).get("last_error")
        return ("refused", str(warn)[:200]) if warn else ("missing", "no row, no source warning")
    row = next((r for r in rows if r["state"] == "processed"), rows[0])
    state, err = row["state"], row.get("last_error") or ""
    said = f"{state}: {err[:200]}" if err else state
    if p.kind == "title-100k" and state == "processed":
        n = row.get("title_len") or 0
        return ("bounded" if n < 100_000 else "unbounded"), f"title stored with {n} characters"
    if "processed" in p.accept and state == "processed":
        return "processed", said
    if err and (not p.error_hint or re.search(p.error_hint, err, re.I)):
        return "error", said
    if err:
        return "other-error", f"{said} (not about the poison)"
    if state == "processed":
        return "processed", "processed, no error recorded"
    return "stuck", f"state {row['state']}, no error recorded"


def measure(run: Run, site: site_mod.Site, sink: Sink, refused: int | None) -> dict[str, Any]:
    try:
        store = read_store(run.url)
    except Exception as exc:  # no schema at all: every process died before migrating
        run.notes.append(f"could not read the database: {type(exc).__name__}: {exc}"[:300])
        store = {"articles": [], "sources": [], "runs": {}, "digests": []}
    mails = sink.since(run.mail_index)
    digests = [m for m in mails if m.kind == "digest"]
    alerts = [m for m in mails if m.kind == "alert"]
    arts = store["articles"]
    if run.scenario == "import":
        ids = import_measures(run, arts, digests)
    else:
        ids = site_measures(site, store, arts, digests)
    mids = Counter(m.message_id for m in digests)
    dup_digests = sum(n - 1 for n in mids.values() if n > 1)
    periods = sorted(
        {(g[0], g[1], g[2]) for m in digests if (g := MID_RE.search(m.message_id)) is not None}
    )
    overlaps = [
        (a, b)
        for i, a in enumerate(periods)
        for b in periods[i + 1 :]
        if a[0] == b[0] and a[1] < b[2] and b[1] < a[2]
    ]
    zero = [p for p in periods if p[1] == p[2]]
    alert_mids = Counter(m.message_id for m in alerts)
    alerted = Counter(u for m in alerts for u in {_key(u) for u in m.urls} if u)
    dup_alerts = sum(n - 1 for n in alert_mids.values() if n > 1)
    twice_alerted = sum(1 for n in alerted.values() if n > 1)
    tbs = tracebacks(run.procs)
    bad_exits = [
        {
            "process": p.label,
            "exit": p.returncode,
            "killed": p.killed,
            "last_line": last_line(p.stderr()),
        }
        for p in run.procs
        if not allowed_exit(p, refused)
    ]
    exits = Counter("killed" if p.killed == "SIGKILL" else str(p.returncode) for p in run.procs)
    row: dict[str, Any] = {
        "scenario": run.scenario,
        "db": run.db,
        "processes": len(run.procs),
        "kills": run.kills,
        "seconds": round(run.seconds, 1),
        **ids,
        "digests_sent_twice": dup_digests + len(overlaps),
        "alerts_sent_twice": dup_alerts + twice_alerted,
        "tracebacks": len(tbs),
        "bad_exits": len(bad_exits),
        "details": {
            "digest_mails": len(digests),
            "alert_mails": len(alerts),
            "duplicate_digest_message_ids": [m for m, n in mids.items() if n > 1],
            "overlapping_digest_periods": [[list(a), list(b)] for a, b in overlaps],
            "zero_length_digest_periods": [list(p) for p in zero],
            "duplicate_alert_message_ids": [m for m, n in alert_mids.items() if n > 1],
            "articles_in_two_alerts": twice_alerted,
            "exit_codes": dict(exits),
            "bad_exits": bad_exits,
            "refused": sum(1 for p in run.procs if refused is not None and p.returncode == refused),
            "kill_phases": dict(Counter(p.kill_phase for p in run.procs if p.killed == "SIGKILL")),
            "runs_by_status": store["runs"],
            "digest_rows_by_state": dict(Counter(d["state"] for d in store["digests"])),
            "tracebacks": summarise_tracebacks(tbs),
            "pages_fetched_twice": sum(1 for n in run.page_fetches.values() if n > 1),
            "log_lines": log_lines(run.procs),
            "processes": [
                {
                    "label": p.label,
                    "seconds": round(p.seconds, 1),
                    "exit": p.returncode,
                    "killed": p.killed,
                    "kill_phase": p.kill_phase,
                }
                for p in run.procs
            ],
            "notes": run.notes,
        },
    }
    row["ok"] = meets_targets(row)
    return row


def _key(url: str) -> str:
    m = GOOD_ID.search(url) or IMPORT_ID.search(url)
    return m.group(0) if m else ""


def site_measures(
    site: site_mod.Site, store: dict[str, Any], arts: list[dict[str, Any]], digests: list[Mail]
) -> dict[str, Any]:
    by_good: dict[int, list[dict[str, Any]]] = {}
    for a in arts:
        m = GOOD_ID.search(a["url"]) or GOOD_ID.search(a["canonical_url"] or "")
        if m:
            by_good.setdefault(int(m.group(1)), []).append(a)
    lost = [
        g.id for g in site.good if not any(r["state"] == "processed" for r in by_good.get(g.id, []))
    ]
    canon = Counter(a["canonical_url"] for a in arts)
    twice = sum(len(rows) - 1 for rows in by_good.values() if len(rows) > 1)
    twice += sum(n - 1 for c, n in canon.items() if n > 1 and not GOOD_ID.search(c or ""))
    delivered_ids = {
        int(m.group(1)) for mail in digests for u in mail.urls if (m := GOOD_ID.search(u))
    }
    in_digests = Counter(
        int(m.group(1)) for mail in digests for m in {GOOD_ID.search(u) for u in mail.urls} if m
    )
    expected = {g.id for g in site.good if g.matches}
    sources = {s["name"]: s for s in store["sources"]}
    outcomes = []
    for p in site.poisons:
        if p.level == "source":
            rows = [a for a in arts if a["source_name"] == p.source]
        else:
            rows = [
                a for a in arts if p.marker in a["url"] or p.marker in (a["canonical_url"] or "")
            ]
        outcome, note = classify_poison(p, rows, sources.get(p.source), site.huge_entries)
        if p.level == "entry" and len(rows) > 1:
            twice += len(rows) - 1
        outcomes.append(
            {
                "kind": p.kind,
                "source": p.source,
                "outcome": outcome,
                "recorded": outcome in p.accept,
                "accept": sorted(p.accept),
                "note": note,
                "poison": p.detail,
            }
        )
    return {
        "good": len(site.good),
        "lost": len(lost),
        "stored_twice": twice,
        "expected_delivered": len(expected),
        "delivered": len(delivered_ids & expected),
        "poisoned": len(outcomes),
        "poison_recorded": sum(1 for o in outcomes if o["recorded"]),
        "poison_outcomes": outcomes,
        "lost_ids": lost[:50],
        "good_processed_with_error": sum(
            1
            for rows in by_good.values()
            if any(r["state"] == "processed" and r["last_error"] for r in rows)
        ),
        "delivered_twice": sum(1 for n in in_digests.values() if n > 1),
        "delivered_unexpected": len(delivered_ids - expected),
    }


def import_measures(run: Run, arts: list[dict[str, Any]], digests: list[Mail]) -> dict[str, Any]:
    by_url = Counter(a["url"] for a in arts)
    processed = {a["url"] for a in arts if a["state"] == "processed"}
    good = [ln for ln in run.import_lines if ln.kind == "good"]
    lost = [ln.line for ln in good if ln.url not in processed]
    twice = sum(n - 1 for n in by_url.values() if n > 1)
    delivered = {
        int(m.group(1)) for mail in digests for u in mail.urls if (m := IMPORT_ID.search(u))
    }
    expected = {ln.line - 1 for ln in good if ln.matches}  # the URL carries the record's index
    final_err = run.import_final.stderr() if run.import_final is not None else ""
    outcomes = []
    for ln in run.import_lines:
        if ln.kind == "good":
            continue
        accept, detail = site_mod.IMPORT_POISONS[ln.kind]
        pattern = re.compile(rf"(?:records\.jsonl:|line\s+){ln.line}(?!\d)")
        if pattern.search(final_err):
            outcome = "reported"
        elif ln.url in processed and ln.kind in ("lone-surrogate", "date-overflow"):
            outcome = "imported"
        else:
            outcome = "missing"
        outcomes.append(
            {
                "kind": ln.kind,
                "line": ln.line,
                "outcome": outcome,
                "recorded": outcome in accept,
                "accept": sorted(accept),
                "poison": detail,
            }
        )
    return {
        "good": len(good),
        "lost": len(lost),
        "stored_twice": twice,
        "expected_delivered": len(expected),
        "delivered": len(delivered & expected),
        "poisoned": len(outcomes),
        "poison_recorded": sum(1 for o in outcomes if o["recorded"]),
        "poison_outcomes": outcomes,
        "lost_lines": lost[:50],
        "stuck_importing": sum(1 for a in arts if a["state"] == "importing"),
    }


def log_lines(procs: Iterable[Proc]) -> dict[str, int]:
    """Logged trouble in the processes' stderr, by kind (not a target: for reading)."""
    counts: Counter[str] = Counter()
    for proc in procs:
        for line in proc.stderr().splitlines():
            if " ERROR " in line or " CRITICAL " in line:
                counts["error"] += 1
            elif " WARNING " in line:
                counts["warning"] += 1
            if "could not store" in line:
                counts["could not store"] += 1
            if "job " in line and "failed" in line:
                counts["job failed"] += 1
    return dict(counts)


def summarise_tracebacks(tbs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for t in tbs:
        grouped.setdefault((t["ours"], t["where"], t["exception"]), []).append(t["process"])
    return [
        {
            "count": len(ps),
            "ours": o,
            "where": w,
            "exception": e,
            "processes": sorted(set(ps))[:6],
        }
        for (o, w, e), ps in sorted(grouped.items(), key=lambda kv: -len(kv[1]))
    ]


def last_line(stderr: str) -> str:
    """The last exception or `error:` line (SQL and its footnotes under an exception are not
    telling), else the last line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    told = [ln for ln in lines if EXCEPTION_LINE.match(ln)]
    return (told or lines or ["(nothing on stderr)"])[-1][:240]


def poison_lines(outcomes: list[dict[str, Any]]) -> list[str]:
    """The poisoned items not recorded as wanted, one line per outcome, with an example."""
    by: dict[str, list[dict[str, Any]]] = {}
    for o in outcomes:
        if not o["recorded"]:
            by.setdefault(o["outcome"], []).append(o)
    out = []
    for outcome, items in by.items():
        names = ", ".join(
            o["kind"] if "line" not in o else f"{o['kind']}@{o['line']}" for o in items[:12]
        )
        more = f" and {len(items) - 12} more" if len(items) > 12 else ""
        note = next((o["note"] for o in items if o.get("note")), "")
        out.append(f"  poison not recorded: {len(items)} {outcome}: {names}{more}")
        if note:
            out.append(f"      e.g. {note[:200]}")
    return out


def meets_targets(row: dict[str, Any]) -> bool:
    return (
        row["lost"] == 0
        and row["stored_twice"] == 0
        and row["digests_sent_twice"] == 0
        and row["alerts_sent_twice"] == 0
        and row["tracebacks"] == 0
        and row["bad_exits"] == 0
        and row["delivered"] == row["expected_delivered"]
        and row["poison_recorded"] == row["poisoned"]
    )


# --- report -------------------------------------------------------------------------------

COLUMNS = [
    ("scenario", "scenario"),
    ("db", "db"),
    ("procs", "processes"),
    ("kills", "kills"),
    ("s", "seconds"),
    ("lost", "lost"),
    ("stored 2x", "stored_twice"),
    ("digest 2x", "digests_sent_twice"),
    ("alert 2x", "alerts_sent_twice"),
    ("tracebacks", "tracebacks"),
    ("bad exits", "bad_exits"),
    ("delivered", "delivered"),
    ("poison recorded", "poison_recorded"),
    ("ok", "ok"),
]


def cell(row: dict[str, Any], key: str) -> str:
    if key == "delivered":
        return f"{row['delivered']}/{row['expected_delivered']}"
    if key == "poison_recorded":
        return f"{row['poison_recorded']}/{row['poisoned']}"
    if key == "lost":
        return f"{row['lost']}/{row['good']}"
    if key == "ok":
        return "yes" if row["ok"] else "NO"
    return str(row[key])


def table(rows: list[dict[str, Any]]) -> str:
    head = [h for h, _ in COLUMNS]
    body = [[cell(r, k) for _, k in COLUMNS] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)).rstrip() for b in body]
    lines.append(
        "targets: lost 0, stored 2x 0, digest/alert 2x 0, tracebacks 0, bad exits 0, "
        "delivered all, poison recorded all"
    )
    return "\n".join(lines)


def explain(rows: list[dict[str, Any]]) -> str:
    """What failed, scenario by scenario: the misses, traceback ends, unrecorded poisons;
    then what is worth knowing but no target (runs left `running`, pages fetched twice)."""
    out = []
    for r in rows:
        d = r["details"]
        info = info_lines(r)
        if r["ok"] and not info:
            continue
        out.append(f"\n== {r['scenario']} on {r['db']}: {'ok' if r['ok'] else 'targets missed'}")
        if r["lost"]:
            which = r.get("lost_ids") or r.get("lost_lines")
            out.append(f"  lost {r['lost']} good item(s), e.g. {which[:10]}")
        if r.get("stuck_importing"):
            out.append(f"  {r['stuck_importing']} import row(s) stuck in state 'importing'")
        if r["stored_twice"]:
            out.append(f"  {r['stored_twice']} extra row(s) for an article already stored")
        if r["digests_sent_twice"]:
            out.append(
                f"  digests twice: Message-IDs {d['duplicate_digest_message_ids'][:3]}, "
                f"overlapping periods {d['overlapping_digest_periods'][:2]}"
            )
        if r["alerts_sent_twice"]:
            out.append(
                f"  alerts twice: Message-IDs {d['duplicate_alert_message_ids'][:3]}, "
                f"{d['articles_in_two_alerts']} article(s) in two alert mails"
            )
        if r["delivered"] != r["expected_delivered"]:
            out.append(
                f"  delivered {r['delivered']} of {r['expected_delivered']} expected "
                f"({d['digest_mails']} digest mail(s))"
            )
        for b in d["bad_exits"][:6]:
            why = f" ({b['killed']})" if b["killed"] else ""
            out.append(f"  bad exit: {b['process']} exit {b['exit']}{why}: {b['last_line']}")
        for t in d["tracebacks"][:6]:
            out.append(f"  traceback x{t['count']}: {t['exception']}")
            at = t["where"] if t["ours"] in ("", t["where"]) else f"{t['ours']} -> {t['where']}"
            out.append(f"      at {at}  ({', '.join(t['processes'][:3])})")
        out += poison_lines(r["poison_outcomes"])
        for n in d["notes"]:
            out.append(f"  note: {n}")
        out += [f"  (no target) {line}" for line in info]
    return "\n".join(out)


def info_lines(r: dict[str, Any]) -> list[str]:
    d = r["details"]
    lines = []
    running = d["runs_by_status"].get("running", 0)
    if running:
        lines.append(
            f"{running} run(s) still 'running' in `monitor status` after every process ended"
        )
    if d["pages_fetched_twice"] and r["scenario"] != "kills":  # kills refetch by design
        lines.append(f"{d['pages_fetched_twice']} good page(s) fetched more than once")
    if r.get("delivered_twice"):
        lines.append(f"{r['delivered_twice']} good article(s) delivered in two digests")
    if d["zero_length_digest_periods"]:
        lines.append(f"zero-length digest periods: {d['zero_length_digest_periods'][:3]}")
    if r.get("good_processed_with_error"):
        lines.append(
            f"{r['good_processed_with_error']} good article(s) processed but showing an error"
        )
    logged = {k: v for k, v in d["log_lines"].items() if k != "warning"}
    if logged:
        lines.append(f"logged: {logged}")
    return lines


# --- main ---------------------------------------------------------------------------------


def refused_exit_code(given: int | None, src: Path | None) -> int | None:
    """The documented "refused: another writer" exit code: --refused-exit, else an extra
    EXIT_* constant of monitor.cli.common (EXIT_REFUSED, EXIT_LOCKED, ...) of the code the
    processes run, else none."""
    if given is not None:
        return given
    if src is not None:
        sys.path.insert(0, str(src))
    try:
        from monitor.cli import common
    except Exception:
        return None
    known = {"EXIT_OK", "EXIT_ERROR", "EXIT_CONFIG", "EXIT_PIPE"}
    extra = {
        k: v
        for k, v in vars(common).items()
        if k.startswith("EXIT_") and k not in known and isinstance(v, int)
    }
    for name in ("EXIT_REFUSED", "EXIT_LOCKED", "EXIT_BUSY", "EXIT_WRITER", "EXIT_IN_USE"):
        if name in extra:
            return extra[name]
    return next(iter(extra.values())) if len(extra) == 1 else None


def describe(code: dict[str, Any]) -> str:
    if "src" in code:
        return f"from {code['src']}"
    snap = " (a copy made at start)" if code["snapshot"] else " (live)"
    return f"{code['head']} + {len(code['changed'])} changed file(s){snap}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer kills, pages and records")
    ap.add_argument("--kills", type=int, help="kills of run --once (default 12, quick 4)")
    ap.add_argument("--import-kills", type=int, help="kills of import (default 6, quick 3)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both")
    ap.add_argument("--postgres", default=POSTGRES, help="admin URL (a database is made on it)")
    ap.add_argument("--pages", type=int, help="good article pages (default 240, quick 120)")
    ap.add_argument("--huge", type=int, help="entries of the huge feed (default 20000, quick 2000)")
    ap.add_argument("--import-records", type=int, help="JSON Lines (default 3000, quick 400)")
    ap.add_argument(
        "--kill-window", type=float, help="s after run --once starts working (default 30, quick 20)"
    )
    ap.add_argument(
        "--import-kill-window", type=float, help="the same for import (default 40, quick 15)"
    )
    ap.add_argument("--stop-timeout", type=float, default=120.0, help="daemon SIGTERM wait")
    ap.add_argument("--poison", default="all", help="all, none or KIND,... (see chaos_site)")
    ap.add_argument("--skip-poison", default="", help="KIND,... left out")
    ap.add_argument("--refused-exit", type=int, help='exit code of "refused: another writer"')
    ap.add_argument("--keep", action="store_true", help="keep the work folder (stderr, DBs)")
    ap.add_argument(
        "--live", action="store_true", help="run the working tree itself, not a copy made at start"
    )
    ap.add_argument(
        "--src",
        type=Path,
        help="run the monitor/ package in this folder instead (e.g. `git archive` of a commit)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    q = args.quick
    args.kills = args.kills if args.kills is not None else (4 if q else 12)
    args.import_kills = args.import_kills if args.import_kills is not None else (3 if q else 6)
    args.pages = args.pages or (120 if q else 240)
    args.huge = args.huge if args.huge is not None else (2000 if q else 20_000)
    args.import_records = args.import_records or (400 if q else 3000)
    args.kill_window = args.kill_window or (20.0 if q else 30.0)
    args.import_kill_window = args.import_kill_window or (15.0 if q else 40.0)
    return args


def poison_set(args: argparse.Namespace) -> set[str]:
    kinds = set(site_mod.POISON_KINDS)
    if args.poison == "none":
        chosen: set[str] = set()
    elif args.poison == "all":
        chosen = set(kinds)
    else:
        chosen = {k.strip() for k in args.poison.split(",") if k.strip()}
    chosen -= {k.strip() for k in args.skip_poison.split(",") if k.strip()}
    unknown = chosen - kinds
    if unknown:
        raise SystemExit(f"unknown poison kind(s) {sorted(unknown)}; known: {sorted(kinds)}")
    return chosen


@dataclass
class Bench:
    """What every scenario shares: the options, the site and its server, the SMTP sink."""

    args: argparse.Namespace
    site: site_mod.Site
    server: LoopbackServer
    sink: Sink
    work: Path
    src: Path | None
    refused: int | None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for s in scenarios:
        if s not in RUNNERS:
            raise SystemExit(f"unknown scenario {s!r}; known: {', '.join(SCENARIOS)}")
    backends = [Backend(k.strip(), args.postgres) for k in args.db.split(",") if k.strip()]
    notes = [b.note for b in backends if not b.available()]
    usable = [b for b in backends if not b.note]
    for note in notes:
        print(note, flush=True)
    t_all = time.monotonic()
    rows: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="monitor-chaos-"))
    if args.src is not None:
        src: Path | None = args.src.resolve()
        code: dict[str, Any] = {"src": str(src)}
    else:
        code = {**code_state(), "snapshot": not args.live}
        src = None if args.live else snapshot(work)
    refused = refused_exit_code(args.refused_exit, src)
    if refused is None:
        notes.append('no "refused: another writer" exit code is documented: only 0 is allowed')
    server = LoopbackServer().start()
    sink = Sink()
    try:
        site = site_mod.build_site(
            server.base_url,
            pages=args.pages,
            huge=args.huge,
            poison=poison_set(args),
            seed=args.seed,
        )
        site.install(server)
        bench = Bench(args, site, server, sink, work, src, refused)
        print(
            f"site {server.base_url}: {len(site.good)} good pages in {len(site_mod.FEEDS)} feeds, "
            f"{len(site.poisons)} poisoned items, {len(site.sources)} sources; SMTP sink "
            f"127.0.0.1:{sink.port}; code {describe(code)}; work folder {work}",
            flush=True,
        )
        for scenario in scenarios:
            for backend in usable:
                rows.append(run_scenario(bench, scenario, backend))
                r = rows[-1]
                verdict = "ok" if r["ok"] else "targets missed"
                print(f"-- {scenario} on {backend.kind}: {verdict} ({r['seconds']} s)", flush=True)
    finally:
        sink.stop()
        server.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    total = time.monotonic() - t_all
    print()
    print(table(rows))
    print(explain(rows))
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average": os.getloadavg(),
        },
        "code": code,
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "refused_exit_code": refused,
        "seconds": round(total, 1),
        "notes": notes,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"\n{len(rows)} scenario run(s) in {total:.0f} s; written to {args.out}")
    if args.keep:
        print(f"work folder kept: {work}")
    return 0 if rows and all(r["ok"] for r in rows) else 1


def run_scenario(bench: Bench, scenario: str, backend: Backend) -> dict[str, Any]:
    """One scenario on a fresh database, finished and measured; the database dropped after."""
    workdir = bench.work / f"{scenario}-{backend.kind}"
    workdir.mkdir(parents=True)
    url = backend.create(workdir, scenario)
    config = write_config(workdir, url, bench.site.sources, bench.sink.port)
    run = Run(scenario, backend.kind, workdir, config, url, mail_index=len(bench.sink.mails))
    run.src = bench.src
    seen = len(bench.server.requests)
    # Its own generator: a scenario's kill moments do not depend on which others ran.
    rng = random.Random(f"{bench.args.seed}-{scenario}-{backend.kind}")
    t0 = time.monotonic()
    try:
        RUNNERS[scenario](run, bench.args, rng)
        run.seconds = time.monotonic() - t0
        run.page_fetches = Counter(
            r.path for r in bench.server.requests[seen:] if GOOD_ID.search(r.path)
        )
        time.sleep(0.5)  # the last mail's DATA is handled on the sink's thread
        return measure(run, bench.site, bench.sink, bench.refused)
    finally:
        for proc in run.procs:
            if proc.popen is not None and proc.popen.poll() is None:
                kill_group(proc, "timeout")
        try:
            backend.drop(url)
        except Exception as exc:
            print(f"could not drop {url}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
