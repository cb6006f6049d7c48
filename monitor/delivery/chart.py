"""The digest's trend chart: daily matched articles (by publication date) of the leading actors,
drawn as a deterministic PNG on matplotlib's Agg canvas (no pyplot, no global state changed).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from monitor.models import ActorTrend

if TYPE_CHECKING:
    from matplotlib.axes import Axes

CHART_ACTORS = 5
# Okabe–Ito colours: told apart by most colour-blind readers, and in print.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00")
WIDTH_IN, HEIGHT_IN, DPI = 6.4, 2.6, 150  # 960 × 390 px: sharp on HiDPI screens too
CHART_SIZE = (632, 257)  # as shown in the digest (its column is 632 px wide), same ratio
_FONT = "DejaVu Sans"  # ships with matplotlib: the same glyphs on every machine
_INK, _MUTED, _GRID = "#1f2933", "#616e7c", "#e4e7eb"


# Actor types the table and the chart lead with; countries and places get their own row.
LEAD_TYPES = frozenset({"armed_group", "person"})
GEO_TYPES = frozenset({"country", "place"})


def type_rank(entity_type: str) -> int:
    """0 for armed groups and people, 1 for other actors, 2 for countries and places."""
    return 0 if entity_type in LEAD_TYPES else 2 if entity_type in GEO_TYPES else 1


def trend_rank(trend: ActorTrend) -> tuple[int, int, int, float, str, str]:
    """Sort key of the actor table and the chart: armed groups and people first, then other
    actors, countries and places last; within each, most articles in the period, then in the
    whole window, then the higher baseline; ties by name."""
    return (
        type_rank(trend.type),
        -trend.articles,
        -sum(trend.daily),
        -(trend.baseline or 0.0),
        trend.name.casefold(),
        trend.id,
    )


def leading_trends(trends: Sequence[ActorTrend], limit: int = CHART_ACTORS) -> list[ActorTrend]:
    """The actors worth a line: any mention in the window, in table order; countries and
    places only when no other actor has a series (they are named in nearly every article)."""
    drawn = [t for t in trends if any(t.daily)]
    actors = [t for t in drawn if t.type not in GEO_TYPES] or drawn
    return sorted(actors, key=trend_rank)[:limit]


def trend_colours(trends: Sequence[ActorTrend]) -> dict[str, str]:
    """Actor id -> its line colour in the chart, for the swatches of the actor table."""
    return {t.id: PALETTE[i] for i, t in enumerate(leading_trends(trends))}


def trend_days(period_end: datetime, zone: ZoneInfo, days: int) -> list[date]:
    """The local dates of a `days`-long daily series ending with the day the period ends on."""
    end = period_end if period_end.tzinfo else period_end.replace(tzinfo=UTC)
    last = end.astimezone(zone).date()
    return [last - timedelta(days=days - 1 - i) for i in range(days)]


def _label(name: str) -> str:
    # "$" starts mathtext and a leading "_" hides a legend entry: neither is meant here.
    text = " ".join(name.split()).lstrip("_") or "?"
    text = text if len(text) <= 28 else text[:27].rstrip() + "…"
    return text.replace("$", r"\$")


def trend_chart_png(
    trends: Sequence[ActorTrend], period_end: datetime, zone: ZoneInfo
) -> bytes | None:
    """The chart as PNG bytes (same input, same bytes), or None when no actor has a series."""
    # Imported here: matplotlib costs a noticeable start-up time to commands that never chart.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    leading = leading_trends(trends)
    if not leading:
        return None
    n = max(len(t.daily) for t in leading)
    days = trend_days(period_end, zone, n)
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for colour, trend in zip(PALETTE, leading, strict=False):
        series = [0] * (n - len(trend.daily)) + list(trend.daily)  # short series end at `end`
        ax.plot(range(n), series, color=colour, linewidth=1.8, marker="o", markersize=3,
                label=_label(trend.name))  # fmt: skip
    ax.axvspan(n - 1.5, n - 0.5, color="#fff3a3", alpha=0.6, linewidth=0, zorder=0)
    _style_axes(ax, days)
    # Legend columns fill top to bottom; feed them so that rows read in rank order.
    handles, labels = ax.get_legend_handles_labels()
    cols = min(len(leading), 3)
    order = [i for c in range(cols) for i in range(c, len(handles), cols)]
    ax.legend([handles[i] for i in order], [labels[i] for i in order],
              loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=cols,
              frameon=False, prop={"family": _FONT, "size": 8.5}, labelcolor=_INK,
              handlelength=1.4, columnspacing=1.2, borderaxespad=0.2)  # fmt: skip
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.13, top=0.78)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # A name in a script DejaVu lacks draws as boxes; that is no reason to lose the mail.
        warnings.filterwarnings("ignore", message="Glyph .* missing", category=UserWarning)
        fig.savefig(buf, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})
    return buf.getvalue()


def _style_axes(ax: Axes, days: Sequence[date]) -> None:
    from matplotlib.ticker import MaxNLocator

    n = len(days)
    step = 1 if n <= 7 else 2
    ticks = list(range(n - 1, -1, -step))[::-1]  # always label the last day
    ax.set_xticks(ticks, [f"{days[i].day} {days[i]:%b}" for i in ticks])
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    ax.tick_params(labelsize=8, labelcolor=_MUTED, color=_GRID, labelfontfamily=_FONT)
    ax.grid(axis="y", color=_GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color("#9aa5b1")
