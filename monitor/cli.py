"""The command line: parse arguments, call one function, turn errors into messages and exit codes.

Exit status: 0 success, 1 an internal or delivery error, 2 a config or usage error,
141 when the reader of standard output went away (`monitor export | head`), as for Unix tools.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from monitor import __version__
from monitor.errors import ConfigError, MonitorError, QueryError

if TYPE_CHECKING:
    from monitor import app as appmod
    from monitor import models

# Each command imports `monitor.app` / `monitor.config` when it runs: they bring in the whole
# pipeline, which `monitor --help` should not wait for.

EXIT_OK, EXIT_ERROR, EXIT_CONFIG = 0, 1, 2
EXIT_PIPE = 128 + 13  # what a shell reports for a tool stopped by SIGPIPE
Handler = Callable[[argparse.Namespace], int]


def _parse_time(text: str) -> datetime:
    """ISO 8601 (no offset = UTC) or a span back from now: 30m, 24h, 7d."""
    m = re.fullmatch(r"(\d+)([mhdw])", text.strip())
    if m:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: int(m.group(1))})
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use ISO 8601 (2026-12-01T07:00) or a span like 24h or 7d"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [
        max([len(c)] + [min(len(row[i]), 60) for row in cells]) for i, c in enumerate(columns)
    ]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    for row in cells:
        line = "  ".join(v[:60].ljust(w) for v, w in zip(row, widths, strict=True))
        out.write(line.rstrip() + "\n")


def _build(args: argparse.Namespace, **kw: Any) -> appmod.App:
    from monitor import app as appmod
    from monitor import config as configmod

    settings = configmod.load_settings(args.config)
    return appmod.build(settings, **kw)


# --- commands -------------------------------------------------------------------------


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


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon (polls on each source's interval, digests on each watchlist's schedule).

    Example: monitor run            # until SIGTERM / Ctrl-C
             monitor run --once     # one poll + process cycle and due digests, then exit
    """
    from monitor import app as appmod

    with _build(args, progress=_progress) as app:
        if args.once:
            report = appmod.run_cycle(app)
            _print_cycle(report)
            return EXIT_OK
        from monitor.scheduling import Daemon

        Daemon(app).run_forever()
        return EXIT_OK


def _print_cycle(report: appmod.CycleReport) -> None:
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


def cmd_poll(args: argparse.Namespace) -> int:
    """Poll every source now (or only --source NAME), whatever its schedule.

    Retry-After from a server is still honoured. Example: monitor poll --source "Reuters World"
    """
    from monitor import app as appmod

    with _build(args, progress=_progress) as app:
        rep = appmod.poll_now(app, args.source)
    print(f"polled {rep.polled} source(s): {rep.new_articles} new, {rep.not_modified} unchanged")
    for name, err in rep.failed.items():
        print(f"  source {name!r} failed: {err}")
    return EXIT_OK


def cmd_process(args: argparse.Namespace) -> int:
    """Fetch, extract, dedupe, tag and match every pending article now.

    With --reextract, re-run extraction, tagging and matching on the stored raw HTML of
    processed articles (after an upgrade, or a changed entity list), without refetching.
    Example: monitor process
             monitor process --reextract
    """
    from monitor import app as appmod

    with _build(args, progress=_progress) as app:
        rep = appmod.process_now(app, reextract=args.reextract)
    print(f"processed {rep.processed}: {rep.duplicates} duplicate(s), {rep.matched} match(es)")
    for url, err in rep.failed.items():
        print(f"  {url}: {err}")
    return EXIT_OK


def cmd_digest(args: argparse.Namespace) -> int:
    """Render a watchlist's digest; with --send deliver and record it (the next one starts there).

    Example: monitor digest iraq-militias --since 24h --format markdown --out brief.md
             monitor digest iraq-militias --send
             monitor digest iraq-militias --resend     # the oldest failed one (else newest)
    """
    from monitor import app as appmod

    with _build(args, workers=1) as app:
        if args.send or args.resend:
            if args.resend:
                outcome = appmod.resend_digest(app, args.watchlist)
            else:
                outcome = appmod.send_digest(
                    app, args.watchlist, since=args.since, until=args.until
                )
            print(f"digest {outcome.watchlist}: {outcome.state}, {outcome.articles} item(s)")
            for out in outcome.outputs:
                print(f"  {out}")
            if outcome.state != "sent":
                print(f"error: {outcome.error}", file=sys.stderr)
                return EXIT_ERROR
            return EXIT_OK
        content = appmod.preview_digest(app, args.watchlist, since=args.since, until=args.until)
        text = appmod.render_format(content, args.format)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    """Backtest a query against stored articles, newest first.

    Example: monitor search 'entity:kataib-hezbollah AND drone*' --since 30d --format table
    """
    from monitor import app as appmod

    with _build(args, workers=1) as app:
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
    _emit(rows, args.format, ["processed_at", "source", "title", "url", "terms"])
    return EXIT_OK


