"""Write a digest as report files, one per format, under `<dir>/<watchlist>/<period end>.<ext>`.

Files appear atomically (temp file + rename), so a reader or a crash never sees half a report.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.delivery.render import render_atom, render_csv, render_json, render_markdown
from monitor.errors import DeliveryError
from monitor.models import DigestContent, RenderedDigest

_Maker = Callable[[DigestContent, RenderedDigest], str]

# format -> (file extension, how to make the text). "email" is a delivery, not a file.
REPORT_FORMATS: dict[str, tuple[str, _Maker]] = {
    "html": ("html", lambda c, r: r.html),
    "text": ("txt", lambda c, r: r.text),
    "markdown": ("md", lambda c, r: render_markdown(c)),
    "json": ("json", lambda c, r: render_json(c)),
    "csv": ("csv", lambda c, r: render_csv(c)),
    "atom": ("atom", lambda c, r: render_atom(c)),
}
NOT_FILES = frozenset({"email"})


def watchlist_dirname(name: str) -> str:
    """A watchlist name as one safe folder name (no separators, no leading dot, no '..')."""
    slug = re.sub(r"[^\w.-]+", "-", name, flags=re.ASCII).strip("-.")
    return slug or "watchlist"


def report_stem(content: DigestContent) -> str:
    """The period end in the digest's time zone, e.g. 2026-12-01T0700."""
    try:
        zone = ZoneInfo(content.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DeliveryError(f"unknown time zone {content.timezone!r} for the digest") from exc
    end = content.period_end
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    return end.astimezone(zone).strftime("%Y-%m-%dT%H%M")


def report_path(content: DigestContent, directory: Path, fmt: str) -> Path:
    """Where `write_reports` puts format `fmt` of this digest."""
    ext, _ = _format(fmt)
    folder = Path(directory) / watchlist_dirname(content.watchlist)
    return folder / f"{report_stem(content)}.{ext}"


def _format(fmt: str) -> tuple[str, _Maker]:
    try:
        return REPORT_FORMATS[fmt]
    except KeyError:
        known = ", ".join(REPORT_FORMATS)
        raise DeliveryError(f"unknown report format {fmt!r}: use one of {known}") from None


def write_reports(
    content: DigestContent, rendered: RenderedDigest, directory: Path, formats: Sequence[str]
) -> list[Path]:
    """Write each requested format (html, text, markdown, json, csv, atom) and return the paths.

    "email" in `formats` is skipped (it is sent, not written); an unknown format raises
    DeliveryError before anything is written. Writing the same digest again replaces its files.
    """
    wanted = list(dict.fromkeys(f for f in formats if f not in NOT_FILES))
    makers = [(report_path(content, directory, f), _format(f)[1]) for f in wanted]
    paths: list[Path] = []
    for path, make in makers:
        write_atomically(path, make(content, rendered))
        paths.append(path)
    return paths


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
