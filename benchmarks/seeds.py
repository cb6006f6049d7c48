"""Tagging quality on the five seed articles (entity F1 against the hand-made expectations and
every spelling each article uses for a listed actor), and the guard that the repository holds
none of their text: no run of 8 consecutive words of theirs in any file.

Run: .venv/bin/python benchmarks/seeds.py [--seeds DIR] [--min-f1 0.98] — prints a table, writes
benchmarks/results/seeds.json, exits 1 when an article is under --min-f1, a confusable is tagged,
a spelling is missed, an offset does not round-trip or a file of the repository repeats 8
consecutive words of a seed article. The articles are third-party text and are
never copied into the repository: they are read from --seeds, else $MONITOR_SEED_CORPUS, else
../shared/seed-corpus beside the checkout. benchmarks/seeds/ holds what we wrote about them: per
article the expected entity ids (`NNN_hash.json`) and the spellings read by hand
(`NNN_hash.spellings.json`, surface form -> entity id).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from monitor.config import load_entities
from monitor.pipeline.tag import Tagger, compile_entities

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ROOT / "benchmarks" / "seeds"
RESULTS = ROOT / "benchmarks" / "results" / "seeds.json"


def default_seeds() -> Path:
    return Path(os.environ.get("MONITOR_SEED_CORPUS", ROOT.parent / "shared" / "seed-corpus"))


@dataclass(frozen=True)
class ArticleScore:
    article: str
    expected: int
    tagged: int
    correct: int
    precision: float
    recall: float
    f1: float
    missing: list[str]
    extra: list[str]
    confusables_tagged: list[str]
    spellings: int
    spellings_missed: list[list[str]]
    offsets_ok: bool


def spelling_misses(tagger: Tagger, text: str, spellings: list[list[str]]) -> list[list[str]]:
    """The (surface, id) pairs not credited to their entity at any of the surface's places."""
    found = {h.id: h.mentions for h in tagger.tag(text)}
    missed = []
    for surface, entity_id in spellings:
        places = [(m.start(), m.end()) for m in re.finditer(re.escape(surface), text)]
        mentions = found.get(entity_id, ())
        if not any(m.start < e and s < m.end for s, e in places for m in mentions):
            missed.append([surface, entity_id])
    return missed


def score(tagger: Tagger, stem: str, text: str) -> ArticleScore:
    spec = json.loads((EXPECTED / f"{stem}.json").read_text("utf-8"))
    spellings = json.loads((EXPECTED / f"{stem}.spellings.json").read_text("utf-8"))["spellings"]
    hits = tagger.tag(text)
    expected, got = set(spec["entities"]), {h.id for h in hits}
    tp = len(expected & got)
    return ArticleScore(
        article=stem,
        expected=len(expected),
        tagged=len(got),
        correct=tp,
        precision=round(tp / len(got), 4) if got else 0.0,
        recall=round(tp / len(expected), 4) if expected else 0.0,
        f1=round(2 * tp / (len(expected) + len(got)), 4),
        missing=sorted(expected - got),
        extra=sorted(got - expected),
        confusables_tagged=sorted(got & set(spec.get("absent", ()))),
        spellings=len(spellings),
        spellings_missed=spelling_misses(tagger, text, spellings),
        offsets_ok=all(
            h.count == len(h.mentions) and all(text[m.start : m.end] == m.text for m in h.mentions)
            for h in hits
        ),
    )


_WORD = re.compile(r"[^\W_]+")
_TAG = re.compile(r"<[^>]{0,2000}>")
RUN = 8


def _runs(text: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + RUN]) for i in range(len(words) - RUN + 1)}


def _readings(text: str) -> list[str]:
    """The file as stored, with entities decoded (twice: HTML inside XML), and with markup
    removed, so a run split by tags or escapes is found too."""
    decoded = html.unescape(html.unescape(text))
    return [text, decoded, _TAG.sub("", decoded), _TAG.sub(" ", decoded)]


