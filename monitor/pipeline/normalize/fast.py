"""The fast path of the fold, for most texts: the text folded in C string operations into an
aligned copy whose marks are then removed or expanded; None when the general path is needed.
"""

from __future__ import annotations

from itertools import accumulate, compress, count
from operator import add

from monitor.pipeline.normalize.chars import ASCII_BYTES, ASCII_FOLD, TABLE, words_only
from monitor.pipeline.normalize.offsets import FoldedText

# The fast path folds `text` into an aligned string, one char per char of `text`, that marks
# what the fold removes or grows; then one split removes the marked chars. The markers are
# control chars that fold to a space, so none survives folding and none comes from the text
# (but _NOT_WORD, ESC, which fold_words makes a space in any case); no low byte of theirs is
# common in UCS-2 text, so one-char searches stay fast (not NUL).
_GONE = "\x1f"  # a char the fold removes
_DROPPED = "\x1e"  # a dropped char (apostrophe, mark) before the runs of spaces are known
_PLACEHOLDERS = "\x1c\x1d\x0b\x0c"  # one per distinct char that expands (ß -> ss)
_NOT_WORD = "\x1b"  # for fold_words: a char that is neither a letter, a digit nor a space
_MARKERS = frozenset(_GONE + _DROPPED + _PLACEHOLDERS)
# Byte tables for the fast path: dropped ASCII chars (' and `) marked; and for fold_words,
# every other ASCII char that folds to neither a space, a letter nor a digit marked too.
_ASCII_MARKED = ASCII_FOLD.translate(bytes.maketrans(b"'`", _DROPPED.encode() * 2))
_ASCII_WORDS = bytes(
    c if chr(c) in " " + _DROPPED or chr(c).isalnum() or c > 127 else ord(_NOT_WORD)
    for c in _ASCII_MARKED
)


def fold_fast(text: str, *, words: bool, encoded: bytes | None) -> FoldedText | None:
    """The fold of most texts, from `_marked`; None when the text needs the general path."""
    marked = _marked(text, words=words, encoded=encoded)
    if marked is None:
        return None
    aligned, grown = marked
    parts = aligned.split(_GONE)
    if len(parts) == 1:
        anchors_f: list[int] = [0]
        anchors_o: list[int] = [0]
    else:  # each non-empty part starts a run of the offset map
        sizes = list(map(len, parts))
        anchors_f = list(compress(accumulate(sizes, initial=0), sizes))
        anchors_o = list(compress(map(add, accumulate(sizes, initial=0), count()), sizes))
        aligned = "".join(parts)
        if not anchors_f:
            anchors_f, anchors_o = [0], [0]
    if words and _NOT_WORD in aligned:
        aligned = aligned.replace(_NOT_WORD, " ")
    if grown:
        return _expand(aligned, len(text), anchors_f, anchors_o, grown)
    return FoldedText(aligned, len(text), tuple(anchors_f), tuple(anchors_o), frozenset())


def _marked(
    text: str, *, words: bool, encoded: bytes | None = None
) -> tuple[str, dict[str, str]] | None:
    """The fold of `text`, or for `words` its `fold_words`, aligned: one char per char of
    `text`, _GONE for each char the fold removes (dropped marks, spaces after a space,
    leading spaces), a placeholder for each distinct char that expands (ß -> ss), given
    with what replaces it. None when the text needs the general path: a char that expands
    to a space, a dropped char between two spaces, a fold that itself folds, more expanding
    chars than placeholders.

    C does the bulk: one byte table for ASCII, one `str.replace` per distinct non-ASCII
    char that folds to something else (one-char replacements are cheap), two for the runs
    of spaces.
    """
    raw = text.encode("utf-8", "surrogatepass") if encoded is None else encoded
    aligned = raw.translate(_ASCII_WORDS if words else _ASCII_MARKED)
    aligned_text = aligned.decode("utf-8", "surrogatepass")
    grown: dict[str, str] = {}
    if not text.isascii():
        swaps: dict[str, str] = {}
        drops: list[str] = []
        expands: list[str] = []
        for ch in set(raw.translate(None, ASCII_BYTES).decode("utf-8", "surrogatepass")):
            folded = TABLE[ord(ch)]
            if not folded:
                drops.append(ch)
            elif len(folded) > 1:
                if " " in folded or len(expands) == len(_PLACEHOLDERS):
                    return None
                expands.append(ch)
            else:
                if words and folded != " " and not folded.isalnum():
                    folded = _NOT_WORD
                if folded != ch:
                    swaps[ch] = folded
        if any(c in swaps or c in _MARKERS or c in drops or c in expands for c in swaps.values()):
            return None  # a replacement would be replaced again
        for ch, folded in swaps.items():
            aligned_text = aligned_text.replace(ch, folded)
        for ch in drops:
            aligned_text = aligned_text.replace(ch, _DROPPED)
        for ch, placeholder in zip(expands, _PLACEHOLDERS, strict=False):
            aligned_text = aligned_text.replace(ch, placeholder)
            fold = TABLE[ord(ch)]
            grown[placeholder] = words_only(fold) if words else fold
    marked = _mark_spaces(aligned_text)
    return None if marked is None else (marked, grown)


