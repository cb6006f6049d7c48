"""Commands that run the pipeline: run, poll, process, digest, demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.cli.common import EXIT_ERROR, EXIT_OK, build_app, progress
from monitor.cli.present import print_cycle


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon (polls on each source's interval, digests on each watchlist's schedule).

    One process at a time runs, polls, processes, imports or sends digests on a database: a
    second one is refused (exit 75) with the holder's pid, host, start time and command.
    A step of a cycle that fails unexpectedly is logged with its traceback and the cycle
    still delivers what is stored; `run --once` then exits 1.

    Example: monitor run            # until SIGTERM / Ctrl-C
             monitor run --once     # one poll + process cycle and due digests, then exit
    """
    from monitor import app as appmod

    with build_app(args, progress=progress) as app:
        if args.once:
            report = appmod.run_cycle(app)
            print_cycle(report)
            for step, error in report.errors.items():
                print(
                    f"error: the {step} step failed: {error} (traceback above); "
                    "the rest of the cycle ran",
                    file=sys.stderr,
                )
            return EXIT_ERROR if report.errors else EXIT_OK
        from monitor.scheduling import Daemon

        Daemon(app).run_forever()
        return EXIT_OK


def cmd_poll(args: argparse.Namespace) -> int:
    """Poll every source now (or only --source NAME), whatever its schedule.

    Retry-After from a server is still honoured. Example: monitor poll --source "Reuters World"
    """
    from monitor import app as appmod

    with build_app(args, progress=progress) as app:
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

    with build_app(args, progress=progress) as app:
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

    with build_app(args, workers=1) as app:
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


def cmd_demo(args: argparse.Namespace) -> int:
    """Offline end-to-end run on the bundled corpus; writes under ./reports/demo/.

    Starts a loopback server with the bundled feeds and pages, runs the real pipeline on them
    and writes each watchlist's digest (HTML, text, .eml). Example: monitor demo
    """
    from monitor.demo.run import run_demo

    paths = run_demo(Path(args.dir), progress=progress)
    print("demo digest written:")
    for p in paths:
        print(f"  {p}")
    return EXIT_OK
