"""What the commands share: exit codes, the app built from --config, progress on stderr."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor import app as appmod

# Each command imports `monitor.app` / `monitor.config` when it runs: they bring in the whole
# pipeline, which `monitor --help` should not wait for.

EXIT_OK, EXIT_ERROR, EXIT_CONFIG = 0, 1, 2
EXIT_BUSY = 75  # another process writes to the database: try later (EX_TEMPFAIL, sysexits.h)
EXIT_PIPE = 128 + 13  # what a shell reports for a tool stopped by SIGPIPE


def writer_command(args: argparse.Namespace) -> str | None:
    """The command as the writer lock names it, for commands that write pipeline state (one
    such process per database); None for those that only read (status, search, export,
    sources, entities, digest previews), which work beside a running daemon."""
    command = getattr(args, "command", None)
    if command == "run":
        return "monitor run --once" if args.once else "monitor run"
    if command == "poll":
        return "monitor poll" + (f" --source {args.source}" if args.source else "")
    if command == "process":
        return "monitor process" + (" --reextract" if args.reextract else "")
    if command == "import":
        return f"monitor import {args.file}"
    if command == "digest" and (args.send or args.resend):
        return f"monitor digest {args.watchlist} {'--resend' if args.resend else '--send'}"
    return None


def build_app(args: argparse.Namespace, **kw: Any) -> appmod.App:
    """The App of a command; one that writes holds the database's writer lock, or is
    refused (DatabaseBusyError naming the holder) while another process has it."""
    from monitor import app as appmod
    from monitor import config as configmod

    settings = configmod.load_settings(args.config)
    command = writer_command(args)
    writer = appmod.Writer(command) if command is not None else None
    return appmod.build(settings, writer=writer, **kw)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