def _mark_spaces(aligned: str) -> str | None:
    """Mark as _GONE the spaces the fold collapses and the dropped chars."""
    # A run of spaces keeps its first: "    " -> " G G" -> " GGG". (Replacing is as cheap
    # as looking first.)
    aligned = aligned.replace("  ", " " + _GONE)
    if _GONE in aligned:
        aligned = aligned.replace(_GONE + " ", _GONE + _GONE)
    if _DROPPED in aligned:
        if _drop_between_spaces(aligned):
            return None
        aligned = aligned.replace(_DROPPED, _GONE)
    if aligned[:1] == " " or aligned[:1] == _GONE:  # a leading run goes whole
        lead = len(aligned) - len(aligned.lstrip(" " + _GONE))
        aligned = _GONE * lead + aligned[lead:]
    return aligned


def _drop_between_spaces(aligned: str) -> bool:
    """Does a run of dropped chars stand between two spaces (kept or removed)? Then the
    spaces join, which the general path handles."""
    i = aligned.find(_DROPPED)
    while i >= 0:
        j = i + 1
        while aligned[j : j + 1] == _DROPPED:
            j += 1
        if i and aligned[i - 1] in (" ", _GONE) and aligned[j : j + 1] == " ":
            return True
        i = aligned.find(_DROPPED, j)
    return False


def _expand(
    folded: str, length: int, anchors_f: list[int], anchors_o: list[int], grown: dict[str, str]
) -> FoldedText:
    """Put each expanding char's fold in place of its placeholder: a flat run maps the fold
    back onto the char, and the runs after it shift."""
    events = sorted((q, ph) for ph in grown for q in _find_all(folded, ph))
    new_f: list[int] = []
    new_o: list[int] = []
    flat: set[int] = set()
    extra = k = 0  # chars added so far; next anchor to copy
    for q, ph in events:
        while k < len(anchors_f) and anchors_f[k] <= q:
            new_f.append(anchors_f[k] + extra)
            new_o.append(anchors_o[k])
            k += 1
        o = anchors_o[k - 1] + q - anchors_f[k - 1]
        if new_f[-1] == q + extra:  # the char starts a run, or ends an expansion's: flat now
            new_o[-1] = o
        else:
            new_f.append(q + extra)
            new_o.append(o)
        flat.add(len(new_f) - 1)
        extra += len(grown[ph]) - 1
        if q + 1 < len(folded) and not (k < len(anchors_f) and anchors_f[k] == q + 1):
            new_f.append(q + 1 + extra)  # the next char continues the run after the char
            new_o.append(o + 1)
    new_f.extend(f + extra for f in anchors_f[k:])
    new_o.extend(anchors_o[k:])
    for ph, fold in grown.items():
        folded = folded.replace(ph, fold)
    return FoldedText(folded, length, tuple(new_f), tuple(new_o), frozenset(flat))


def _find_all(text: str, ch: str) -> list[int]:
    out = []
    i = text.find(ch)
    while i >= 0:
        out.append(i)
        i = text.find(ch, i + 1)
    return out
