"""Values that fit every database: the limits of what is stored, and text made storable.

Pure. Everything that enters from outside (feed entries, pages, imported records) passes
through here before it reaches storage: PostgreSQL refuses a NUL character and a lone UTF-16
surrogate in text, and `articles.canonical_url` holds at most MAX_URL_CHARS characters.
"""

from __future__ import annotations

import re

MAX_URL_CHARS = 2000  # links, canonical URLs (the width of the canonical_url columns)
MAX_GUID_CHARS = 2000  # a feed entry's id; a longer one is not an id but a mistake
MAX_TITLE_CHARS = 1000  # longer titles are cut, with an ellipsis
MAX_SOURCE_CHARS = 200  # the width of source names
MAX_ERROR_CHARS = 500  # an error recorded on a source or an article

# C0 controls but tab, newline and carriage return; DEL; lone surrogates (U+D800–U+DFFF).
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def clean_text(value: str) -> str:
    """`value` without the characters no database should be given: NUL and the other control
    characters but tab, newline and carriage return (vertical tab and form feed become
    spaces), and lone surrogates (which cannot be encoded as UTF-8 at all)."""
    if _UNSTORABLE.search(value) is None:
        return value
    return _UNSTORABLE.sub(_replacement, value)


def _replacement(found: re.Match[str]) -> str:
    return " " if found.group() in "\x0b\x0c" else ""  # vertical tab, form feed: spaces


# Character references to lone surrogates (U+D800-U+DFFF) and to the control characters
# clean_text removes: markup that a parser would decode into unstorable text.
_BAD_CHARREF = (
    r"&#(?:[xX]0*(?:[dD][89a-fA-F][0-9a-fA-F]{2}|[0-8bBcCeEfF]|1[0-9a-fA-F]|7[fF])"
    r"|0*(?:5529[6-9]|55[3-9]\d\d|56\d{3}|57[0-2]\d\d|573[0-3]\d|5734[0-3]"
    r"|[0-8]|1[12]|1[4-9]|2\d|3[01]|127));"
)
BAD_CHARREF_RE = re.compile(_BAD_CHARREF)
BAD_CHARREF_BYTES_RE = re.compile(_BAD_CHARREF.encode("ascii"))


def clean_markup(html: str) -> str:
    """HTML or XML made storable, before as after parsing: clean_text, and no character
    references to what clean_text removes (&#0;, &#x1F;, &#xD800;)."""
    html = clean_text(html)
    return BAD_CHARREF_RE.sub("", html) if "&#" in html else html


def clean_line(value: str) -> str:
    """A one-line value (a title, a GUID): cleaned, its whitespace runs made one space."""
    return " ".join(clean_text(value).split())


def title(value: str) -> str:
    """A title as stored: one line, at most MAX_TITLE_CHARS characters."""
    line = clean_line(value)
    if len(line) <= MAX_TITLE_CHARS:
        return line
    return line[: MAX_TITLE_CHARS - 1].rstrip() + "…"


def url_problem(url: str) -> str | None:
    """Why `url` cannot be stored as a link (None when it can)."""
    if not url:
        return "no link"
    if len(url) > MAX_URL_CHARS:
        return f"link of {len(url):,} characters (the limit is {MAX_URL_CHARS:,})"
    if _UNSTORABLE.search(url) is not None or any(c.isspace() for c in url):
        return "link with control characters or spaces"
    return None


def guid(value: str | None) -> str | None:
    """A feed entry's id as stored: cleaned, or None when nothing (or too much) is left."""
    if value is None:
        return None
    cleaned = clean_line(value)
    if not cleaned or len(cleaned) > MAX_GUID_CHARS:
        return None
    return cleaned


def error_text(value: str) -> str:
    """An error message as recorded on a source or an article: one line, at most
    MAX_ERROR_CHARS characters (a 10,000-character URL in a message is cut)."""
    line = clean_line(value)
    if len(line) <= MAX_ERROR_CHARS:
        return line
    return line[: MAX_ERROR_CHARS - 1] + "…"
