"""Text folding shared by tagging and the query language, with offsets back to the original.

`fold` gives the comparable form; `fold_with_offsets` also maps each folded char to its source;
`fold_text` does the same lazily (an offset map, not a list), for long texts; `fold_words`
is `fold_text` with only letters and digits kept (others as spaces), for the tagger.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, compress, count
from operator import add

# Apostrophe-like marks, ʿayn and hamza signs: dropped, so Kata'ib == Kataib == Kataʾib.
# Zero-width joiner / space, BOM and soft hyphen are invisible: dropped too.
_DROP = set("'’‘`´ʼʻʿʾʹʺ′‛ˈ") | {"\u0640", "\u200d", "\ufeff", "\u00ad", "\u2060"}
# Dashes, hyphens, slashes become spaces, so al-Muhandis == al Muhandis. The Persian
# zero-width non-joiner separates words (حزب‌الله == حزب الله), so it is a space as well.
_SPACE = set("-‐‑‒–—―_/·") | {"\u00a0", "\u200c", "\u200b"}
_ARABIC = {
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا",
    "ى": "ي", "ی": "ي", "ې": "ي", "ئ": "ي",
    "ة": "ه", "ۀ": "ه", "ە": "ه",
    "ک": "ك", "ؤ": "و",
}  # fmt: skip


def _is_mark(ch: str) -> bool:
    # Combining diacritics (Latin accents) and Arabic harakat / superscript alef.
    return unicodedata.combining(ch) != 0 or "\u064b" <= ch <= "\u065f" or ch == "\u0670"


def _fold_char(ch: str) -> str:
    if ch in _DROP:
        return ""
    if ch in _SPACE or ch.isspace():
        return " "
    out = []
    for c in unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", ch).casefold()):
        if _is_mark(c) or c in _DROP:
            continue
        out.append(_ARABIC.get(c, c))
    return "".join(out)


class _FoldTable(dict[int, str]):
    """Code point -> folded string, filled on first sight; pure memo of `_fold_char`.

    Shared by every call, but it only caches a pure function: output never depends on what
    was folded before. It also remembers which chars do not fold to exactly one char, so the
    slow path can find them with one regex scan.
    """

    def __init__(self) -> None:
        super().__init__()
        self.uneven: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        folded = _fold_char(ch)
        self[code] = folded
        if len(folded) != 1:
            self.uneven.add(ch)
            self._pattern = None
        return folded

    def uneven_pattern(self) -> re.Pattern[str]:
        if self._pattern is None:
            chars = "".join(sorted(self.uneven)) or "\x00"
            self._pattern = re.compile("[" + re.escape(chars) + "]+")
        return self._pattern


_TABLE = _FoldTable()
_LEADING_SPACES = re.compile(" +")
_SPACE_RUN = re.compile("  +")


@dataclass(frozen=True)
class FoldedText:
    """A folded text and a piecewise-linear map from folded positions back to the original.

    `anchors_f[k]`/`anchors_o[k]` start a run where folded j maps to original
    `anchors_o[k] + (j - anchors_f[k])`; a run may be flat (an expanded char like ß -> ss).
    """

    text: str
    length: int
    anchors_f: tuple[int, ...]
    anchors_o: tuple[int, ...]
    flat: frozenset[int]

    def origin(self, j: int) -> int:
        """Index in the original text of folded char j (len(original) for j == len(text))."""
        if j >= len(self.text):
            return self.length
        k = bisect_right(self.anchors_f, j) - 1
        if k in self.flat:
            return self.anchors_o[k]
        return self.anchors_o[k] + (j - self.anchors_f[k])

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a folded span [start, end) back to the original text's [start, end).

        On the tagger's and matcher's hot paths: the end's run is searched from the start's.
        """
        if end > len(self.text) or end <= start:
            return self.origin(start), self.origin(end - 1) + 1
        af, ao, flat = self.anchors_f, self.anchors_o, self.flat
        k = bisect_right(af, start) - 1
        ostart = ao[k] if k in flat else ao[k] + start - af[k]
        k = bisect_right(af, end - 1, k) - 1
        return ostart, (ao[k] if k in flat else ao[k] + end - 1 - af[k]) + 1

    def folded_index(self, i: int) -> int:
        """Index in the folded text of original char i (one that folding keeps): `origin`'s
        inverse."""
        k = bisect_right(self.anchors_o, i) - 1
        if k < 0:
            return 0
        return self.anchors_f[k] if k in self.flat else self.anchors_f[k] + i - self.anchors_o[k]


def fold_text(text: str) -> FoldedText:
    """Fold `text` like `fold_with_offsets`, but keep the offsets as a compact map."""
    return _fold_fast(text, words=False, encoded=None) or _fold_general(text)


