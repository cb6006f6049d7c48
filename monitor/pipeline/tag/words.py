"""Checks on the text around a match: a word start after an attached Arabic prefix, a
capitalised neighbour (a longer name), a model designation (KH-11); and URLs blanked out.
"""

from __future__ import annotations

import re

_AR_PREFIXES = frozenset(
    {"و", "ف", "ب", "ل", "ك", "ال", "وال", "فال", "بال", "كال", "لل", "ولل", "فلل"}
    | {"وب", "ول", "فب", "فل", "وك", "فك", "وبال", "وكال", "فبال"}
)
WORD = re.compile(r"\w+")


def is_arabic(ch: str) -> bool:
    return "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u08ff" or "\ufb50" <= ch <= "\ufeff"


def arabic_prefix(s: str, start: int) -> bool:
    """Does the word holding s[start] begin with an attached Arabic prefix ending there?"""
    if not is_arabic(s[start]):
        return False
    w = start - 1
    while w > 0 and s[w - 1].isalnum() and start - w < 4:
        w -= 1
    return (w == 0 or not s[w - 1].isalnum()) and s[w:start] in _AR_PREFIXES


def designation(after: str) -> bool:
    """Do the two chars after an acronym make it a model designation (KH-11, IS-2, F-16)?"""
    return len(after) == 2 and after[0] in "-‐‑" and after[1].isdigit()


def wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Title words that may stand capitalised before a bare name without making it another name.
_TITLES = wordset(
    "mr mrs ms dr sheikh shaykh sayyid sayed seyyed ayatollah grand imam cleric president "
    "minister premier general gen commander leader chief spokesman senator ambassador "
    "governor lieutenant lt col colonel maj major brig brigadier sgt capt captain"
)
_NEXT_NAME = re.compile(r"[ \t]+([A-Z][\w'’]*)")
_PREV_NAME = re.compile(r"([A-Z][\w'’.]*)[ \t]+$")
# Capitalised words before a bare name that are no part of it: titles, and the words that
# open a sentence (But Sadr said, Later Sadr).
NOT_NAME_PARTS = _TITLES | wordset(
    "the a an and but or so yet then later now also still when while after before if as "
    "though although since because meanwhile however today yesterday instead thus "
    "in on at by for from with of to"
)


def in_longer_name(text: str, start: int, end: int) -> bool:
    """Does the (Latin) match text[start:end] stand beside another capitalised word, so it
    is part of a longer name the list lacks (Mohammed Baqir al-Sadr, Badr Hari, Sadr City)?
    A title (Sayyid Sadr) or a possessive (Iraq's Sadr) before it does not count."""
    if not text[start : start + 1].isascii():
        return False
    after = _NEXT_NAME.match(text, end, end + 40)
    if after is not None:
        return True
    before = _PREV_NAME.search(text, max(0, start - 40), start)
    if before is None:
        return False
    word = before.group(1)
    return not (word.rstrip(".").lower() in NOT_NAME_PARTS or word.endswith(("'s", "’s")))


_URL_STOP = re.compile(r"[\s<>\"]")


def _url_end(text: str, i: int) -> int:
    """Where the URL found at `i` ends: the next space, <, > or quote, else the text's end."""
    m = _URL_STOP.search(text, i)
    return m.start() if m else len(text)


_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")


def without_urls(text: str) -> str:
    """`text` with each URL (scheme://... or www....) blanked out (spaces, so offsets stay):
    words in a link's path (/iraq-militia-attack) are no mentions. Found by plain searches
    for "://" and "www.", then widened: a regular expression tried at every word was
    several times slower."""
    spans = []
    i = text.find("://")
    while i >= 0:
        start = i
        while start and text[start - 1] in _SCHEME_CHARS:
            start -= 1
        if start < i and text[start].isalpha():
            spans.append((start, _url_end(text, i)))
        i = text.find("://", i + 3)
    i = text.find("www.")
    while i >= 0:
        if not (i and (text[i - 1].isalnum() or text[i - 1] in "/.")):
            spans.append((i, _url_end(text, i)))
        i = text.find("www.", i + 4)
    if not spans:
        return text
    parts, last = [], 0
    for start, end in sorted(spans):
        if end <= last:
            continue
        start = max(start, last)
        parts += [text[last:start], " " * (end - start)]
        last = end
    parts.append(text[last:])
    return "".join(parts)
