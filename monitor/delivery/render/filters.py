"""Jinja2 filters and text helpers for the digest: one-line text, allow-listed URLs, Markdown
escaping, and matched terms highlighted (as HTML <mark> or Markdown bold).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from monitor.pipeline.normalize import fold_with_offsets

# C0/C1 controls, DEL and the Unicode line/paragraph separators: never inside one line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r"\s+")
_C0_AND_SPACE = "".join(chr(i) for i in range(0x21)) + "\x7f"
# Characters that change meaning in Markdown; backslash-escaping them is valid CommonMark.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~!])")


def safe_url(url: object) -> str:
    """`url` cleaned if it is an absolute http(s) URL, else "" (the template shows no link).

    Browsers drop tabs and newlines inside URLs and leading control characters, so
    "java\\tscript:" is JavaScript to them: strip those before looking at the scheme.
    """
    if not isinstance(url, str):
        return ""
    cleaned = re.sub(r"[\t\r\n]", "", url).strip(_C0_AND_SPACE)
    if _CONTROL.search(cleaned):
        return ""
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    return cleaned


def oneline(value: object) -> str:
    """`value` as one line: control characters (CR, LF, tab …) and runs of spaces → one space."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", str(value))).strip()


def plural(count: int, singular: str, many: str | None = None) -> str:
    """ "1 article", "12 articles"."""
    return f"{count} {singular if count == 1 else (many or singular + 's')}"


def chip_class(entity_type: object) -> str:
    """A CSS class for an actor type, reduced to [a-z0-9_] so a hostile type is harmless."""
    return "chip-" + (re.sub(r"[^a-z0-9_]", "", str(entity_type).lower()) or "other")


def markdown_escape(value: object) -> str:
    """One-line text safe inside Markdown: specials backslash-escaped, no raw HTML."""
    return _MD_SPECIAL.sub(r"\\\1", oneline(value))


def markdown_url(url: object) -> str:
    """An allow-listed URL as a Markdown link destination (`<...>`), or ""."""
    href = safe_url(url)
    for ch, enc in ((" ", "%20"), ("<", "%3C"), (">", "%3E"), ("\\", "%5C")):
        href = href.replace(ch, enc)
    return f"<{href}>" if href else ""


def term_spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """Non-overlapping [start, end) spans of `text` where a matched term stands as whole words.

    Comparison is on folded text (case, diacritics, apostrophes, Arabic letter variants), so
    the term "kataib" marks "Kata'ib" as the tagger and the query language saw it.
    """
    folded, origin = fold_with_offsets(text)
    spans: list[tuple[int, int]] = []
    for term in {t for t in (fold_with_offsets(x)[0].strip() for x in terms) if t}:
        start = folded.find(term)
        while start != -1:
            end = start + len(term)
            before = folded[start - 1] if start else " "
            after = folded[end] if end < len(folded) else " "
            if not before.isalnum() and not after.isalnum():
                spans.append((origin[start], origin[end - 1] + 1))
            start = folded.find(term, start + 1)
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def _highlight(text: str, terms: Iterable[str], quote: Any, open_: str, close: str) -> str:
    # Every piece of input goes through `quote`; only our own markers are added raw.
    out: list[str] = []
    pos = 0
    for start, end in term_spans(text, terms):
        out += [quote(text[pos:start]), open_, quote(text[start:end]), close]
        pos = end
    out.append(quote(text[pos:]))
    return "".join(out)


def highlight_html(text: object, terms: Sequence[str]) -> Markup:
    """`text` HTML-escaped, with matched terms wrapped in <mark>."""
    return Markup(_highlight(oneline(text), terms, lambda s: str(escape(s)), "<mark>", "</mark>"))


def highlight_markdown(text: object, terms: Sequence[str]) -> str:
    """`text` Markdown-escaped, with matched terms in **bold**."""
    return _highlight(oneline(text), terms, lambda s: _MD_SPECIAL.sub(r"\\\1", s), "**", "**")
