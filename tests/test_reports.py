"""Report files: one per format, named by watchlist and period end, written atomically."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.delivery.render import render_csv, render_digest, render_markdown
from monitor.delivery.reports import (
    REPORT_FORMATS,
    report_path,
    watchlist_dirname,
    write_atomically,
    write_reports,
)
from monitor.errors import DeliveryError
from tests.golden.samples import empty, morning

ALL = ["html", "text", "markdown", "json", "csv", "atom"]


def test_writes_every_format_under_watchlist_and_local_period_end(tmp_path: Path) -> None:
    content = morning()  # ends 04:00 UTC = 07:00 in Baghdad
    rendered = render_digest(content)
    paths = write_reports(content, rendered, tmp_path, ALL)
    names = [p.relative_to(tmp_path).as_posix() for p in paths]
    assert names == [
        f"iraq-militias/2026-12-01T0700.{ext}"
        for ext in ("html", "txt", "md", "json", "csv", "atom")
    ]
    assert paths[0].read_text(encoding="utf-8") == rendered.html
    assert paths[1].read_text(encoding="utf-8") == rendered.text
    assert paths[2].read_text(encoding="utf-8") == render_markdown(content)
    assert json.loads(paths[3].read_text(encoding="utf-8"))["article_count"] == 2
    assert paths[4].read_bytes().decode("utf-8") == render_csv(content)  # CRLF rows kept
    assert paths[5].read_text(encoding="utf-8").startswith("<?xml")


def test_no_temp_files_are_left(tmp_path: Path) -> None:
    write_reports(morning(), render_digest(morning()), tmp_path, ALL)
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def test_email_is_not_a_file_and_duplicates_are_written_once(tmp_path: Path) -> None:
    paths = write_reports(empty(), render_digest(empty()), tmp_path, ["email", "html", "html"])
    assert [p.name for p in paths] == ["2026-12-01T0700.html"]


def test_unknown_format_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match="unknown report format 'pdf'"):
        write_reports(morning(), render_digest(morning()), tmp_path, ["html", "pdf"])
    assert list(tmp_path.iterdir()) == []


def test_rewriting_replaces_the_same_files(tmp_path: Path) -> None:
    first = write_reports(morning(), render_digest(morning()), tmp_path, ["text"])
    fewer = dataclasses.replace(morning(), articles=morning().articles[:1])
    second = write_reports(fewer, render_digest(fewer), tmp_path, ["text"])
    assert first == second
    assert "1 article" in second[0].read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("iraq-militias", "iraq-militias"),
        ("US–Iran tensions", "US-Iran-tensions"),
        ("../../etc/passwd", "etc-passwd"),
        ("..", "watchlist"),
        (".hidden", "hidden"),
        ("a/b\\c", "a-b-c"),
        ("", "watchlist"),
    ],
)
def test_watchlist_dirname_is_one_safe_folder(name: str, expected: str) -> None:
    assert watchlist_dirname(name) == expected


def test_hostile_watchlist_name_stays_inside_the_directory(tmp_path: Path) -> None:
    content = dataclasses.replace(morning(), watchlist="../../outside")
    (path,) = write_reports(content, render_digest(content), tmp_path, ["json"])
    assert path.resolve().is_relative_to(tmp_path.resolve())


def test_naive_period_end_is_utc(tmp_path: Path) -> None:
    content = dataclasses.replace(morning(), period_end=datetime(2026, 12, 1, 4, 0))
    assert report_path(content, tmp_path, "html").name == "2026-12-01T0700.html"
    utc = dataclasses.replace(
        content, timezone="UTC", period_end=datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    )
    assert report_path(utc, tmp_path, "csv").name == "2026-12-01T0400.csv"


def test_failed_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "r.txt"
    write_atomically(target, "old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(DeliveryError, match=r"cannot write report .*r\.txt.*No space left"):
        write_atomically(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.txt"]


def test_unwritable_directory_is_a_delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(DeliveryError, match="cannot write report"):
        write_reports(morning(), render_digest(morning()), blocker, ["html"])


def test_every_documented_format_is_known() -> None:
    assert set(ALL) == set(REPORT_FORMATS)