def _emit(rows: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str]) -> None:
    if fmt == "json":
        for r in rows:
            print(_dumps(r))
    elif fmt == "csv":
        w = csv.DictWriter(sys.stdout, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: _json_default(v) if v is not None else "" for k, v in r.items()})
    else:
        _table(rows, columns, sys.stdout)


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
            print(_dumps({"id": key, "entities": hits_json(tagger.tag(str(text)))}))
        return EXIT_OK
    for source, text in _inputs(args.files):
        hits = hits_json(tagger.tag(text))
        if args.format == "json":
            print(_dumps({"source": source, "entities": hits}))
        else:
            print(f"== {source}")
            rows = [
                {**h, "forms": ", ".join(sorted({m["text"] for m in h["mentions"]}))} for h in hits
            ]
            _table(rows, ["id", "type", "count", "forms"], sys.stdout)
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
            _dumps(
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


def cmd_import(args: argparse.Namespace) -> int:
    """Import articles from JSON Lines: url (the key), title, text or html, published_at, source.

    Example: monitor import archive.jsonl      (or `-` for stdin)
    """
    from monitor import app as appmod

    name = "<stdin>" if args.file == "-" else args.file
    stream: TextIO = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    records, errors = [], 0
    with stream:
        for n, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                records.append(appmod.parse_import_line(line, f"{name}:{n}"))
            except ConfigError as exc:
                errors += 1
                print(f"{exc} (line skipped)", file=sys.stderr)
    with _build(args, workers=1, progress=_progress) as app:
        rep = appmod.import_articles(app, records)
    known = len(records) - rep.processed - len(rep.failed)
    print(
        f"imported {rep.processed} article(s) ({rep.duplicates} duplicate(s), "
        f"{rep.matched} match(es)); {known} already known, {len(rep.failed)} failed, "
        f"{errors} bad line(s)"
    )
    return EXIT_ERROR if errors or rep.failed else EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """Export processed articles as JSON Lines (one object per article) or CSV.

    Example: monitor export --since 7d --query 'type:armed_group' > week.jsonl
    """
    from monitor import app as appmod

    with _build(args, workers=1) as app:
        records = list(appmod.export_articles(app, query=args.query, since=args.since))
    if args.format == "jsonl":
        for r in records:
            print(_dumps(r))
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

    with _build(args, workers=1) as app:
        if args.action == "reset":
            if not args.name:
                raise ConfigError("`monitor sources reset` needs a source NAME")
            appmod.reset_source(app, args.name)
            print(f"source {args.name!r} reset: errors cleared, polled on the next cycle")
            return EXIT_OK
        rows = appmod.source_health(app)
    _table(
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
    """Recent runs, and digests with their delivery states.

    Example: monitor status
    """
    from monitor import app as appmod

    with _build(args, workers=1) as app:
        st = appmod.status(app)
    print("recent runs:")
    runs = [{**r, "summary": _dumps(r["summary"])[:60]} for r in st["runs"]]
    _table(runs, ["kind", "started_at", "status", "summary"], sys.stdout)
    print("\ndigests:")
    _table(
        st["digests"],
        ["watchlist", "period_end", "state", "articles", "attempts", "last_error"],
        sys.stdout,
    )
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
                print(_dumps(entity_json(e)))
                return EXIT_OK
        raise ConfigError(f"no entity {args.id!r} in {settings.entities}")
    if args.action == "candidates":
        with appmod.build(settings, workers=1) as app:
            rows = appmod.entity_candidates(app)
        _table(rows, ["name", "count", "first_seen", "last_seen", "example"], sys.stdout)
        return EXIT_OK
    rows = [
        {"id": e.id, "type": e.type, "name": e.name, "aliases": len(e.aliases) + len(e.acronyms)}
        for e in entities
    ]
    _table(rows, ["id", "type", "name", "aliases"], sys.stdout)
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


def cmd_demo(args: argparse.Namespace) -> int:
    """Offline end-to-end run on the bundled corpus; writes under ./reports/demo/.

    Starts a loopback server with the bundled feeds and pages, runs the real pipeline on them
    and writes each watchlist's digest (HTML, text, .eml). Example: monitor demo
    """
    from monitor.demo.run import run_demo

    paths = run_demo(Path(args.dir), progress=_progress)
    print("demo digest written:")
    for p in paths:
        print(f"  {p}")
    return EXIT_OK


# --- parser ---------------------------------------------------------------------------


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _add(sub: Any, name: str, fn: Handler, help_text: str) -> argparse.ArgumentParser:
    doc = fn.__doc__ or ""
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help_text, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.set_defaults(handler=fn)
    return p


class _DigestFormats:
    """`offline.DIGEST_FORMATS` as argparse `choices`, looked up only when a digest command reads
    them: building the parser must not import the pipeline."""

    def _formats(self) -> tuple[str, ...]:
        from monitor import offline

        return offline.DIGEST_FORMATS

    def __iter__(self) -> Iterator[str]:
        return iter(self._formats())

    def __contains__(self, value: object) -> bool:
        return value in self._formats()

    def __len__(self) -> int:
        return len(self._formats())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="Self-hosted news monitoring: poll feeds, extract, dedupe, tag actors, "
        "match watchlists, deliver digests.",
        epilog="Config: --config, else $MONITOR_CONFIG, else ./config/monitor.yaml",
    )
    parser.add_argument("--config", help="path to monitor.yaml")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and details")
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _add(sub, "init", cmd_init, "write a starter config/")
    p.add_argument("dir", nargs="?", default=".", help="folder to create config/ in (default .)")
    _add(sub, "check", cmd_check, "validate config; exit 2 with file:line: message")
    p = _add(sub, "run", cmd_run, "the daemon; --once = one cycle + due digests")
    p.add_argument(
        "--once", action="store_true", help="one poll+process cycle and due digests, then exit"
    )
    p = _add(sub, "poll", cmd_poll, "poll sources now")
    p.add_argument("--source", help="only this source (by name)")
    p = _add(sub, "process", cmd_process, "process pending articles now")
    p.add_argument(
        "--reextract", action="store_true", help="redo extraction from stored HTML, no refetch"
    )
    p = _add(sub, "digest", cmd_digest, "render or send a watchlist's digest")
    p.add_argument("watchlist")
    p.add_argument("--since", type=_parse_time, help="start (ISO 8601 or 24h/7d back)")
    p.add_argument("--until", type=_parse_time, help="end (ISO 8601 or span back)")
    p.add_argument(
        "--format",
        default="text",
        choices=_DigestFormats(),
        metavar="FORMAT",  # else argparse lists the choices as it builds the parser
        help="%(choices)s (default: %(default)s)",
    )
    p.add_argument("--out", help="write to this file instead of stdout")
    p.add_argument(
        "--send", action="store_true", help="deliver now (email and report files) and record it"
    )
    p.add_argument(
        "--resend",
        action="store_true",
        help="deliver the oldest failed digest again (else the newest recorded one)",
    )
    p = _add(sub, "search", cmd_search, "backtest a query on stored articles")
    p.add_argument("query")
    p.add_argument("--since", type=_parse_time)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--format", default="table", choices=["table", "json", "csv"])
    p = _add(sub, "tag", cmd_tag, "tag text files or stdin with the entity list")
    p.add_argument("files", nargs="*", help="files, or - for stdin (default)")
    p.add_argument("--format", default="json", choices=["json", "table"])
    p.add_argument(
        "--jsonl", action="store_true", help='input lines are {"id", "text"}; one output line each'
    )
    p.add_argument("--entities", help="entity list to use instead of the config's")
    p = _add(sub, "extract", cmd_extract, "extract article text from a file or URL")
    p.add_argument("target", metavar="FILE_OR_URL")
    p.add_argument("--format", default="json", choices=["json", "text"])
    p = _add(sub, "import", cmd_import, "import articles from JSON Lines")
    p.add_argument("file", metavar="FILE.jsonl|-")
    p = _add(sub, "export", cmd_export, "export processed articles")
    p.add_argument("--format", default="jsonl", choices=["jsonl", "csv"])
    p.add_argument("--query", help="only articles this query matches")
    p.add_argument("--since", type=_parse_time)
    p = _add(sub, "sources", cmd_sources, "source health; reset NAME clears errors")
    p.add_argument("action", nargs="?", default="list", choices=["list", "reset"])
    p.add_argument("name", nargs="?")
    _add(sub, "status", cmd_status, "recent runs, digests and their delivery states")
    p = _add(sub, "entities", cmd_entities, "the entity list; candidates for it")
    p.add_argument("action", nargs="?", default="list", choices=["list", "show", "candidates"])
    p.add_argument("id", nargs="?")
    p = _add(sub, "db", cmd_db, "database migrations")
    p.add_argument("action", choices=["upgrade"])
    p = _add(sub, "demo", cmd_demo, "offline end-to-end run on the bundled corpus")
    p.add_argument("--dir", default="reports/demo", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # output still buffered meets a closed pipe here
    except BrokenPipeError:
        # The reader went away (`monitor export | head`): stop quietly, as Unix tools do.
        # Standard output now goes nowhere, so the flush at exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Handler = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        print(f"error: {exc}" if not exc.file else str(exc), file=sys.stderr)
        return EXIT_CONFIG
    except QueryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


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
