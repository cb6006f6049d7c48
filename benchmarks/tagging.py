"""Tagging throughput: the real entity list, ~1k and ~10k aliases, against one regex per alias.

Run: .venv/bin/python benchmarks/tagging.py [--mb 4] — prints a table, writes
benchmarks/results/tagging.json. One core, one process; best of --repeat runs; ~5 KB articles,
one tag() call each. Also timed alone on the seed corpus: the fold the tagger reads and the
automaton's pass over it (the fixed part of the work, before any per-match Python).

Texts measured: (1) the seed corpus — five real news articles about Iraq's militias, repeated;
the worst case, since every actor in it is on the list (~15,000 mentions per MB); read from
$MONITOR_SEED_CORPUS or ../shared/seed-corpus, else our own field articles stand in; (2)
entity-sparse English prose — the system's licence texts (/usr/share/common-licenses), a
stand-in for general news where few listed actors appear. Both are reported; neither is
chosen to flatter the other.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import time
from pathlib import Path
from typing import Any

from monitor.config import load_entities
from monitor.models import Entity
from monitor.pipeline.normalize import fold, fold_text, fold_words
from monitor.pipeline.tag import Tagger, compile_entities

ROOT = Path(__file__).resolve().parents[1]
SEEDS = Path(os.environ.get("MONITOR_SEED_CORPUS", ROOT.parent / "shared" / "seed-corpus"))
OWN_ARTICLES = ROOT / "tests" / "fixtures" / "dedup"
RESULTS = ROOT / "benchmarks" / "results" / "tagging.json"


def real_entities() -> list[Entity]:
    return list(load_entities(ROOT / "config" / "entities.yaml"))


def synthetic(count: int, rng: random.Random) -> list[Entity]:
    """Entities with made-up two-word aliases, four each, `count` aliases in all."""
    syl = [a + b for a in "bdkmnrstzqhyfjw" for b in "aiou"]

    def word() -> str:
        return "".join(rng.choice(syl) for _ in range(rng.randint(2, 4))).capitalize()

    out = []
    for i in range(0, count, 4):
        aliases = tuple(f"{word()} {word()}" for _ in range(4))
        out.append(Entity(f"synthetic-{i}", aliases[0], "armed_group", aliases=aliases))
    return out


def dense_files() -> tuple[str, list[Path]]:
    """The seed articles when this machine has them, else our own field articles (the dedup
    fixtures' originals), which name the same actors about as densely."""
    seeds = sorted(SEEDS.glob("*.txt")) if SEEDS.is_dir() else []
    if seeds:
        return "seed corpus", seeds
    return "own field articles", sorted(OWN_ARTICLES.glob("*.original.txt"))


def corpus(files: list[Path], mb: float) -> str:
    base = "\n\n".join(p.read_text("utf-8") for p in files)
    return (base * (int(mb * 1e6 / len(base)) + 1))[: int(mb * 1e6)]


def plain_prose(mb: float) -> str:
    """Entity-sparse English (the system's licence texts), if the machine has them."""
    folder = Path("/usr/share/common-licenses")
    files = sorted(p for p in folder.glob("*") if p.is_file()) if folder.exists() else []
    base = "\n\n".join(p.read_text("utf-8", errors="replace") for p in files)
    return (base * (int(mb * 1e6 / len(base)) + 1))[: int(mb * 1e6)] if base else ""


def best_of(repeat: int, fn: object) -> float:
    assert callable(fn)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def tag_articles(tagger: Tagger, articles: list[str]) -> int:
    return sum(len(tagger.tag(a)) for a in articles)


def naive(keys: list[str], text: str) -> int:
    """One compiled regex per folded alias over the folded text (what we replace)."""
    folded = fold_text(text).text
    patterns = [re.compile(r"(?<!\w)" + re.escape(k) + r"(?!\w)") for k in keys]
    return sum(1 for p in patterns for _ in p.finditer(folded))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=float, default=4.0, help="input size for the automaton")
    ap.add_argument("--naive-kb", type=float, default=200.0, help="input size for the naive loop")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    dense_label, dense = dense_files()
    print(f"dense text: {dense_label} ({len(dense)} files)")
    rng = random.Random(42)
    text = corpus(dense, args.mb)
    # Articles of ~5 KB, as the pipeline sees them (one tag() call per article).
    articles = [text[i : i + 5000] for i in range(0, len(text), 5000)]
    small = text[: int(args.naive_kb * 1e3)]
    sparse = plain_prose(args.mb)
    sparse_articles = [sparse[i : i + 5000] for i in range(0, len(sparse), 5000)]
    real = real_entities()
    real_keys = compile_entities(real).alias_count
    rows: list[dict[str, Any]] = []
    automaton = None  # the ~1,000-alias tagger's, timed alone below
    for label, target in (("real list", 0), ("~1,000 aliases", 1000), ("~10,000 aliases", 10000)):
        entities = real + synthetic(target - real_keys, rng) if target else real
        t = time.perf_counter()
        tagger = compile_entities(entities)
        compile_s = time.perf_counter() - t
        if target == 1000:
            automaton = tagger._automaton
        secs = best_of(args.repeat, lambda tg=tagger: tag_articles(tg, articles))
        prose_s = (
            best_of(args.repeat, lambda tg=tagger: tag_articles(tg, sparse_articles))
            if sparse
            else 0.0
        )
        keys = sorted({fold(a) for e in entities for a in (e.name, *e.aliases, *e.ambiguous)})
        naive_s = best_of(1, lambda k=keys: naive(k, small))
        auto_small = best_of(args.repeat, lambda tg=tagger: tg.tag(small))
        rows.append(
            {
                "list": label,
                "entities": len(entities),
                "aliases": tagger.alias_count,
                "spelling_variants": tagger.variant_count,
                "automaton_keys": tagger.key_count,
                "compile_s": round(compile_s, 3),
                "input_mb": round(len(text) / 1e6, 2),
                "mb_per_s": round(len(text) / secs / 1e6, 1),
                "prose_mb_per_s": round(len(sparse) / prose_s / 1e6, 1) if sparse else None,
                "naive_input_kb": round(len(small) / 1e3),
                "naive_regexes": len(keys),
                "naive_mb_per_s": round(len(small) / naive_s / 1e6, 3),
                "automaton_on_naive_input_mb_per_s": round(len(small) / auto_small / 1e6, 1),
                "speedup_vs_naive": round(naive_s / auto_small, 1),
            }
        )
    # Where the seed-corpus time goes at ~1,000 aliases: the fold the tagger reads
    # (fold_words) and the automaton's pass over it alone, with no work per match.
    fold_s = best_of(args.repeat, lambda: [fold_words(a) for a in articles])
    words = [fold_words(a).text + " " for a in articles]
    assert automaton is not None
    pass_s = best_of(args.repeat, lambda: [automaton.find_matches_as_indexes(w) for w in words])
    tagger = compile_entities(real)
    mentions = sum(h.count for a in articles[:200] for h in tagger.tag(a))
    result = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "dense_text": dense_label,
        "seed_mentions_per_mb": round(mentions / (len("".join(articles[:200])) / 1e6)),
        "fold_only_mb_per_s": round(len(text) / fold_s / 1e6, 1),
        "automaton_pass_only_mb_per_s": round(len(text) / pass_s / 1e6, 1),
        "seed_mb_per_s_10k_over_1k_time": round(rows[1]["mb_per_s"] / rows[2]["mb_per_s"], 2),
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    head = (
        f"{'list':<16} {'aliases':>7} {'keys':>6} {'compile s':>9} {'seed MB/s':>9}"
        f" {'prose MB/s':>10} {'naive MB/s':>11} {'ratio':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['list']:<16} {r['aliases']:>7} {r['automaton_keys']:>6} {r['compile_s']:>9}"
            f" {r['mb_per_s']:>9} {r['prose_mb_per_s']!s:>10} {r['naive_mb_per_s']:>11}"
            f" {r['speedup_vs_naive']:>7}x"
        )
    print(
        f"seed corpus: {result['seed_mentions_per_mb']} mentions/MB;"
        f" alone, at ~1k aliases: fold {result['fold_only_mb_per_s']} MB/s,"
        f" automaton pass {result['automaton_pass_only_mb_per_s']} MB/s;"
        f" seed time 10k/1k aliases {result['seed_mb_per_s_10k_over_1k_time']}x"
    )
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
