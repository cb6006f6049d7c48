"""The public folds: `fold` (comparable form), `fold_text` / `fold_words` (with an offset map),
`fold_with_offsets` (a list of origins); each tries the fast path, then the general one.
"""

from __future__ import annotations

import itertools

from monitor.pipeline.normalize.chars import words_only
from monitor.pipeline.normalize.fast import fold_fast
from monitor.pipeline.normalize.general import fold_general
from monitor.pipeline.normalize.offsets import FoldedText


def fold_text(text: str) -> FoldedText:
    """Fold `text` like `fold_with_offsets`, but keep the offsets as a compact map."""
    return fold_fast(text, words=False, encoded=None) or fold_general(text)


def fold_words(text: str, encoded: bytes | None = None) -> FoldedText:
    """`fold_text` with every char of the folded text that is not a letter or a digit made a
    space afterwards (same length, same offsets): what the tagger's automaton reads.
    `encoded`, if given, is `text` in UTF-8 with surrogatepass (saves encoding it again)."""
    folded = fold_fast(text, words=True, encoded=encoded)
    if folded is None:
        folded = fold_general(text)
        folded = FoldedText(
            words_only(folded.text), folded.length, folded.anchors_f, folded.anchors_o, folded.flat
        )
    return folded


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
