"""Write a digest as report files under `<dir>/<watchlist>/`: one `<period end, UTC>.<ext>` per
format, and one `feed.atom` per watchlist that gathers the recent digests as entries.

Files appear atomically (temp file + rename), so a reader or a crash never sees half a report.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from monitor.delivery.render import (
    FEED_ENTRIES,
    inline_images,
    render_atom,
    render_csv,
    render_json,
    render_markdown,
)
from monitor.errors import DeliveryError
from monitor.models import DigestContent, RenderedDigest

_Maker = Callable[[DigestContent, RenderedDigest], str]

# format -> (file extension, how to make the text). "email" is a delivery, not a file;
# "atom" is not one file per period but the watchlist's feed, made by `_write_feed`.
REPORT_FORMATS: dict[str, tuple[str, _Maker]] = {
    "html": ("html", lambda c, r: inline_images(r)),  # the chart inline: one file to open
    "text": ("txt", lambda c, r: r.text),
    "markdown": ("md", lambda c, r: render_markdown(c)),
    "json": ("json", lambda c, r: render_json(c)),
    "csv": ("csv", lambda c, r: render_csv(c)),
    "atom": ("atom", lambda c, r: render_atom(c)),
}
NOT_FILES = frozenset({"email"})
FEED_NAME = "feed.atom"


def watchlist_dirname(name: str) -> str:
    """A watchlist name as one safe folder name (no separators, no leading dot, no '..')."""
    slug = re.sub(r"[^\w.-]+", "-", name, flags=re.ASCII).strip("-.")
    return slug or "watchlist"


def file_stamp(when: datetime) -> str:
    """The one time convention of file names (reports, .eml): UTC, ISO 8601 basic, e.g.
    20261201T040000Z; a naive time is UTC. Sorts as text, never ambiguous around DST."""
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def report_stem(content: DigestContent) -> str:
    """The period end as a file stamp, e.g. 20261201T040000Z (07:00 in Baghdad)."""
    return file_stamp(content.period_end)


def report_path(content: DigestContent, directory: Path, fmt: str) -> Path:
    """Where `write_reports` puts format `fmt` of this digest ("atom": the watchlist's feed)."""
    ext, _ = _format(fmt)
    folder = Path(directory) / watchlist_dirname(content.watchlist)
    return folder / (FEED_NAME if fmt == "atom" else f"{report_stem(content)}.{ext}")


def _format(fmt: str) -> tuple[str, _Maker]:
    try:
        return REPORT_FORMATS[fmt]
    except KeyError:
        known = ", ".join(REPORT_FORMATS)
        raise DeliveryError(f"unknown report format {fmt!r}: use one of {known}") from None


def write_reports(
    content: DigestContent,
    rendered: RenderedDigest,
    directory: Path,
    formats: Sequence[str],
    *,
    feed_url: str | None = None,
    feed_entries: int = FEED_ENTRIES,
) -> list[Path]:
    """Write each requested format (html, text, markdown, json, csv, atom) and return the paths.

    "email" in `formats` is skipped (it is sent, not written); an unknown format raises
    DeliveryError before anything is written. Writing the same digest again replaces its files
    and its feed entry. "atom" adds the digest to `<watchlist>/feed.atom` (the last
    `feed_entries` digests); `feed_url` is the feed's public URL (rel=self), else its file URI.
    """
    wanted = list(dict.fromkeys(f for f in formats if f not in NOT_FILES))
    makers = [(f, report_path(content, directory, f), _format(f)[1]) for f in wanted]
    paths: list[Path] = []
    for fmt, path, make in makers:
        if fmt == "atom":
            page = report_path(content, directory, "html").name if "html" in wanted else None
            _write_feed(content, path, feed_url, page, feed_entries)
        else:
            write_atomically(path, make(content, rendered))
        paths.append(path)
    return paths


def _write_feed(
    content: DigestContent, path: Path, feed_url: str | None, page: str | None, limit: int
) -> None:
    # Read-modify-write under a lock on the folder: two workers adding digests of the same
    # watchlist at once must not drop each other's entry.
    with _locked(path.parent):
        try:
            previous = path.read_text(encoding="utf-8") if path.exists() else None
        except (OSError, UnicodeDecodeError) as exc:
            raise DeliveryError(f"cannot read the Atom feed {path}: {exc}") from exc
        self_url = feed_url or path.resolve().as_uri()
        text = render_atom(
            content, previous=previous, self_url=self_url, alternate_url=page, limit=limit
        )
        write_atomically(path, text)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process lock, the write itself stays atomic
        yield
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        raise DeliveryError(f"cannot write report {folder}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_atomically(path: Path, text: str) -> None:
    """Write UTF-8 `text` to `path` via a temp file in the same folder and os.replace."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; reports are meant to be read
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        raise DeliveryError(f"cannot write report {path}: {exc}") from exc
