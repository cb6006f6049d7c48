"""The digest as report files: Markdown (from its template), JSON (the full content) and CSV
(one row per story, cells defused against spreadsheet formulas).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from monitor.delivery.chart import trend_days
from monitor.delivery.render.filters import oneline
from monitor.delivery.render.templates import normalise_newlines, render_template
from monitor.delivery.render.view import digest_context, matched_labels, time_zone
from monitor.models import DigestContent

# Spreadsheets run cells starting with these as formulas (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def render_markdown(content: DigestContent, *, templates_dir: Path | None = None) -> str:
    """The digest as Markdown (matched terms in bold, links allow-listed)."""
    return normalise_newlines(
        render_template("digest.md.j2", digest_context(content), templates_dir)
    )


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def render_json(content: DigestContent) -> str:
    """The digest's full content as one JSON document (times ISO 8601, as stored)."""
    doc = asdict(content)
    doc["article_count"] = len(content.articles)
    days = max((len(t.daily) for t in content.actor_trends), default=0)
    doc["trend_days"] = [
        d.isoformat() for d in trend_days(content.period_end, time_zone(content.timezone), days)
    ]
    return json.dumps(doc, default=_json_default, ensure_ascii=False, indent=2) + "\n"


CSV_COLUMNS = (
    "matched_at", "published_at", "source", "title", "url", "actors", "actor_ids",
    "matched_terms", "also_reported_count", "also_reported_by", "story_id", "snippet",
    "status", "matched_on",
)  # fmt: skip


def _cell(value: object) -> str:
    text = oneline("" if value is None else value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(content: DigestContent) -> str:
    """One row per story (its face; the other matched reports' URLs in `also_reported_by`);
    cells one-line and defused against spreadsheet formulas."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for a in content.articles:
        row = (
            a.matched_at.isoformat(),
            a.published_at.isoformat() if a.published_at else "",
            a.source,
            a.title,
            a.url,
            "; ".join(f"{c.name} ({c.type})" for c in a.actors),
            " ".join(c.id for c in a.actors),
            "; ".join(a.matched_terms),
            len(a.also_reported_by),
            " ".join(o.url for o in a.also_reported_by),
            "" if a.story_id is None else a.story_id,
            a.snippet,
            a.status,
            "; ".join(matched_labels(a.matched_on)),
        )
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue()
