"""The trend chart: a small, deterministic PNG of the leading actors' daily mentions."""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from monitor.delivery.chart import (
    CHART_ACTORS,
    DPI,
    HEIGHT_IN,
    PALETTE,
    WIDTH_IN,
    leading_trends,
    trend_chart_png,
    trend_colours,
    trend_days,
    trend_rank,
)
from monitor.models import ActorTrend
from tests.golden.samples import TRENDS

END = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
BAGHDAD = ZoneInfo("Asia/Baghdad")


def chunks(png: bytes) -> list[bytes]:
    """The chunk types of a PNG file, in order."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, kinds = 8, []
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        body = png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc
        kinds.append(kind)
        pos += 12 + length
    return kinds


def chart(trends: tuple[ActorTrend, ...] = TRENDS) -> bytes:
    png = trend_chart_png(trends, END, BAGHDAD)
    assert png is not None
    return png


def test_chart_is_a_png_of_fixed_size() -> None:
    image = Image.open(io.BytesIO(chart()))
    assert image.format == "PNG"
    assert image.size == (round(WIDTH_IN * DPI), round(HEIGHT_IN * DPI))


def test_same_input_gives_the_same_bytes_without_metadata() -> None:
    png = chart()
    assert png == chart()
    kinds = chunks(png)
    assert b"tIME" not in kinds
    assert not {b"tEXt", b"iTXt", b"zTXt"} & set(kinds)  # no "Software: matplotlib x.y"


def test_chart_draws_the_leading_actors_in_their_colours() -> None:
    image = Image.open(io.BytesIO(chart())).convert("RGB")
    colours = {rgb for _, rgb in image.getcolors(maxcolors=1 << 20) or []}
    assert len(colours) > 50  # lines, antialiasing, text: far from one flat colour
    for hex_colour in PALETTE:
        rgb = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in colours, f"no pixel of {hex_colour}"


def test_no_chart_without_trends_or_counts() -> None:
    assert trend_chart_png((), END, BAGHDAD) is None
    flat = tuple(dataclasses.replace(t, daily=(0,) * 14) for t in TRENDS)
    assert trend_chart_png(flat, END, BAGHDAD) is None


def test_leading_trends_are_armed_groups_and_people_first_at_most_five() -> None:
    leading = leading_trends(TRENDS)
    assert len(leading) == CHART_ACTORS
    assert [t.id for t in leading] == [
        "kataib-hezbollah",  # armed groups and people, most articles first
        "asaib-ahl-al-haq",
        "abu-mahdi-al-muhandis",
        "pmf",  # then other actors: 1 this period, 17 in the window
        "irgc-qf",
    ]
    assert trend_colours(TRENDS)["kataib-hezbollah"] == PALETTE[0]
    assert "united-states" not in trend_colours(TRENDS)  # countries and places: no line


def test_countries_and_places_are_charted_only_when_nothing_else_is() -> None:
    places = [t for t in TRENDS if t.type in ("country", "place")]
    assert [t.id for t in leading_trends(places)] == ["united-states", "al-asad-air-base"]
    quiet = [dataclasses.replace(t, daily=(0,) * 14) if t.type == "armed_group" else t
             for t in TRENDS]  # fmt: skip
    assert "united-states" not in [t.id for t in leading_trends(quiet)]


def test_table_order_leads_with_armed_groups_and_people() -> None:
    ranked = [t.type for t in sorted(TRENDS, key=trend_rank)]
    assert ranked == ["armed_group", "armed_group", "person", "state_org", "state_org",
                      "country", "place"]  # fmt: skip


def test_trend_days_end_with_the_local_day_of_the_period_end() -> None:
    days = trend_days(datetime(2026, 11, 30, 22, 0, tzinfo=UTC), BAGHDAD, 14)
    assert days[-1] == date(2026, 12, 1) and days[0] == date(2026, 11, 18)
    assert trend_days(datetime(2026, 11, 30, 22, 0), ZoneInfo("UTC"), 2) == [
        date(2026, 11, 29),
        date(2026, 11, 30),
    ]


@pytest.mark.parametrize(
    "name",
    [
        "$\\frac{1}{0}$ money $",  # mathtext would parse (and may fail on) this
        "_hidden from the legend",
        "中文名字 ミリシア",  # glyphs DejaVu lacks: boxes, not a failed digest
        "الحشد الشعبي",
        "x" * 300,
        "",
    ],
)
def test_odd_names_still_draw(name: str) -> None:
    odd = (dataclasses.replace(TRENDS[0], name=name),)
    assert Image.open(io.BytesIO(chart(odd))).size == (960, 390)


def test_short_and_uneven_series_are_right_aligned() -> None:
    uneven = (
        dataclasses.replace(TRENDS[0], daily=(1, 2, 3)),
        dataclasses.replace(TRENDS[1], daily=TRENDS[1].daily),
    )
    assert Image.open(io.BytesIO(chart(uneven))).size == (960, 390)
    assert chart((dataclasses.replace(TRENDS[0], daily=(4,)),))
