"""Report files: one per format, named by watchlist and period end, written atomically."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from monitor.delivery.mailer import FileMailer, build_message
from monitor.delivery.render import (
    digest_entry_id,
    inline_images,
    render_csv,
    render_digest,
    render_markdown,
)
from monitor.delivery.reports import (
    REPORT_FORMATS,
    report_path,
    watchlist_dirname,
    write_atomically,
    write_reports,
)
from monitor.errors import DeliveryError
from monitor.models import DigestContent
from tests.golden.samples import empty, morning

ATOM = "{http://www.w3.org/2005/Atom}"

ALL = ["html", "text", "markdown", "json", "csv", "atom"]


def test_writes_every_format_under_watchlist_and_utc_period_end(tmp_path: Path) -> None:
    content = morning()  # ends 04:00 UTC = 07:00 in Baghdad
    rendered = render_digest(content)
    paths = write_reports(content, rendered, tmp_path, ALL)
    names = [p.relative_to(tmp_path).as_posix() for p in paths]
    assert names == [
        *(f"iraq-militias/20261201T040000Z.{ext}" for ext in ("html", "txt", "md", "json", "csv")),
        "iraq-militias/feed.atom",
    ]
    assert paths[0].read_text(encoding="utf-8") == inline_images(rendered)
    assert "data:image/png;base64," in paths[0].read_text(encoding="utf-8")
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
    assert [p.name for p in paths] == ["20261201T070000Z.html"]  # us-iran ends 07:00 UTC


def test_unknown_format_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match="unknown report format 'pdf'"):
        write_reports(morning(), render_digest(morning()), tmp_path, ["html", "pdf"])
    assert list(tmp_path.iterdir()) == []


def test_rewriting_replaces_the_same_files(tmp_path: Path) -> None:
    first = write_reports(morning(), render_digest(morning()), tmp_path, ["text"])
    fewer = dataclasses.replace(
        morning(), articles=morning().articles[:1], total_stories=1, total_reports=3
    )
    second = write_reports(fewer, render_digest(fewer), tmp_path, ["text"])
    assert first == second
    assert "1 story" in second[0].read_text(encoding="utf-8")


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


def test_file_names_are_utc_whatever_the_digest_time_zone(tmp_path: Path) -> None:
    naive = dataclasses.replace(morning(), period_end=datetime(2026, 12, 1, 4, 0))
    assert report_path(naive, tmp_path, "html").name == "20261201T040000Z.html"
    utc = dataclasses.replace(
        naive, timezone="UTC", period_end=datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    )
    assert report_path(utc, tmp_path, "csv").name == "20261201T040000Z.csv"


def test_reports_and_mail_files_share_one_time_convention(tmp_path: Path) -> None:
    rendered = render_digest(morning())
    msg = build_message(
        rendered,
        sender="m@example.org",
        recipients=["a@example.org"],
        message_id="<x@monitor>",
        list_id="iraq-militias.monitor",
        date=morning().period_end,
    )
    eml = FileMailer(tmp_path / "mail").send(msg)
    (html,) = write_reports(morning(), rendered, tmp_path, ["html"])
    assert eml.name.startswith(html.stem + "-")  # 20261201T040000Z


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


# --- the watchlist's feed -------------------------------------------------------------


def _day(n: int, watchlist: str = "iraq-militias") -> DigestContent:
    start = datetime(2026, 11, 1, 4, 0, tzinfo=UTC) + timedelta(days=n)
    return dataclasses.replace(
        morning(), watchlist=watchlist, period_start=start, period_end=start + timedelta(days=1)
    )


def _feed(path: Path) -> ET.Element:
    return ET.fromstring(path.read_text(encoding="utf-8"))


def test_feed_is_one_file_per_watchlist_that_gathers_digests(tmp_path: Path) -> None:
    for n in range(3):
        content = _day(n)
        (path,) = write_reports(content, render_digest(content), tmp_path, ["atom"])
        assert path == tmp_path / "iraq-militias" / "feed.atom"
    feed = _feed(path)
    ids = [e.findtext(f"{ATOM}id") for e in feed.iter(f"{ATOM}entry")]
    assert ids == [digest_entry_id(_day(n)) for n in (2, 1, 0)]
    self_link = feed.find(f"{ATOM}link[@rel='self']")
    assert self_link is not None and self_link.get("href") == path.resolve().as_uri()
    assert sorted(p.name for p in path.parent.iterdir()) == ["feed.atom"]


def test_feed_links_each_entry_to_its_html_page_and_honours_feed_url(tmp_path: Path) -> None:
    url = "https://reports.example.org/iraq-militias/feed.atom"
    paths = write_reports(
        morning(), render_digest(morning()), tmp_path, ["atom", "html"], feed_url=url
    )
    feed = _feed(paths[0])
    assert feed.find(f"{ATOM}link[@rel='self']").get("href") == url  # type: ignore[union-attr]
    alternate = feed.find(f"{ATOM}entry/{ATOM}link[@rel='alternate']")
    assert alternate is not None and alternate.get("href") == paths[1].name
    (path,) = write_reports(_day(40), render_digest(_day(40)), tmp_path, ["atom"])
    newest = _feed(path).find(f"{ATOM}entry")
    assert newest is not None and newest.find(f"{ATOM}link") is None  # no page written


def test_feed_keeps_the_last_entries_and_rewrites_a_resent_digest(tmp_path: Path) -> None:
    for n in (0, 1, 2, 3, 1):
        write_reports(_day(n), render_digest(_day(n)), tmp_path, ["atom"], feed_entries=3)
    entries = list(_feed(tmp_path / "iraq-militias" / "feed.atom").iter(f"{ATOM}entry"))
    assert [e.findtext(f"{ATOM}id") for e in entries] == [
        digest_entry_id(_day(n)) for n in (3, 2, 1)
    ]


def test_feeds_of_two_watchlists_stay_apart(tmp_path: Path) -> None:
    for name in ("iraq-militias", "us-iran"):
        write_reports(_day(0, name), render_digest(_day(0, name)), tmp_path, ["atom"])
    for name in ("iraq-militias", "us-iran"):
        assert len(list(_feed(tmp_path / name / "feed.atom").iter(f"{ATOM}entry"))) == 1


def test_a_corrupt_feed_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "iraq-militias" / "feed.atom"
    path.parent.mkdir()
    path.write_text("<feed><entry>half a fi", encoding="utf-8")
    write_reports(morning(), render_digest(morning()), tmp_path, ["atom"])
    assert len(list(_feed(path).iter(f"{ATOM}entry"))) == 1


def test_an_unreadable_feed_is_a_delivery_error(tmp_path: Path) -> None:
    path = tmp_path / "iraq-militias" / "feed.atom"
    path.parent.mkdir()
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(DeliveryError, match="cannot read the Atom feed"):
        write_reports(morning(), render_digest(morning()), tmp_path, ["atom"])
