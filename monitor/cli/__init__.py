"""The command line: parse arguments, call one function, turn errors into messages and exit codes.

Exit status: 0 success, 1 an internal or delivery error, 2 a config or usage error,
75 when another monitor process is writing to the database (the message names it; try
later), 141 when the reader of standard output went away (`monitor export | head`), as for
Unix tools.

The commands live in `commands_pipeline`, `commands_store` and `commands_offline`, what they
print in `present`; every module here stays light: the pipeline is imported inside commands.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor import __version__
from monitor.cli.commands_offline import cmd_check as cmd_check
from monitor.cli.commands_offline import cmd_extract as cmd_extract
from monitor.cli.commands_offline import cmd_init as cmd_init
from monitor.cli.commands_offline import cmd_tag as cmd_tag
from monitor.cli.commands_pipeline import cmd_demo as cmd_demo
from monitor.cli.commands_pipeline import cmd_digest as cmd_digest
from monitor.cli.commands_pipeline import cmd_poll as cmd_poll
from monitor.cli.commands_pipeline import cmd_process as cmd_process
from monitor.cli.commands_pipeline import cmd_run as cmd_run
from monitor.cli.commands_store import cmd_db as cmd_db
from monitor.cli.commands_store import cmd_entities as cmd_entities
from monitor.cli.commands_store import cmd_export as cmd_export
from monitor.cli.commands_store import cmd_import as cmd_import
from monitor.cli.commands_store import cmd_search as cmd_search
from monitor.cli.commands_store import cmd_sources as cmd_sources
from monitor.cli.commands_store import cmd_status as cmd_status
from monitor.cli.common import EXIT_BUSY as EXIT_BUSY
from monitor.cli.common import EXIT_CONFIG as EXIT_CONFIG
from monitor.cli.common import EXIT_ERROR as EXIT_ERROR
from monitor.cli.common import EXIT_OK as EXIT_OK
from monitor.cli.common import EXIT_PIPE as EXIT_PIPE
from monitor.cli.present import entity_json as entity_json
from monitor.cli.present import hits_json as hits_json
from monitor.errors import ConfigError, DatabaseBusyError, MonitorError, QueryError

Handler = Callable[[argparse.Namespace], int]


# --- parser ---------------------------------------------------------------------------


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
    except DatabaseBusyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
