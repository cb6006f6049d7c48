"""Near-duplicate lookup cost: the database LSH index at 10k, 100k and 1M stored signatures,
against comparing with every stored sketch (all pairs) where that can run.

Run: .venv/bin/python benchmarks/dedup.py [--sizes 10000,100000,1000000] [--queries 300]
    [--store DIR] [--out FILE]
Prints a table and writes benchmarks/results/dedup.json (or --out). SQLite file in a temporary
folder (or, with --store, built once in DIR and copied for each run, as the 1M build is slow);
the stored articles are synthetic (random band keys and sketches; story keys those of a
synthetic lead, drawn as the new articles' are, so common names are common in the store
too), bulk-inserted with sqlite3; a hundred of them are real texts whose edited copies are
then looked up, so the table also shows the index finds what it should.

Each new article goes through the runner's dedup + story step in its own transaction: the
step (signature included) and its commit are timed together; `commit ms` is the commit's
share (its tail is SQLite's WAL checkpoint, an fsync every ~1000 written pages).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from monitor.models import LinkSubject
from monitor.pipeline import dedup, runner, story
from monitor.storage.engine import Tx, open_database
from monitor.storage.schema import ArticleRow

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "dedup.json"
P = dedup.DedupParams()
START = datetime(2026, 1, 1, tzinfo=UTC)
PLANTED = 100
# Every seventh word a name (capitalised), so story keys are drawn from the text too.
VOCAB = [f"Name{i}" if i % 7 == 3 else f"w{i}" for i in range(30_000)]
STORE_VERSION = 3  # bump when what `bulk_store` writes changes: kept stores are rebuilt


def text(rng: np.random.Generator, words: int = 400) -> str:
    ids = rng.zipf(1.3, words) % len(VOCAB)
    sentences = [" ".join(VOCAB[i] for i in ids[j : j + 25]) for j in range(0, words, 25)]
    return "\n".join(sentences)


def edited(rng: np.random.Generator, body: str) -> str:
    """A syndicated copy: a header and footer of boilerplate, one line changed."""
    lines = body.split("\n")
    lines[len(lines) // 2] = text(rng, 25)
    return "Advertisement. Sign up now.\n" + "\n".join(lines) + "\nRepublished with permission."


def bulk_store(path: Path, n: int, rng: np.random.Generator) -> list[str]:
    """Fill a migrated SQLite file with `n` processed articles and their index rows."""
    planted = [text(rng) for _ in range(PLANTED)]
    con = sqlite3.connect(path)
    con.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
    days = rng.integers(0, 365, n)
    at = [(START + timedelta(days=int(d))).strftime("%Y-%m-%d %H:%M:%S.000000") for d in days]
    con.executemany(
        "INSERT INTO articles (id, source_name, url, canonical_url, title, feed_summary,"
        " feed_content, discovered_at, state, attempts, text, published_at, processed_at,"
        " text_hash) VALUES (?, 's', ?, ?, '', '', '', ?, 'processed', 1, ?, ?, ?, ?)",
        (
            (
                i + 1,
                f"https://e.org/{i}",
                f"https://e.org/{i}",
                at[i],
                planted[i] if i < PLANTED else "",
                at[i],
                at[i],
                f"{i:064x}",
            )
            for i in range(n)
        ),
    )
    sigs = [dedup.signature(t, P) for t in planted]
    sketch = rng.integers(0, 2**32, P.sketch_size, dtype=np.uint32)
    con.executemany(
        "INSERT INTO article_signatures (article_id, shingles, sketch) VALUES (?, ?, ?)",
        (
            (i + 1, s.shingles, s.sketch)
            if i < PLANTED and (s := sigs[i]) is not None
            else (i + 1, 400, np.sort(sketch ^ np.uint32(i)).tobytes())
            for i in range(n)
        ),
    )
    per = P.bands + P.lead_windows * P.lead_bands
    for lo in range(0, n, 200_000):
        hi = min(n, lo + 200_000)
        keys = rng.integers(-(2**63), 2**63 - 1, (hi - lo, per), dtype=np.int64)
        ids = np.repeat(np.arange(lo + 1, hi + 1), per)
        flat = keys.ravel()
        for i in range(lo, min(hi, PLANTED)):
            s = sigs[i]
            assert s is not None
            flat[(i - lo) * per : (i - lo) * per + len(s.band_keys)] = s.band_keys
        order = np.argsort(flat, kind="stable")
        con.executemany(
            "INSERT OR IGNORE INTO dedup_bands (bucket, article_id) VALUES (?, ?)",
            zip(flat[order].tolist(), ids[order].tolist(), strict=True),
        )
    con.executemany(
        "INSERT OR IGNORE INTO story_keys (key, at, article_id) VALUES (?, ?, ?)",
        (
            (k, at[i], i + 1)
            for i in range(n)
            for k in set(
                story.article_story_keys("", planted[i] if i < PLANTED else text(rng, 200), (), P)
            )
        ),
    )
    con.commit()
    con.close()
    return planted


def lookups(url: str, planted: list[str], queries: int, rng: np.random.Generator) -> dict[str, Any]:
    """Process `queries` new articles through the runner's dedup step; time each part."""
    db = open_database(url)
    sig_ms, step_ms, commit_ms, found = [], [], [], 0
    try:
        for q in range(queries):
            body = edited(rng, planted[q % PLANTED]) if q < PLANTED else text(rng)
            t0 = time.perf_counter()
            dedup.signature(body, P)
            t1 = time.perf_counter()
            with db.session() as s:
                row = ArticleRow(
                    source_name="bench",
                    url=f"https://new.org/{q}",
                    canonical_url=f"https://new.org/{q}",
                    text=body,
                    text_hash=dedup.text_fingerprint(body),
                    discovered_at=START + timedelta(days=366),
                    published_at=START + timedelta(days=366),
                    state="processed",
                )
                s.add(row)
                s.flush()
                t2 = time.perf_counter()
                # As the runner stores it, with the signature and keys computed here (in
                # the daemon an extraction worker computes them).
                subject = LinkSubject(
                    row.id,
                    row.url,
                    row.canonical_url,
                    None,
                    "",
                    body,
                    row.text_hash,
                    row.published_at,
                )
                sig = dedup.signature(body, P)
                keys = story.article_story_keys("", body, (), P)
                runner.link(P, Tx(s), subject, START, sig=sig, keys=keys)
                s.flush()
                found += q < PLANTED and row.duplicate_of_id is not None
                t3 = time.perf_counter()
            t4 = time.perf_counter()
            sig_ms.append((t1 - t0) * 1000)
            step_ms.append((t4 - t2) * 1000)
            commit_ms.append((t4 - t3) * 1000)
    finally:
        db.dispose()
    return {
        "signature_ms": float(np.median(sig_ms)),
        "index_ms_median": float(np.median(step_ms)),
        "index_ms_p95": float(np.percentile(step_ms, 95)),
        "index_ms_p99": float(np.percentile(step_ms, 99)),
        "index_ms_mean": float(np.mean(step_ms)),
        "commit_ms_median": float(np.median(commit_ms)),
        "commit_ms_mean": float(np.mean(commit_ms)),
        "planted_found": f"{found}/{min(queries, PLANTED)}",
    }