def copied_runs(seeds: list[Path]) -> dict[str, str]:
    """Files of the repository (tracked, or untracked and not ignored) that repeat a run of
    RUN consecutive words of a seed article: path -> the first such run."""
    seed_runs = set().union(*(_runs(p.read_text("utf-8")) for p in seeds))
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    found = {}
    for name in filter(None, listed.split("\0")):
        path = ROOT / name
        data = path.read_bytes() if path.is_file() else b"\0"
        if b"\0" in data[:8192]:
            continue
        text = data.decode("utf-8", errors="replace")
        hits = set().union(*(_runs(t) for t in _readings(text))) & seed_runs
        if hits:
            found[name] = " ".join(min(hits))
    return found


def failures(rows: list[ArticleScore], min_f1: float) -> list[str]:
    out = []
    for r in rows:
        if r.f1 < min_f1:
            out.append(f"{r.article}: F1 {r.f1:.3f} < {min_f1}")
        if r.confusables_tagged:
            out.append(f"{r.article}: confusables tagged {r.confusables_tagged}")
        if r.spellings_missed:
            out.append(f"{r.article}: spellings missed {r.spellings_missed}")
        if not r.offsets_ok:
            out.append(f"{r.article}: a mention's offsets do not give its text")
    return out


def print_table(rows: list[ArticleScore]) -> None:
    head = f"{'article':<22} {'exp':>4} {'got':>4} {'P':>6} {'R':>6} {'F1':>6} {'spell':>9}"
    print(head)
    print("-" * len(head))
    for r in rows:
        found = r.spellings - len(r.spellings_missed)
        print(
            f"{r.article:<22} {r.expected:>4} {r.tagged:>4} {r.precision:>6.3f} "
            f"{r.recall:>6.3f} {r.f1:>6.3f} {found:>4}/{r.spellings:<4}"
        )
        for label, items in (("missing", r.missing), ("extra", r.extra)):
            if items:
                print(f"    {label}: {', '.join(items)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", type=Path, default=None, help="folder of the seed articles")
    ap.add_argument("--min-f1", type=float, default=0.98, help="the lowest F1 that passes")
    args = ap.parse_args(argv)
    seeds: Path = args.seeds or default_seeds()
    stems = sorted(
        p.name.removesuffix(".spellings.json") for p in EXPECTED.glob("*.spellings.json")
    )
    texts = {p.stem: p for p in seeds.glob("*.txt")} if seeds.is_dir() else {}
    if not texts:
        print(f"seed corpus not found at {seeds}: pass --seeds DIR or set MONITOR_SEED_CORPUS")
        return 2
    if sorted(texts) != stems:
        print(f"{seeds} holds {sorted(texts)}, benchmarks/seeds/ describes {stems}")
        return 1
    tagger = compile_entities(load_entities(ROOT / "config" / "entities.yaml"))
    started = time.perf_counter()
    rows = [score(tagger, stem, texts[stem].read_text("utf-8")) for stem in stems]
    elapsed = time.perf_counter() - started
    print_table(rows)
    exp = sum(r.expected for r in rows)
    got = sum(r.tagged for r in rows)
    tp = sum(r.correct for r in rows)
    micro_f1 = 2 * tp / (exp + got)
    spell = sum(r.spellings for r in rows)
    missed = sum(len(r.spellings_missed) for r in rows)
    print(f"\nall five: F1 {micro_f1:.3f} (micro), spellings {spell - missed}/{spell} tagged")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "seconds": round(elapsed, 3),
        "micro_f1": round(micro_f1, 4),
        "spellings": spell,
        "spellings_missed": missed,
        "articles": [asdict(r) for r in rows],
    }
    copied = copied_runs(sorted(texts.values()))
    print(f"files repeating {RUN} consecutive seed words: {len(copied)}")
    for name, run in sorted(copied.items()):
        print(f"    {name}: {run!r}")
    summary["copied_runs"] = copied
    RESULTS.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    problems = failures(rows, args.min_f1) + [f"{n}: copies seed text" for n in sorted(copied)]
    for line in problems:
        print(f"FAIL {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
