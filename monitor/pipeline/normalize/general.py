"""The general path of the fold, for any text: each char folded, runs of spaces collapsed, and
the two offset maps (raw fold -> original, folded -> raw fold) composed into one.
"""

from __future__ import annotations

import re

from monitor.pipeline.normalize.chars import ASCII_BYTES, ASCII_FOLD, TABLE
from monitor.pipeline.normalize.offsets import FoldedText

_LEADING_SPACES = re.compile(" +")
_SPACE_RUN = re.compile("  +")


def fold_general(text: str) -> FoldedText:
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
    low = raw.translate(ASCII_FOLD).decode("utf-8", "surrogatepass")  # aligned 1:1 with text
    if text.isascii():
        others = ""
    else:
        others = raw.translate(None, ASCII_BYTES).decode("utf-8", "surrogatepass")
    swaps: dict[str, str] = {}
    uneven_chars = [c for c in "'`" if c in low]
    for ch in set(others):
        folded = TABLE[ord(ch)]
        if len(folded) != 1:
            uneven_chars.append(ch)
        elif folded != ch:
            swaps[ch] = folded
    produced = "".join(swaps.values()) + "".join(TABLE[ord(c)] for c in uneven_chars)
    if any(c in swaps or c in uneven_chars for c in produced if c not in "'`"):
        return text.translate(TABLE), _uneven_chars(text, 0, len(text))  # folds feed folds
    for ch, folded in swaps.items():
        low = low.replace(ch, folded)
    uneven: list[tuple[int, int]] = []
    for ch in uneven_chars:
        uneven.extend(_positions(low, ch, len(TABLE[ord(ch)])))
    for ch in uneven_chars:
        low = low.replace(ch, TABLE[ord(ch)])
    if len(uneven_chars) > 1:
        uneven.sort()
    return low, uneven


def _positions(text: str, ch: str, size: int) -> list[tuple[int, int]]:
    out = []
    i = text.find(ch)
    while i >= 0:
        out.append((i, size))
        i = text.find(ch, i + 1)
    return out


def _uneven_chars(text: str, start: int, end: int) -> list[tuple[int, int]]:
    out = []
    for m in TABLE.uneven_pattern().finditer(text, start, end):
        for i in range(m.start(), m.end()):
            out.append((i, len(TABLE[ord(text[i])])))
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