def lookups_in_process(
    url: str, planted: list[str], queries: int, seed: int
) -> tuple[dict[str, Any], float]:
    result = lookups(url, planted, queries, np.random.default_rng(seed))
    return result, rss_mb()


def all_pairs(path: Path, planted: list[str], queries: int, rng: np.random.Generator) -> float:
    """Median ms to compare one new article with every stored sketch (held in memory)."""
    con = sqlite3.connect(path)
    stored = [
        dedup.Signature(n, blob, ())
        for n, blob in con.execute("SELECT shingles, sketch FROM article_signatures")
    ]
    con.close()
    times = []
    for q in range(queries):
        sig = dedup.signature(edited(rng, planted[q % PLANTED]), P)
        assert sig is not None
        t0 = time.perf_counter()
        for other in stored:
            dedup.is_duplicate(dedup.compare(sig, other, P.sketch_size), P)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def rss_mb() -> float:
    """Peak RSS of this process (VmHWM: unlike ru_maxrss, not inherited over fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--all-pairs-up-to", type=int, default=100_000)
    ap.add_argument(
        "--store",
        type=Path,
        help="keep built stores in this folder and reuse them (each run works on a copy)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    rows = []
    with tempfile.TemporaryDirectory(prefix="monitor-dedup-bench-") as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            path = Path(tmp) / f"store-{n}.db"
            url = f"sqlite:///{path}"
            t0 = time.perf_counter()
            planted = build_or_reuse(args.store, path, n, rng)
            build_s = time.perf_counter() - t0
            # A fresh process, so its peak RSS is the lookup's, not the bulk build's.
            with get_context("spawn").Pool(1) as pool:
                result, rss = pool.apply(lookups_in_process, (url, planted, args.queries, n))
            pairs = None
            if n <= args.all_pairs_up_to:
                pairs = all_pairs(path, planted, 3 if n > 20_000 else 10, rng)
            rows.append(
                {
                    "stored": n,
                    "build_s": round(build_s, 1),
                    **result,
                    "all_pairs_ms": pairs,
                    "db_mb": round(os.path.getsize(path) / 2**20, 1),
                    "lookup_process_peak_rss_mb": round(rss, 1),
                }
            )
            print_row(rows[-1], header=len(rows) == 1)
            path.unlink()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "params": {k: str(v) for k, v in P.__dict__.items()},
                "queries": args.queries,
                "rows": rows,
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {args.out}")


def build_or_reuse(store: Path | None, path: Path, n: int, rng: np.random.Generator) -> list[str]:
    """Build the `n`-article store at `path`, or copy a kept one from `store` (then
    `build_s` is the copy's time). The copy is what the lookups change."""
    if store is None:
        open_database(f"sqlite:///{path}").dispose()
        return bulk_store(path, n, rng)
    name = f"store-{n}.v{STORE_VERSION}"
    kept, texts = store / f"{name}.db", store / f"{name}.planted.json"
    if not (kept.exists() and texts.exists()):
        store.mkdir(parents=True, exist_ok=True)
        building = store / f"{name}.building.db"
        building.unlink(missing_ok=True)
        open_database(f"sqlite:///{building}").dispose()
        planted = bulk_store(building, n, rng)
        building.replace(kept)
        texts.write_text(json.dumps(planted), encoding="utf-8")
    shutil.copyfile(kept, path)
    # Schema changes since the store was built (new indexes) are applied to the copy.
    open_database(f"sqlite:///{path}").dispose()
    planted_texts: list[str] = json.loads(texts.read_text(encoding="utf-8"))
    return planted_texts


def print_row(r: dict[str, Any], header: bool) -> None:
    if header:
        print(
            f"{'stored':>9} {'build s':>8} {'sig ms':>7} {'step ms':>8} {'p95 ms':>7}"
            f" {'p99 ms':>7} {'commit ms':>10} {'all-pairs ms':>13} {'found':>8}"
            f" {'db MB':>8} {'rss MB':>7}"
        )
    pairs = "-" if r["all_pairs_ms"] is None else f"{r['all_pairs_ms']:.1f}"
    print(
        f"{r['stored']:>9} {r['build_s']:>8} {r['signature_ms']:>7.2f}"
        f" {r['index_ms_median']:>8.2f} {r['index_ms_p95']:>7.2f} {r['index_ms_p99']:>7.2f}"
        f" {r['commit_ms_median']:>10.2f} {pairs:>13} {r['planted_found']:>8}"
        f" {r['db_mb']:>8} {r['lookup_process_peak_rss_mb']:>7}",
        flush=True,
    )


if __name__ == "__main__":
    main()