def fold_words(text: str, encoded: bytes | None = None) -> FoldedText:
    """`fold_text` with every char of the folded text that is not a letter or a digit made a
    space afterwards (same length, same offsets): what the tagger's automaton reads.
    `encoded`, if given, is `text` in UTF-8 with surrogatepass (saves encoding it again)."""
    folded = _fold_fast(text, words=True, encoded=encoded)
    if folded is None:
        folded = _fold_general(text)
        folded = FoldedText(
            words_only(folded.text), folded.length, folded.anchors_f, folded.anchors_o, folded.flat
        )
    return folded


def words_only(text: str) -> str:
    """`text` with every char that is not a letter or digit a space (same length)."""
    raw = text.encode("utf-8", "surrogatepass")
    out = raw.translate(_ASCII_WORDS_ONLY).decode("utf-8", "surrogatepass")
    if not text.isascii():
        for ch in set(raw.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass")):
            if not ch.isalnum():
                out = out.replace(ch, " ")
    return out


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


def _fold_fast(text: str, *, words: bool, encoded: bytes | None) -> FoldedText | None:
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
        for ch in set(raw.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass")):
            folded = _TABLE[ord(ch)]
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
            fold = _TABLE[ord(ch)]
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


def _fold_general(text: str) -> FoldedText:
    """Any text: each uneven char's fold placed, then runs of spaces collapsed."""
    raw, uneven = _fold_chars(text)
    raw_f, raw_o, raw_flat = _raw_anchors(uneven)
    # Collapse runs of spaces (a leading run goes whole); folded positions skip dropped ones.
    pieces: list[str] = []
    keep_f: list[int] = [0]  # folded start of each kept raw piece
    keep_r: list[int] = [0]  # raw start of that piece
    pos = 0
    lead = _LEADING_SPACES.match(raw)
    if lead:
        pos = lead.end()
        keep_r[0] = pos
    for m in _SPACE_RUN.finditer(raw, pos):
        pieces.append(raw[pos : m.start() + 1])
        pos = m.end()
        keep_f.append(keep_f[-1] + len(pieces[-1]))
        keep_r.append(pos)
    pieces.append(raw[pos:])
    folded = "".join(pieces) if len(pieces) > 1 else pieces[0]
    return _compose(len(text), folded, raw_f, raw_o, raw_flat, keep_f, keep_r)


def _fold_chars(text: str) -> tuple[str, list[tuple[int, int]]]:
    """Every char folded, spaces not yet collapsed; and (index, folded length) of each char
    whose fold is not exactly one char. C does the bulk: one byte table for ASCII, then one
    `str.replace` per distinct non-ASCII char that folds to something else."""
    raw = text.encode("utf-8", "surrogatepass")
    low = raw.translate(_ASCII_FOLD).decode("utf-8", "surrogatepass")  # aligned 1:1 with text
    if text.isascii():
        others = ""
    else:
        others = raw.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass")
    swaps: dict[str, str] = {}
    uneven_chars = [c for c in "'`" if c in low]
    for ch in set(others):
        folded = _TABLE[ord(ch)]
        if len(folded) != 1:
            uneven_chars.append(ch)
        elif folded != ch:
            swaps[ch] = folded
    produced = "".join(swaps.values()) + "".join(_TABLE[ord(c)] for c in uneven_chars)
    if any(c in swaps or c in uneven_chars for c in produced if c not in "'`"):
        return text.translate(_TABLE), _uneven_chars(text, 0, len(text))  # folds feed folds
    for ch, folded in swaps.items():
        low = low.replace(ch, folded)
    uneven: list[tuple[int, int]] = []
    for ch in uneven_chars:
        uneven.extend(_positions(low, ch, len(_TABLE[ord(ch)])))
    for ch in uneven_chars:
        low = low.replace(ch, _TABLE[ord(ch)])
    if len(uneven_chars) > 1:
        uneven.sort()
    return low, uneven


def _ascii_fold() -> bytes:
    """Byte table folding each ASCII char to its one-char fold; apostrophes kept (dropped
    later, once their positions are known)."""
    out = bytearray(range(256))
    for code in range(128):
        folded = _TABLE[code]
        if len(folded) == 1:
            out[code] = ord(folded)
    return bytes(out)


_ASCII_FOLD = _ascii_fold()
_ASCII_BYTES = bytes(range(128))
# Byte tables for the fast path: dropped ASCII chars (' and `) marked; and for fold_words,
# every other ASCII char that folds to neither a space, a letter nor a digit marked too.
_ASCII_MARKED = _ASCII_FOLD.translate(bytes.maketrans(b"'`", _DROPPED.encode() * 2))
_ASCII_WORDS = bytes(
    c if chr(c) in " " + _DROPPED or chr(c).isalnum() or c > 127 else ord(_NOT_WORD)
    for c in _ASCII_MARKED
)
# For words_only: ASCII letters and digits kept, other ASCII -> space, non-ASCII bytes kept.
_ASCII_WORDS_ONLY = bytes(b if b > 127 or chr(b).isalnum() else 32 for b in range(256))


def _positions(text: str, ch: str, size: int) -> list[tuple[int, int]]:
    out = []
    i = text.find(ch)
    while i >= 0:
        out.append((i, size))
        i = text.find(ch, i + 1)
    return out


def _uneven_chars(text: str, start: int, end: int) -> list[tuple[int, int]]:
    out = []
    for m in _TABLE.uneven_pattern().finditer(text, start, end):
        for i in range(m.start(), m.end()):
            out.append((i, len(_TABLE[ord(text[i])])))
    return out


def _raw_anchors(uneven: list[tuple[int, int]]) -> tuple[list[int], list[int], set[int]]:
    """Runs of the raw fold: (raw start, original start), and which runs are flat (ß -> ss)."""
    raw_f: list[int] = [0]
    raw_o: list[int] = [0]
    raw_flat: set[int] = set()
    shift = 0  # len(raw fold of text[:i]) - i
    for i, n in uneven:
        if n > 1:
            raw_flat.add(len(raw_f))
            raw_f.append(i + shift)
            raw_o.append(i)
        shift += n - 1
        raw_f.append(i + 1 + shift)
        raw_o.append(i + 1)
    return raw_f, raw_o, raw_flat


def _compose(
    length: int,
    folded: str,
    raw_f: list[int],
    raw_o: list[int],
    raw_flat: set[int],
    keep_f: list[int],
    keep_r: list[int],
) -> FoldedText:
    """Merge folded->raw (kept pieces) and raw->original (anchors) into one anchor list."""
    anchors_f: list[int] = []
    anchors_o: list[int] = []
    flat: set[int] = set()
    m, last = 0, len(raw_f) - 1
    ends = [*keep_f[1:], len(folded)]
    for f_start, r_start, f_end in zip(keep_f, keep_r, ends, strict=True):
        if f_end <= f_start:
            continue
        r_end = r_start + (f_end - f_start)
        while m < last and raw_f[m + 1] <= r_start:
            m += 1
        r = r_start
        while True:
            if m in raw_flat:
                flat.add(len(anchors_f))
                anchors_o.append(raw_o[m])
            else:
                anchors_o.append(raw_o[m] + (r - raw_f[m]))
            anchors_f.append(f_start + (r - r_start))
            if m >= last or raw_f[m + 1] >= r_end:
                break
            m += 1
            while m < last and raw_f[m + 1] == raw_f[m]:
                m += 1
            r = raw_f[m]
    if not anchors_f:
        anchors_f, anchors_o = [0], [0]
    return FoldedText(folded, length, tuple(anchors_f), tuple(anchors_o), frozenset(flat))


def fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """Fold `text`; also return `origin` with origin[j] = index in `text` of folded char j.

    `origin` has one extra final entry, len(text), so a folded span [a, b) maps back to
    text[origin[a] : origin[b - 1] + 1]. Runs of spaces collapse to one.
    """
    ft = fold_text(text)
    origin: list[int] = []
    bounds = (*ft.anchors_f, len(ft.text))
    for k, (a, b) in enumerate(itertools.pairwise(bounds)):
        o = ft.anchors_o[k]
        if k in ft.flat:
            origin.extend([o] * (b - a))
        else:
            origin.extend(range(o, o + b - a))
    origin.append(len(text))
    return ft.text, origin


def fold(text: str) -> str:
    """The comparable form of `text`: NFKC, casefold, no diacritics or apostrophes, one space."""
    return fold_text(text).text.strip()


def original_span(origin: list[int], start: int, end: int) -> tuple[int, int]:
    """Map a folded span [start, end) back to the original text's [start, end)."""
    return origin[start], origin[end - 1] + 1


# --- the Arabic article in Latin script -----------------------------------------------------

_ARTICLES = frozenset({"al", "el"})
_SUN_LETTERS = ("th", "dh", "sh", "t", "d", "r", "z", "s", "n")  # transliterated, longest first
_SUN_FORMS = frozenset("a" + s for s in _SUN_LETTERS)


def article_slots(tokens: Sequence[str]) -> list[tuple[str | None, ...]]:
    """Per folded word, the spellings it may take under the Arabic-article rule, shared by
    the tagger and the query language: an article before another word (al, el, or a
    sun-letter form: as-Sadr, ash-Shuhada, an-Nujaba) may be al, el, absent (None) or the
    next word's sun-letter form; any other word is only itself."""
    slots: list[tuple[str | None, ...]] = []
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if nxt and (tok in _ARTICLES or (tok in _SUN_FORMS and nxt.startswith(tok[1:]))):
            sun = next((s for s in _SUN_LETTERS if nxt.startswith(s)), None)
            slots.append(("al", "el", None, "a" + sun) if sun else ("al", "el", None))
        else:
            slots.append((tok,))
    return slots
