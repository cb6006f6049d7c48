"""Commands that need no database: init, check, tag, extract."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from monitor.cli.common import EXIT_OK
from monitor.cli.present import dumps, hits_json, table
from monitor.errors import ConfigError


def cmd_init(args: argparse.Namespace) -> int:
    """Write a commented starter config.

    Example: monitor init ~/monitor   (then: monitor --config ~/monitor/config/monitor.yaml check)
    """
    from monitor import offline

    written = offline.init_config(Path(args.dir))
    for path in written:
        print(f"wrote {path}")
    print(f"next: monitor --config {Path(args.dir) / 'config' / 'monitor.yaml'} check")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the config, watchlist files and entity list; print `file:line: message` on error.

    Example: monitor --config config/monitor.yaml check
    """
    from monitor import config as configmod
    from monitor import offline

    settings = configmod.load_settings(args.config)
    for note in offline.validate(settings):
        print(note)
    print(f"{settings.config_path}: ok")
    return EXIT_OK


def _inputs(files: Sequence[str]) -> Iterable[tuple[str, str]]:
    if not files or files == ["-"]:
        yield "-", sys.stdin.read()
        return
    for f in files:
        try:
            yield f, Path(f).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read input: {exc}", file=f) from None


def _lines(files: Sequence[str]) -> Iterator[tuple[str, int, str]]:
    """(file, line number, line) for each line of `files`, read as they are needed; standard
    input (named `<stdin>`) when there are none or only `-`, as for `_inputs`."""
    if not files or files == ["-"]:
        for n, line in enumerate(sys.stdin, 1):
            yield "<stdin>", n, line
        return
    for f in files:
        try:
            with open(f, encoding="utf-8") as stream:
                for n, line in enumerate(stream, 1):
                    yield f, n, line
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read input: {exc}", file=f) from None


def cmd_tag(args: argparse.Namespace) -> int:
    """Tag text files (or stdin) with the entity list; no database needed.

    Example: monitor tag article.txt --format table
             monitor tag --jsonl items.jsonl        # each line {"id", "text"}
             monitor tag --jsonl < items.jsonl      # the same from stdin
    """
    from monitor import offline

    tagger = offline.tagger_for_cli(args.config, args.entities)
    if args.jsonl:
        for where, n, line in _lines(args.files):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                key, text = rec["id"], rec["text"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ConfigError(
                    'each line must be {"id": ..., "text": ...}', file=where, line=n
                ) from None
            print(dumps({"id": key, "entities": hits_json(tagger.tag(str(text)))}))
        return EXIT_OK
    for source, text in _inputs(args.files):
        hits = hits_json(tagger.tag(text))
        if args.format == "json":
            print(dumps({"source": source, "entities": hits}))
        else:
            print(f"== {source}")
            rows = [
                {**h, "forms": ", ".join(sorted({m["text"] for m in h["mentions"]}))} for h in hits
            ]
            table(rows, ["id", "type", "count", "forms"], sys.stdout)
    return EXIT_OK


def cmd_extract(args: argparse.Namespace) -> int:
    """Extract the article text from an HTML file or a URL; no database needed.

    Example: monitor extract page.html --format json
             monitor extract https://example.org/story --format text
    """
    import asyncio

    from monitor import app as appmod

    result = asyncio.run(appmod.extract_target(args.target, args.config))
    if args.format == "json":
        print(
            dumps(
                {
                    "title": result.title,
                    "text": result.text,
                    "published_at": result.published_at,
                    "author": result.author,
                    "language": result.language,
                    "method": result.method,
                }
            )
        )
    else:
        print(result.title + "\n\n" + result.text if result.title else result.text)
    return EXIT_OK
