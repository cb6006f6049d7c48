"""What the commands print: tables, JSON lines and CSV, the cycle report, JSON presenters."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from monitor import app as appmod
    from monitor import models


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [
        max([len(c)] + [min(len(row[i]), 60) for row in cells]) for i, c in enumerate(columns)
    ]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    for row in cells:
        line = "  ".join(v[:60].ljust(w) for v, w in zip(row, widths, strict=True))
        out.write(line.rstrip() + "\n")


def emit(rows: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str]) -> None:
    if fmt == "json":
        for r in rows:
            print(dumps(r))
    elif fmt == "csv":
        w = csv.DictWriter(sys.stdout, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: _json_default(v) if v is not None else "" for k, v in r.items()})
    else:
        table(rows, columns, sys.stdout)


def print_cycle(report: appmod.CycleReport) -> None:
    p, r = report.poll, report.process
    print(
        f"polled {p.polled} source(s): {p.new_articles} new article(s), "
        f"{p.not_modified} unchanged, "
        f"{len(p.failed)} failed"
    )
    for name, err in p.failed.items():
        print(f"  source {name!r} failed: {err}")
    for name, warn in p.warnings.items():
        print(f"  source {name!r} warning: {warn}")
    print(
        f"processed {r.processed} article(s): {r.duplicates} duplicate(s), {r.matched} match(es), "
        f"{len(r.failed)} failed, {r.retrying} to retry"
    )
    for url, err in list(r.failed.items())[:20]:
        print(f"  {url}: {err}")
    for a in report.alerts:
        extra = f" ({a.error})" if a.error else ""
        print(f"alert {a.watchlist}: {a.state}, {a.articles} item(s){extra}")
    for d in report.digests:
        extra = f" ({d.error})" if d.error else ""
        print(f"digest {d.watchlist}: {d.state}, {d.articles} item(s){extra}")
        for out in d.outputs:
            print(f"  {out}")


# --- JSON presenters -------------------------------------------------------------------


def hits_json(hits: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": h.id,
            "name": h.name,
            "type": h.type,
            "count": h.count,
            "mentions": [{"start": m.start, "end": m.end, "text": m.text} for m in h.mentions],
        }
        for h in hits
    ]


def entity_json(e: models.Entity) -> dict[str, Any]:
    return {
        "id": e.id,
        "name": e.name,
        "type": e.type,
        "aliases": list(e.aliases),
        "acronyms": list(e.acronyms),
        "ambiguous": list(e.ambiguous),
        "affiliations": [{"relation": a.relation, "target": a.target} for a in e.affiliations],
        "notes": e.notes,
    }


def export_record(a: models.ExportedArticle) -> dict[str, Any]:
    """An exported article as DESIGN.md's export record."""
    return {
        "url": a.url,
        "canonical_url": a.canonical_url,
        "title": a.title,
        "source": a.source,
        "published_at": a.published_at.isoformat() if a.published_at else None,
        "processed_at": a.processed_at.isoformat() if a.processed_at else None,
        "text": a.text,
        "entities": [{"id": e, "count": c} for e, c in a.entities],
        "story_id": a.story_id,
        "duplicate_of": a.duplicate_of,
        "watchlists": list(a.watchlists),
        "extraction_method": a.extraction_method,
    }


def source_row(r: models.SourceState) -> dict[str, Any]:
    """A source's state as `monitor sources` shows it."""
    return {
        "name": r.name,
        "url": r.url,
        "last_status": r.last_status,
        "error_count": r.error_count,
        "last_error": r.last_error,
        "warning": r.warning,
        "last_polled_at": r.last_polled_at,
        "last_success_at": r.last_success_at,
        "next_check_at": r.next_check_at,
        "interval": minutes(r.poll_interval_s),
        "items_seen": r.items_seen,
    }


def minutes(seconds: float | None) -> str | None:
    if not seconds:
        return None
    return f"{seconds / 3600:.1f}h" if seconds >= 3600 else f"{round(seconds / 60)}m"
