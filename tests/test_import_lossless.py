"""`monitor import` loses nothing and stops at nothing: a record is imported whole or by the
next import of the file (after a kill, or an error while processing it); a bad line is
reported as FILE:LINE and skipped; every value stored fits every database."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from monitor import app as appmod
from monitor import cli, importing
from monitor.config import load_settings
from monitor.pipeline import bounds
from monitor.pipeline.runner import ImportRecord, stored
from monitor.storage.schema import (
    ArticleRow,
    BandRow,
    MatchRow,
    MentionRow,
    SignatureRow,
    StoryKeyRow,
    StoryTermsRow,
)
from tests.conftest import REPO

ROCKETS = "Kataib Hezbollah fired rockets at a base near Baghdad, officials said."
PER_ARTICLE = [ArticleRow, SignatureRow, BandRow, StoryKeyRow, StoryTermsRow, MentionRow, MatchRow]
# the module (the package's `process` is the function of that name)
process = importlib.import_module("monitor.pipeline.runner.process")
OVERFLOW = "9999-12-31T23:59:59-12:00"  # a valid ISO 8601 time in year 10000 in UTC


def words(n: int, count: int) -> str:
    """`count` made-up words of record `n`, shared with no other record: articles that are
    neither copies of each other nor one story."""
    out = []
    for j in range(count):
        digest = hashlib.sha1(f"{n}-{j}".encode()).digest()
        out.append("".join("abcdefghijklmnopqrstuvwxyz"[b % 26] for b in digest[:7]))
    return " ".join(out)


def record(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "url": f"https://example.org/news/{n}",
        "title": f"Report {n}",
        "text": f"{ROCKETS} {words(n, 40)}.",
        "source": "Wire",
        **fields,
    }


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def make_config(tmp_path: Path, database_url: str) -> Path:
    cfg = {
        "database": database_url,
        "entities": str(REPO / "config" / "entities.yaml"),
        "reports_dir": str(tmp_path / "reports"),
        "watchlists": [
            {
                "name": "kh",
                "query": "entity:kataib-hezbollah AND rocket*",
                "digest": {"formats": ["html"]},
            }
        ],
    }
    path = tmp_path / f"monitor-{len(list(tmp_path.glob('monitor-*.yaml')))}.yaml"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Path:
    return make_config(tmp_path, database_url)


def open_app(config: Path) -> appmod.App:
    return appmod.build(load_settings(config), workers=1)


def states(config: Path) -> dict[str, int]:
    app = open_app(config)
    try:
        with app.db.session() as s:
            rows = s.execute(select(ArticleRow.state, func.count()).group_by(ArticleRow.state))
            return {state: n for state, n in rows}
    finally:
        app.close()


def table_counts(config: Path) -> dict[str, int]:
    app = open_app(config)
    try:
        with app.db.session() as s:
            return {
                t.__tablename__: s.scalar(select(func.count()).select_from(t)) or 0
                for t in PER_ARTICLE
            }
    finally:
        app.close()


def run(capsys: pytest.CaptureFixture[str], config: Path, path: Path) -> tuple[int, str, str]:
    code = cli.main(["--config", str(config), "import", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def worker(config: Path, path: Path, crash_batch: int | None = None) -> int:
    extra = [] if crash_batch is None else [str(crash_batch)]
    proc = subprocess.run(
        [sys.executable, "-m", "tests.crash_worker", str(config), "import", str(path), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode in (0, 9), proc.stderr
    return proc.returncode


# --- a record is imported whole, or by the next import --------------------------------------


def test_killed_between_store_and_process_the_next_import_finishes_it(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    n = 2 * stored.IMPORT_BATCH + 10
    f = write_jsonl(tmp_path / "in.jsonl", [record(i) for i in range(n)])
    # killed once the second batch is committed as "importing", before it is processed
    assert worker(config, f, crash_batch=2) == 9
    assert states(config) == {"processed": stored.IMPORT_BATCH, "importing": stored.IMPORT_BATCH}

    code, out, err = run(capsys, config, f)
    assert code == 0, err
    assert f"imported {n - stored.IMPORT_BATCH} article(s)" in out
    assert f"{stored.IMPORT_BATCH} resumed from an interrupted import" in out
    assert f"{stored.IMPORT_BATCH} already known" in out
    assert states(config) == {"processed": n}
    code, out, _ = run(capsys, config, f)
    assert code == 0 and "imported 0 article(s)" in out and f"{n} already known" in out

    # nothing lost, nothing stored twice: the same rows as one uninterrupted import
    reference = make_config(tmp_path, f"sqlite:///{tmp_path / 'reference.db'}")
    assert run(capsys, reference, f)[0] == 0
    assert table_counts(config) == table_counts(reference)
    assert table_counts(config)["matches"] == n


@pytest.mark.timeout(900)
def test_1000_records_killed_by_sigkill_then_all_imported_once(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """(benchmarks/chaos.py kills an import of 3,000 records six times.)"""
    n = 1000
    records = [{"url": f"https://example.org/a/{i}", "text": words(i, 12)} for i in range(n)]
    f = write_jsonl(tmp_path / "big.jsonl", records)
    for kill_at in ("500 records",):
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "import", str(f)],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        for line in proc.stderr:  # progress: a line every IMPORT_PROGRESS_EVERY records
            if kill_at in line:
                os.kill(proc.pid, signal.SIGKILL)
                break
        assert proc.wait(timeout=300) == -signal.SIGKILL
        proc.stderr.close()
    done = states(config).get("processed", 0)
    assert 500 <= done < n

    code, out, err = run(capsys, config, f)
    assert code == 0, err
    progress = [line.strip() for line in err.splitlines() if " records: " in line]
    assert [p.split(":")[0] for p in progress] == [f"{k} records" for k in range(500, n + 1, 500)]
    imported = int(out.split("imported ")[1].split(" ")[0])
    known = int(out.split("; ")[1].split(" already known")[0])
    assert imported + known == n and imported <= n - done
    assert states(config) == {"processed": n}


@pytest.mark.parametrize("where", ["linking", "the whole step"])
def test_an_error_while_processing_leaves_the_record_to_the_next_import(
    tmp_path: Path,
    config: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    f = write_jsonl(tmp_path / "in.jsonl", [record(i) for i in range(3)])
    poisoned = record(1)["url"]
    if where == "linking":  # inside the transaction that stores the processed batch
        original_link = process.link

        def link(p: Any, tx: Any, subject: Any, *args: Any, **kw: Any) -> int | None:
            if subject.url == poisoned:
                raise RuntimeError("the tagger fell over")
            return original_link(p, tx, subject, *args, **kw)

        monkeypatch.setattr(process, "link", link)
    else:  # the processing step itself
        original_batch = stored.record_batch

        def record_batch(ctx: Any, outcomes: Any, report: Any) -> dict[int, int]:
            if any(o.pending.url == poisoned for o in outcomes):
                raise RuntimeError("the tagger fell over")
            return original_batch(ctx, outcomes, report)

        monkeypatch.setattr(stored, "record_batch", record_batch)
    code, out, err = run(capsys, config, f)
    assert code == 1
    assert "imported 2 article(s)" in out and "1 failed" in out
    assert f"{f}:2: {poisoned}: " in err and "the tagger fell over" in err
    assert "processed again by the next import" in err
    assert states(config) == {"processed": 2, "importing": 1}

    monkeypatch.undo()
    code, out, err = run(capsys, config, f)
    assert code == 0, err
    assert "imported 1 article(s)" in out and "1 resumed" in out and "2 already known" in out
    assert states(config) == {"processed": 3}


def test_a_url_repeated_in_the_file_is_stored_once(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = write_jsonl(
        tmp_path / "in.jsonl",
        [
            record(1),
            record(2),
            record(1, title="Again"),
            record(1, url="https://EXAMPLE.org/news/1"),
        ],
    )
    code, out, err = run(capsys, config, f)
    assert code == 0, err
    assert "imported 2 article(s)" in out and "2 already known" in out
    assert states(config) == {"processed": 2}


# --- bad values: reported with their line, skipped; the rest imported -------------------------


def test_bad_lines_are_reported_with_file_line_and_the_rest_imported(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        json.dumps(record(1)).encode(),
        json.dumps(record(2, published_at=OVERFLOW)).encode(),
        json.dumps(record(3, url="http://[::1")).encode(),
        b'{"url": "https://example.org/news/4", "text": "caf\xe9 au lait"}',  # Latin-1
        json.dumps(record(5, url="https://example.org/" + "a" * 3000)).encode(),
        b"\xff\xfe{",
        json.dumps(record(7, published_at="yesterday")).encode(),
        json.dumps(record(8, title=["a", "list"])).encode(),
        json.dumps(record(9, url="javascript:alert(1)")).encode(),
        json.dumps(record(10, text="\u0000\ud800", html=None)).encode(),
        b"[" * 100_000,
        json.dumps(record(12, published_at="2026-11-30T10:00:00+03:00")).encode(),
        json.dumps(record(13, published_at="0001-01-01T00:00:00Z")).encode(),
    ]
    f = tmp_path / "in.jsonl"
    f.write_bytes(b"\n".join(lines) + b"\n")
    code, out, err = run(capsys, config, f)
    assert code == 1
    assert "imported 2 article(s)" in out and "11 bad line(s)" in out
    skipped = out.split("skipped lines: ")[1]
    for count in ("3 bad url", "3 bad published_at", "2 not UTF-8", "1 not JSON", "1 no text"):
        assert count in skipped
    expected = {
        2: "bad published_at: 9999-12-31T23:59:59-12:00 is out of range in UTC",
        3: "bad url: 'http://[::1': a link that cannot be read (Invalid IPv6 URL)",
        4: "not UTF-8: byte 0xe9 at column 51 is not UTF-8",
        5: "bad url: 'https://example.org/aaaa",
        6: "not UTF-8: byte 0xff at column 1",
        7: "bad published_at: 'yesterday' is not ISO 8601",
        8: "not a record: `title` is a JSON array, not a string",
        9: "bad url: 'javascript:alert(1)': not an http(s) link with a host",
        10: "no text: each record needs a non-empty `text` or `html`",
        11: "not JSON: arrays or objects nested too deeply",
        13: "bad published_at: 0001-01-01T00:00:00+00:00 is not a publication date",
    }
    for line, message in expected.items():
        assert f"{f}:{line}: {message}" in err
    assert "Traceback" not in err
    assert states(config) == {"processed": 2}
    app = open_app(config)
    try:
        with app.db.session() as s:
            when = s.scalar(select(ArticleRow.published_at).where(ArticleRow.url.like("%/12")))
        assert when == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    finally:
        app.close()


def test_records_built_in_code_with_bad_values_are_refused_not_raised(config: Path) -> None:
    app = open_app(config)
    try:
        rep = appmod.import_articles(
            app,
            [
                ImportRecord(url="http://[::1", text=ROCKETS),
                ImportRecord(
                    url="https://example.org/o",
                    text=ROCKETS,
                    published_at=datetime.fromisoformat(OVERFLOW),
                ),
                ImportRecord(
                    url="https://example.org/y1",
                    text=ROCKETS,
                    published_at=datetime(1, 1, 1, tzinfo=UTC),
                    where="x.jsonl:3",
                ),
                ImportRecord(url="https://example.org/ok", text=ROCKETS, where="x.jsonl:4"),
            ],
        )
    finally:
        app.close()
    assert rep.processed == 1 and rep.records == 4
    assert rep.refused == {
        "http://[::1": "url 'http://[::1': a link that cannot be read (Invalid IPv6 URL)",
        "https://example.org/o": f"published_at {OVERFLOW} is out of range in UTC",
        "x.jsonl:3: https://example.org/y1": "published_at 0001-01-01T00:00:00+00:00 is not "
        "a publication date (from 1900 to 2099)",
    }


# --- values that fit every database ----------------------------------------------------------


def test_nul_control_characters_and_lone_surrogates_never_reach_the_database(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dirty = "\u0000\udfff\ud800\x0b\x1b"  # low before high: two lone surrogates
    f = write_jsonl(
        tmp_path / "in.jsonl",
        [
            record(1, title=f"Rockets{dirty} hit\nTaji", text=f"{ROCKETS}{dirty} {words(1, 40)}"),
            record(2, title="x" * 5000, source="Wire\u0000" + "s" * 500),
            {
                "url": "https://example.org/news/3",
                "html": f"<html><body><article><p>{ROCKETS}\x0b{dirty} {words(3, 60)}</p>"
                "</article></body></html>",
            },
        ],
    )
    assert "\\ud800" in f.read_text(encoding="utf-8")  # JSON's escape of a lone surrogate
    code, out, err = run(capsys, config, f)
    assert code == 0, err
    assert "imported 3 article(s)" in out
    app = open_app(config)
    try:
        rep = appmod.import_articles(  # built in code: made storable all the same
            app,
            [ImportRecord(url="https://example.org/4", title=f"T{dirty}", text=ROCKETS + dirty)],
        )
        assert rep.processed == 1
        with app.db.session() as s:
            rows = s.scalars(select(ArticleRow).order_by(ArticleRow.id)).all()
            stored_rows = [(r.title, r.text, r.source_name, r.state) for r in rows]
    finally:
        app.close()
    assert [r[3] for r in stored_rows] == ["processed"] * 4
    for title, text, source, _ in stored_rows:
        for value in (title, text, source):
            assert bounds.clean_text(value) == value
            assert not any(c in value for c in dirty)
    assert stored_rows[0][0] == "Rockets hit Taji"
    assert len(stored_rows[1][0]) == bounds.MAX_TITLE_CHARS and stored_rows[1][0].endswith("…")
    assert len(stored_rows[1][2]) == bounds.MAX_SOURCE_CHARS
    assert "Kataib Hezbollah" in stored_rows[2][1]
    assert stored_rows[3][0] == "T"


# --- the line parser: a record or a per-line error, whatever the line ------------------------

REASONS = {
    importing.NOT_UTF8,
    importing.NOT_JSON,
    importing.NOT_A_RECORD,
    importing.BAD_URL,
    importing.BAD_TIME,
    importing.NO_TEXT,
}
URLS = st.one_of(
    st.sampled_from(
        [
            "https://example.org/a",
            "http://[::1",
            "http://[::1]/x",
            "http://example.org:99999/",
            "https://example.org/" + "a" * 2100,
            "https://exa mple.org/",
            "https://example.org/\u0000",
            "mailto:a@example.org",
            "//example.org/a",
            "",
        ]
    ),
    st.text(max_size=40),
    st.text(max_size=20).map(lambda s: "https://example.org/" + s),
    st.text(max_size=20).map(lambda s: "http://" + s),
)
TIMES = st.one_of(
    st.none(),
    st.sampled_from([OVERFLOW, "0001-01-01T00:00:00+14:00", "2026-11-30", "2026-11-30T10:00Z"]),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.text(max_size=30),
    st.integers(),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=8,
)
TEXTS = st.one_of(st.text(max_size=200), JSON_VALUES)
OBJECTS = st.fixed_dictionaries(
    {},
    optional={
        "url": st.one_of(URLS, JSON_VALUES),
        "title": TEXTS,
        "text": TEXTS,
        "html": TEXTS,
        "published_at": TIMES,
        "source": TEXTS,
        "other": JSON_VALUES,
    },
)
FAST = settings(max_examples=500, deadline=None)


def check_line(raw: bytes | str) -> None:
    got = importing.parse_line(raw, "in.jsonl", 7)
    if isinstance(got, importing.BadLine):
        assert got.reason in REASONS
        assert str(got).startswith(f"in.jsonl:7: {got.reason}: ")
        return
    assert isinstance(got, ImportRecord)
    assert got.where == "in.jsonl:7"
    assert stored.link_problem(got.url) is None
    assert got.text.strip() or got.html.strip()
    for value in (got.text, got.html, got.title, got.source):
        assert bounds.clean_text(value) == value
    assert got.title == bounds.title(got.title)
    assert len(got.source) <= bounds.MAX_SOURCE_CHARS
    if got.published_at is not None:
        earliest, latest = stored.PUBLISHED_RANGE
        assert got.published_at.tzinfo is UTC and earliest <= got.published_at < latest
    assert stored.storable(got) == got  # nothing left to clean


@FAST
@given(OBJECTS)
@example({"url": "http://[::1", "text": "a"})
@example({"url": "https://example.org/a", "text": "a", "published_at": OVERFLOW})
@example({"url": "https://example.org/a", "text": "\ud800", "title": "\u0000"})
def test_any_json_object_gives_a_storable_record_or_a_line_error(data: dict[str, Any]) -> None:
    check_line(json.dumps(data).encode("utf-8", "surrogatepass"))
    check_line(json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    check_line(json.dumps(data))


@FAST
@given(st.binary(max_size=300) | OBJECTS.map(lambda d: json.dumps(d).encode()[:-3]))
@example(b'{"url": "https://example.org/a", "text": "\xed\xa0\x80"}')  # a surrogate in UTF-8
@example(b"\xef\xbb\xbf" + b'{"url": "https://example.org/a", "text": "a"}')
@example(b"1" * 5000)
def test_any_bytes_give_a_record_or_a_line_error(raw: bytes) -> None:
    check_line(raw)


@FAST
@given(st.text(max_size=300))
def test_any_text_gives_a_record_or_a_line_error(raw: str) -> None:
    check_line(raw)


def test_lines_are_split_at_newlines_only_and_numbered_from_one(tmp_path: Path) -> None:
    # \r, U+2028 and U+0085 end lines for str.splitlines, not in JSON Lines
    good = json.dumps(record(1, title="a\u2028b\rc\x85d"), ensure_ascii=False).encode()
    f = tmp_path / "in.jsonl"
    f.write_bytes(good.replace(b"\\r", b"\r") + b"\n  \n\xff\n" + good)
    with f.open("rb") as stream:
        got = list(importing.read_lines(stream, "f.jsonl"))
    assert [type(g) for g in got] == [ImportRecord, importing.BadLine, ImportRecord]
    assert isinstance(got[0], ImportRecord) and got[0].title == "a b c d"
    assert isinstance(got[1], importing.BadLine)
    assert (got[1].line, got[1].reason) == (3, importing.NOT_UTF8)
    assert isinstance(got[2], ImportRecord) and got[2].where == "f.jsonl:4"
