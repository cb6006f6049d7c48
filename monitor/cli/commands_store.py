"""Commands on the stored articles and state: search, import, export, sources, status,
entities, db."""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from collections.abc import Iterator
from typing import BinaryIO

from monitor.cli.common import EXIT_ERROR, EXIT_OK, build_app, progress
from monitor.cli.present import dumps, emit, entity_json, export_record, source_row, table
from monitor.errors import ConfigError


def cmd_search(args: argparse.Namespace) -> int:
    """Backtest a query against stored articles, newest first.

    Example: monitor search 'entity:kataib-hezbollah AND drone*' --since 30d --format table
    """
    from monitor import app as appmod

    with build_app(args, workers=1) as app:
        hits = appmod.search(app, args.query, since=args.since, limit=args.limit)
    rows = [
        {
            "processed_at": h.processed_at,
            "source": h.source,
            "title": h.title,
            "url": h.url,
            "terms": ", ".join(h.terms),
        }
        for h in hits
    ]
    emit(rows, args.format, ["processed_at", "source", "title", "url", "terms"])
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    """Import articles from JSON Lines: url (the key), title, text or html, published_at, source.

    Each line is one article, imported whole or not at all. A line that cannot be imported
    (not UTF-8, not JSON, a bad url or published_at, no text) is reported as FILE:LINE and
    skipped; the others go on. An article already stored is left as it is; one an
    interrupted import stored but did not process is processed now, so importing the same
    file again after a crash finishes the work.

    Example: monitor import archive.jsonl      (or `-` for stdin)
    """
    from monitor import app as appmod
    from monitor import importing
    from monitor.pipeline.runner import ImportRecord

    name = "<stdin>" if args.file == "-" else args.file
    try:
        stream: BinaryIO = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=name) from None
    bad: Counter[str] = Counter()

    def records() -> Iterator[ImportRecord]:
        for item in importing.read_lines(stream, name):
            if isinstance(item, importing.BadLine):
                bad[item.reason] += 1
                print(item, file=sys.stderr)
            else:
                yield item

    with stream, build_app(args, workers=1, progress=progress) as app:
        rep = appmod.import_articles(app, records())
    for label, why in [*rep.refused.items(), *rep.failed.items()]:
        print(f"{label}: {why}", file=sys.stderr)
    resumed = f", {rep.resumed} resumed from an interrupted import" if rep.resumed else ""
    print(
        f"imported {rep.processed} article(s) ({rep.duplicates} duplicate(s), "
        f"{rep.matched} match(es){resumed}); {rep.known} already known, "
        f"{len(rep.failed) + len(rep.refused)} failed, {bad.total()} bad line(s)"
    )
    if bad:
        reasons = ", ".join(f"{n} {reason}" for reason, n in bad.most_common())
        print(f"skipped lines: {reasons} (each named above as FILE:LINE)")
    return EXIT_ERROR if bad or rep.failed or rep.refused else EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """Export processed articles as JSON Lines (one object per article) or CSV.

    Example: monitor export --since 7d --query 'type:armed_group' > week.jsonl
    """
    from monitor import app as appmod

    with build_app(args, workers=1) as app:
        exported = appmod.export_articles(app, query=args.query, since=args.since)
        records = [export_record(a) for a in exported]
    if args.format == "jsonl":
        for r in records:
            print(dumps(r))
    else:
        cols = [
            "url",
            "canonical_url",
            "title",
            "source",
            "published_at",
            "story_id",
            "duplicate_of",
        ]
        w = csv.writer(sys.stdout)
        w.writerow([*cols, "entities", "watchlists"])
        for r in records:
            ents = ";".join(f"{e['id']}:{e['count']}" for e in r["entities"])
            w.writerow(
                [r[c] if r[c] is not None else "" for c in cols] + [ents, ";".join(r["watchlists"])]
            )
    return EXIT_OK


def cmd_sources(args: argparse.Namespace) -> int:
    """Show source health (errors, back-off, next check), or reset one source's errors.

    Example: monitor sources             # same as: monitor sources list
             monitor sources reset "Long War Journal"
    """
    from monitor import app as appmod

    with build_app(args, workers=1) as app:
        if args.action == "reset":
            if not args.name:
                raise ConfigError("`monitor sources reset` needs a source NAME")
            appmod.reset_source(app, args.name)
            print(f"source {args.name!r} reset: errors cleared, polled on the next cycle")
            return EXIT_OK
        rows = [source_row(r) for r in appmod.source_health(app)]
    table(
        rows,
        [
            "name",
            "last_status",
            "interval",
            "error_count",
            "next_check_at",
            "items_seen",
            "last_error",
            "warning",
        ],
        sys.stdout,
    )
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """Recent runs, digests with their delivery states, and articles given up on.

    Example: monitor status
    """
    from monitor import app as appmod

    with build_app(args, workers=1) as app:
        st = appmod.status(app)
    print("recent runs:")
    runs = [{**r, "summary": dumps(r["summary"])[:60]} for r in st["runs"]]
    table(runs, ["kind", "started_at", "status", "summary"], sys.stdout)
    print("\ndigests:")
    table(
        st["digests"],
        ["watchlist", "period_end", "state", "articles", "attempts", "last_error"],
        sys.stdout,
    )
    if st["failed_articles"]:
        print("\narticles given up on:")
        table(st["failed_articles"], ["source", "url", "attempts", "error"], sys.stdout)
    return EXIT_OK


def cmd_entities(args: argparse.Namespace) -> int:
    """List the entity list, show one entity, or list candidate names not yet in the list.

    Example: monitor entities list
             monitor entities show kataib-hezbollah
             monitor entities candidates
    """
    from monitor import app as appmod
    from monitor import config as configmod

    settings = configmod.load_settings(args.config)
    entities = configmod.load_entities(settings.entities)
    if args.action == "show":
        for e in entities:
            if e.id == args.id:
                print(dumps(entity_json(e)))
                return EXIT_OK
        raise ConfigError(f"no entity {args.id!r} in {settings.entities}")
    if args.action == "candidates":
        with appmod.build(settings, workers=1) as app:
            rows = appmod.entity_candidates(app)
        table(rows, ["name", "count", "first_seen", "last_seen", "example"], sys.stdout)
        return EXIT_OK
    rows = [
        {"id": e.id, "type": e.type, "name": e.name, "aliases": len(e.aliases) + len(e.acronyms)}
        for e in entities
    ]
    table(rows, ["id", "type", "name", "aliases"], sys.stdout)
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    """Apply database migrations (also done automatically on start).

    Example: monitor db upgrade
    """
    from monitor import app as appmod
    from monitor import config as configmod
    from monitor import offline

    settings = configmod.load_settings(args.config)
    appmod.upgrade_database(settings)
    print(f"database {offline.redact(settings.database)} is at the newest schema")
    return EXIT_OK
