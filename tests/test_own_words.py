"""The repository holds only what we wrote: no run of 8 consecutive words from the seed articles
(third-party journalism, read from ../shared/seed-corpus or $MONITOR_SEED_CORPUS) in any file."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SEEDS = Path(os.environ.get("MONITOR_SEED_CORPUS", REPO.parent / "shared" / "seed-corpus"))
RUN = 8
# Generated or installed trees a walk must not enter when git cannot list the files.
SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", ".mypy_cache", ".ruff_cache", "node_modules"}
SKIP_DIRS |= {".pytest_cache", "build", "dist", "reports", "data"}
_TAG = re.compile(r"<[^>]{0,2000}>")
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Lower-cased words of the readable text: markup dropped, entities decoded (twice, for
    HTML escaped inside XML), punctuation and apostrophes of any kind as separators."""
    text = html.unescape(html.unescape(text))
    return _WORD.findall(_TAG.sub(" ", text).lower())


def runs(tokens: list[str], n: int = RUN) -> Iterator[tuple[str, ...]]:
    return (tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def json_strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from json_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from json_strings(v)


def readable(path: Path) -> str | None:
    """The file's text as a reader meets it (JSON strings unescaped); None for binaries."""
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    text = data.decode("utf-8", errors="replace")
    if path.suffix in {".json", ".jsonl"}:
        parts = []
        for line in text.splitlines() if path.suffix == ".jsonl" else [text]:
            try:
                parts += json_strings(json.loads(line))
            except ValueError:
                parts.append(line)
        return "\n".join(parts)
    return text


def repository_files() -> list[Path]:
    """Tracked and untracked files not ignored by git; a plain walk outside a git checkout."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return [REPO / name for name in listed.split("\0") if name and (REPO / name).is_file()]
    except (OSError, subprocess.CalledProcessError):
        out = []
        for folder, dirs, files in os.walk(REPO):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            out += [Path(folder) / f for f in files]
        return out


def copied_runs(text: str, seed_runs: set[tuple[str, ...]]) -> list[str]:
    return [" ".join(r) for r in runs(words(text)) if r in seed_runs]


# --- the matcher, on text of our own (runs on every machine) --------------------------------


def test_a_run_is_found_through_markup_entities_case_and_apostrophes() -> None:
    source = "The convoy left Basra's port at dawn and reached the border crossing by noon."
    seed_runs = set(runs(words(source)))
    page = "<p>Officials said THE CONVOY left <b>Basra&#8217;s</b> port at dawn and</p> waited."
    assert copied_runs(page, seed_runs) == [
        "the convoy left basra s port at dawn",
        "convoy left basra s port at dawn and",
    ]
    assert copied_runs("The convoy left Basra's port at noon, not at dawn.", seed_runs) == []


def test_json_strings_are_read_unescaped(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"t": ["caf\u00e9 \u2019quoted\u2019 words"]}), encoding="utf-8")
    assert readable(path) == "t\ncafé ’quoted’ words"
    binary = tmp_path / "x.png"
    binary.write_bytes(b"\x89PNG\0\0\0")
    assert readable(binary) is None


# --- the guard ------------------------------------------------------------------------------


def test_no_run_of_eight_seed_words_anywhere_in_the_repository() -> None:
    seed_files = sorted(SEEDS.glob("*.txt")) if SEEDS.is_dir() else []
    if not seed_files:
        pytest.skip(f"seed corpus not found at {SEEDS} (set MONITOR_SEED_CORPUS to check)")
    seed_runs = {r for p in seed_files for r in runs(words(p.read_text("utf-8")))}
    files = repository_files()
    assert len(files) > 50, "the repository's files were not found"
    found = {}
    for path in files:
        text = readable(path)
        hits = copied_runs(text, seed_runs) if text else []
        if hits:
            found[str(path.relative_to(REPO))] = f"{len(hits)} runs, first: {hits[0]!r}"
    assert found == {}
