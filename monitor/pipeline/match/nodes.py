"""The query side of matching: the tree of nodes a query compiles to, and `Query`, which
runs the tree over a prepared document and collects the surfaces to highlight.

A NEAR's places are its distinct windows (field, first, last); one match examines at most
MAX_NEAR_PAIRS pairs of places over all its NEARs, so a chain of NEARs over an article full
of its terms cannot take minutes or all memory (past the budget, the pairs not yet examined
are not considered; no query of a real watchlist comes near it).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from monitor.models import MatchDoc, QueryMatch
from monitor.pipeline.match.document import PreparedDoc, Span, Word

MAX_NEAR_PAIRS = 1_000_000


class Node:
    def eval(self, doc: PreparedDoc, out: list[str]) -> bool:
        """True when the node matches; then its surfaces are appended to `out` (else untouched)."""
        raise NotImplementedError

    def labels(self, positive: bool) -> Iterator[str]:
        """The word/phrase terms as written, those outside any NOT when `positive`."""
        return iter(())


class SpanNode(Node):
    """A node that matches at positions in a text field, so NEAR can measure it."""

    def spans(self, doc: PreparedDoc) -> list[Span]:
        raise NotImplementedError

    def eval(self, doc: PreparedDoc, out: list[str]) -> bool:
        spans = self.spans(doc)
        for s in spans:
            out.extend(s.surfaces)
        return bool(spans)


@dataclass(frozen=True, eq=False)
class TextTerm(SpanNode):
    label: str
    words: tuple[Word, ...]
    fields: tuple[str, ...]
    variants: tuple[tuple[Word, ...], ...] = ()  # Arabic-article spellings (compiler.py)

    def spans(self, doc: PreparedDoc) -> list[Span]:
        if not self.variants:
            return doc.find(self.words, self.fields)
        found = list(doc.find(self.words, self.fields))
        for words in self.variants:
            found += doc.find(words, self.fields)
        # "al-Muhandis" also holds the shorter "Muhandis": keep the outermost spans only.
        found.sort(key=lambda s: (s.field, s.first, -s.last))
        kept: list[Span] = []
        for span in found:
            if not (kept and kept[-1].field == span.field and span.last <= kept[-1].last):
                kept.append(span)
        return kept

    def labels(self, positive: bool) -> Iterator[str]:
        if positive:
            yield self.label


@dataclass(frozen=True, eq=False)
class AnyOf(SpanNode):
    """OR over span nodes: still measurable by NEAR."""

    parts: tuple[SpanNode, ...]

    def spans(self, doc: PreparedDoc) -> list[Span]:
        return [s for p in self.parts for s in p.spans(doc)]

    def labels(self, positive: bool) -> Iterator[str]:
        for p in self.parts:
            yield from p.labels(positive)


@dataclass(frozen=True, eq=False)
class Near(SpanNode):
    left: SpanNode
    right: SpanNode
    distance: int

    def spans(self, doc: PreparedDoc) -> list[Span]:
        lefts = self.left.spans(doc)
        if not lefts:
            return []
        rights = self.right.spans(doc)
        by_last = sorted(rights, key=lambda s: s.last)
        by_first = sorted(rights, key=lambda s: s.first)
        lasts, firsts = [s.last for s in by_last], [s.first for s in by_first]
        reach = self.distance + 1
        # One span per window: pairs giving the same window merge their surfaces, so a chain
        # of NEARs grows by the windows of the text, not by the product of its terms' places.
        found: dict[tuple[str, int, int], tuple[str, ...]] = {}
        for a in lefts:
            # Close means at most `distance` words between, not overlapping: b ends before a
            # starts, or starts after a ends.
            lo, hi = bisect.bisect_left(lasts, a.first - reach), bisect.bisect_left(lasts, a.first)
            lo2 = bisect.bisect_right(firsts, a.last)
            hi2 = bisect.bisect_right(firsts, a.last + reach)
            doc.near_pairs_left -= hi - lo + hi2 - lo2
            if doc.near_pairs_left < 0:
                break
            for b in itertools.chain(by_last[lo:hi], by_first[lo2:hi2]):
                if a.field == b.field:
                    key = (a.field, min(a.first, b.first), max(a.last, b.last))
                    had = found.get(key)
                    surfaces = a.surfaces + b.surfaces
                    found[key] = surfaces if had is None else _union(had, surfaces)
        return [Span(field, first, last, s) for (field, first, last), s in found.items()]

    def labels(self, positive: bool) -> Iterator[str]:
        yield from self.left.labels(positive)
        yield from self.right.labels(positive)


def _union(had: tuple[str, ...], more: tuple[str, ...]) -> tuple[str, ...]:
    return had if set(more) <= set(had) else tuple(dict.fromkeys(had + more))


@dataclass(frozen=True, eq=False)
class SetTerm(Node):
    """`entity:ID` or `type:TYPE`: a lookup in the tagger's results."""

    kind: str
    value: str
    prefix: bool

    def eval(self, doc: PreparedDoc, out: list[str]) -> bool:
        pool = doc.entity_ids if self.kind == "entity" else doc.entity_types
        if not self.prefix:
            hit = self.value in pool
            if hit:
                out.append(self.value)
            return hit
        found = sorted(v for v in pool if v.startswith(self.value))
        out.extend(found)
        return bool(found)


@dataclass(frozen=True, eq=False)
class And(Node):
    parts: tuple[Node, ...]

    def eval(self, doc: PreparedDoc, out: list[str]) -> bool:
        mark = len(out)
        for p in self.parts:
            if not p.eval(doc, out):
                del out[mark:]
                return False
        return True

    def labels(self, positive: bool) -> Iterator[str]:
        for p in self.parts:
            yield from p.labels(positive)


@dataclass(frozen=True, eq=False)
class Or(Node):
    parts: tuple[Node, ...]

    def eval(self, doc: PreparedDoc, out: list[str]) -> bool:
        # No short circuit: every satisfied alternative is worth highlighting.
        return any([p.eval(doc, out) for p in self.parts])

    def labels(self, positive: bool) -> Iterator[str]:
        for p in self.parts:
            yield from p.labels(positive)


@dataclass(frozen=True, eq=False)
class Not(Node):
    part: Node

    def eval(self, doc: PreparedDoc, out: list[str]) -> bool:
        return not self.part.eval(doc, [])

    def labels(self, positive: bool) -> Iterator[str]:
        return self.part.labels(not positive)


class Query:
    """A compiled watchlist query; immutable and safe to share across threads."""

    __slots__ = ("_root", "excluded", "terms", "text")

    def __init__(self, text: str, root: Node) -> None:
        self.text = text
        self._root = root
        #: word and phrase terms outside any NOT, as written (for highlighting)
        self.terms: tuple[str, ...] = tuple(dict.fromkeys(root.labels(True)))
        #: word and phrase terms under a NOT
        self.excluded: tuple[str, ...] = tuple(dict.fromkeys(root.labels(False)))

    def match(self, doc: MatchDoc) -> QueryMatch | None:
        """None when `doc` does not match; else the surfaces and ids that satisfied it."""
        return self.match_prepared(PreparedDoc(doc))

    def match_prepared(self, doc: PreparedDoc) -> QueryMatch | None:
        """`match` on a document tokenised once by `prepare`."""
        out: list[str] = []
        doc.near_pairs_left = MAX_NEAR_PAIRS
        if not self._root.eval(doc, out):
            return None
        return QueryMatch(terms=tuple(dict.fromkeys(out)))

    def __repr__(self) -> str:
        return f"Query({self.text!r})"
