"""Reading `monitor import` files: JSON Lines, read as bytes, each line an ImportRecord made
storable, or a BadLine saying where (file:line) and why it was skipped. Nothing else escapes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from monitor.pipeline.runner.stored import ImportRecord, link_problem, publication_time, storable

# What a line can be refused for: the summary counts the lines of each reason.
NOT_UTF8 = "not UTF-8"
NOT_JSON = "not JSON"
NOT_A_RECORD = "not a record"
BAD_URL = "bad url"
BAD_TIME = "bad published_at"
NO_TEXT = "no text"


@dataclass(frozen=True)
class BadLine:
    """A line that was skipped: where, the reason (one of the names above) and the detail."""

    file: str
    line: int
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}: {self.detail} (line skipped)"


class _Skip(Exception):
    """Raised inside this module only: the line is a BadLine with this reason and detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


def read_lines(lines: Iterable[bytes], file: str) -> Iterator[ImportRecord | BadLine]:
    """Each non-blank line of a file opened in binary mode (split at b"\\n" only), parsed."""
    for number, raw in enumerate(lines, 1):
        if raw.strip():
            yield parse_line(raw, file, number)


def parse_line(raw: bytes | str, file: str, line: int) -> ImportRecord | BadLine:
    """One line of `monitor import` (bytes as read, or text): a storable record, or why not."""
    try:
        return _record(_json(raw), f"{file}:{line}")
    except _Skip as skip:
        return BadLine(file, line, skip.reason, skip.detail)


def _json(raw: bytes | str) -> object:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Skip(
                NOT_UTF8,
                f"byte {raw[exc.start]:#04x} at column {exc.start + 1} is not UTF-8 "
                "(save the file as UTF-8)",
            ) from None
    try:
        # strict=False: a raw tab or other control character inside a string is taken (and
        # then removed from the values), not a reason to lose the record
        return json.loads(raw.removeprefix("\ufeff"), strict=False)
    except json.JSONDecodeError as exc:
        raise _Skip(NOT_JSON, f"{exc.msg} at column {exc.colno}") from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise _Skip(NOT_JSON, str(exc)) from None
    except RecursionError:
        raise _Skip(NOT_JSON, "arrays or objects nested too deeply") from None


def _record(data: object, where: str) -> ImportRecord:
    if not isinstance(data, dict):
        raise _Skip(NOT_A_RECORD, 'each line is one JSON object: {"url": ..., "text": ...}')
    url = data.get("url")
    if not isinstance(url, str) or not url.strip():
        raise _Skip(NOT_A_RECORD, "no `url` (a non-empty string: the article's key)")
    problem = link_problem(url)
    if problem is not None:
        raise _Skip(BAD_URL, f"{_shown(url)}: {problem}")
    when = _time(data)
    try:
        record = storable(
            ImportRecord(
                url=url,
                title=_string(data, "title"),
                text=_string(data, "text"),
                html=_string(data, "html"),
                published_at=when,
                source=_string(data, "source"),
                where=where,
            )
        )
    except ValueError as exc:  # the link and the time are checked above: not expected
        raise _Skip(BAD_URL, str(exc)) from None
    if not record.text.strip() and not record.html.strip():
        raise _Skip(NO_TEXT, "each record needs a non-empty `text` or `html`")
    return record


def _string(data: dict[str, object], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Skip(NOT_A_RECORD, f"`{key}` is a JSON {_kind(value)}, not a string")
    return value


def _time(data: dict[str, object]) -> datetime | None:
    value = data.get("published_at")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _Skip(BAD_TIME, f"a JSON {_kind(value)}, not an ISO 8601 string")
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _Skip(
            BAD_TIME, f"{_shown(value)} is not ISO 8601 (write e.g. 2026-11-30T10:00:00+03:00)"
        ) from None
    try:
        return publication_time(when)
    except ValueError as exc:
        raise _Skip(BAD_TIME, str(exc)) from None


def _kind(value: object) -> str:
    names = {bool: "boolean", int: "number", float: "number", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _shown(value: str, limit: int = 80) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")
