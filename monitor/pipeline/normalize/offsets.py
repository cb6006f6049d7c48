"""`FoldedText`: a folded text and its compact map from folded positions back to the original
(runs of anchors), with the lookups the tagger and the query language use on hot paths.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass


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
