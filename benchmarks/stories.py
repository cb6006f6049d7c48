"""Story quality at the field's real density: tests/fixtures/stories/ (our own writing, 112
articles over ten days, 37 events reported by 1-4 outlets, copies, excerpts, follow-ups and ten
background pieces that name many events) through the real import + dedup + story step.

Run: .venv/bin/python benchmarks/stories.py [--orders time,reverse,shuffle1,shuffle2]
    [--dataset DIR] [--out FILE] [--dedup KEY=VALUE ...]
Prints a table and writes benchmarks/results/stories.json (or --out). For each processing
order: pairwise story precision and recall against the hand-marked events (a pair counts when
both articles are in one story), the number of stories, the largest story and the most
events one story holds. The baseline in the same run is "one story per article" (precision
1 by definition, recall 0 for independent reports: what any story rule must beat on recall).
Targets (issue 12): precision >= 0.95 and recall >= 0.85, no story holding two events, the
same stories in every order.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

from sqlalchemy import select

from monitor import app as appmod
from monitor.config import load_settings
from monitor.pipeline import dedup
from monitor.pipeline.runner import ImportRecord, import_articles
from monitor.storage.schema import ArticleRow

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "tests" / "fixtures" / "stories"
RESULTS = ROOT / "benchmarks" / "results" / "stories.json"


@dataclass(frozen=True)
class Score:
    order: str
    articles: int
    precision: float
    recall: float
    stories: int
    largest_story: int
    most_events_in_a_story: int
    seconds: float


def load(folder: Path) -> list[dict[str, Any]]:
    records = []
    for path in sorted(folder.glob("*.jsonl")):
        records += [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    return records


def ordered(records: list[dict[str, Any]], order: str) -> list[dict[str, Any]]:
    by_time = sorted(records, key=lambda r: (r["published_at"], r["id"]))
    if order == "time":
        return by_time
    if order == "reverse":
        return by_time[::-1]
    if order.startswith("shuffle"):
        return random.Random(int(order.removeprefix("shuffle") or 0)).sample(by_time, len(by_time))
    raise SystemExit(f"unknown order {order!r}: use time, reverse or shuffleN")


def pairwise(records: Sequence[dict[str, Any]], story: dict[str, int]) -> tuple[float, float]:
    tp = fp = fn = 0
    for a, b in combinations(records, 2):
        truth, got = a["event"] == b["event"], story[a["id"]] == story[b["id"]]
        tp += truth and got
        fp += got and not truth
        fn += truth and not got
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def stories_of(
    records: list[dict[str, Any]], workdir: Path, dedup_settings: dict[str, str]
) -> dict[str, int]:
    """Import `records` in the order given into a fresh SQLite database; id -> story id."""
    cfg: dict[str, Any] = {
        "dedup": dedup_settings,
        "database": f"sqlite:///{workdir / 'monitor.db'}",
        "entities": str(ROOT / "config" / "entities.yaml"),
        "reports_dir": str(workdir / "reports"),
    }
    (workdir / "monitor.yaml").write_text(json.dumps(cfg), encoding="utf-8")
    app = appmod.build(
        load_settings(workdir / "monitor.yaml"), clock=lambda: datetime.now(UTC), workers=1
    )
    try:
        import_articles(
            app.ctx,
            [
                ImportRecord(
                    url=r["url"],
                    title=r["title"],
                    text=r["text"],
                    published_at=datetime.fromisoformat(r["published_at"]),
                    source=r["source"],
                )
                for r in records
            ],
        )
        with app.db.session() as s:
            story = {
                dedup.canonical_url(url): sid
                for url, sid in s.execute(select(ArticleRow.canonical_url, ArticleRow.story_id))
            }
        return {r["id"]: story[dedup.canonical_url(r["url"])] for r in records}
    finally:
        app.close()


def score(order: str, records: list[dict[str, Any]], story: dict[str, int], secs: float) -> Score:
    precision, recall = pairwise(records, story)
    events: dict[int, set[str]] = {}
    for r in records:
        events.setdefault(story[r["id"]], set()).add(r["event"])
    sizes = Counter(story.values())
    return Score(
        order=order,
        articles=len(records),
        precision=round(precision, 3),
        recall=round(recall, 3),
        stories=len(sizes),
        largest_story=max(sizes.values()),
        most_events_in_a_story=max(len(e) for e in events.values()),
        seconds=round(secs, 2),
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--orders", default="time,reverse,shuffle1,shuffle2")
    ap.add_argument("--dataset", type=Path, default=DATASET, help="folder of *.jsonl articles")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument(
        "--dedup", action="append", default=[], metavar="KEY=VALUE", help="a dedup: setting"
    )
    args = ap.parse_args(argv)
    records = load(args.dataset)
    if not records:
        print(f"no articles in {args.dataset}")
        return 2
    truth = Counter(r["event"] for r in records)
    settings = dict(item.split("=", 1) for item in args.dedup)
    rows = [
        score("baseline: one story each", records, {r["id"]: i for i, r in enumerate(records)}, 0)
    ]
    for order in args.orders.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            story = stories_of(ordered(records, order), Path(tmp), settings)
            rows.append(score(order, records, story, time.perf_counter() - started))
    print(f"{len(records)} articles, {len(truth)} events (largest {max(truth.values())} reports)")
    head = f"{'order':<26} {'P':>6} {'R':>6} {'stories':>8} {'largest':>8} {'events':>7} {'s':>6}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r.order:<26} {r.precision:>6.3f} {r.recall:>6.3f} {r.stories:>8} "
            f"{r.largest_story:>8} {r.most_events_in_a_story:>7} {r.seconds:>6}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "dataset": str(
            args.dataset.relative_to(ROOT) if args.dataset.is_relative_to(ROOT) else args.dataset
        ),
        "events": len(truth),
        "dedup": settings,
        "rows": [asdict(r) for r in rows],
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
