"""The article side of matching: a document's words, folded, with their positions and second
forms (possessive stems, Arabic words without the article), found fast for many queries.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.models import MatchDoc
from monitor.pipeline.normalize import fold_text

# A word after folding: an acronym with dots (u.s., u.s.a) or a run of word characters.
# Scanned left to right (split), a match never starts inside a word: \w+ takes whole words,
# so the acronym branch needs no look-behind (which made the scan twice as slow).
_TOKEN_RE = re.compile(r"[^\W\d_](?:\.[^\W\d_])+\.?(?!\w)|\w+")
_APOSTROPHES = frozenset("'’‘`´ʼ")
_ARABIC_ARTICLES = ("وال", "ال")

# A possessive: apostrophe(s) and an s closing a word (Iran's); the stem is a second form.
_POSSESSIVE_RE = re.compile("[" + re.escape("".join(sorted(_APOSTROPHES))) + "]+[sS]")
_ARABIC_LETTER_RE = re.compile("[\u0600-\u06ff]")
_TOKEN_SPLIT = re.compile(f"({_TOKEN_RE.pattern})")


@dataclass(frozen=True, slots=True)
class Word:
    """One word of a query term: folded text, trailing wildcard, capitals-only acronym."""

    text: str
    prefix: bool = False
    acronym: bool = False

    def accepts(self, form: str) -> bool:
        return form.startswith(self.text) if self.prefix else form == self.text


@dataclass(frozen=True, slots=True)
class Span:
    """Words first..last (positions) of one field that satisfied a term, and their surfaces."""

    field: str
    first: int
    last: int
    surfaces: tuple[str, ...]


class FieldIndex:
    """One field's words (folded), and where each word a query asks for stands.

    Built for every article and every field, so it does the least per word: the words come
    from one regex split of the folded text, and nothing is done per word in Python. A query
    word is found by scanning the words joined with NULs (C speed) and mapping each hit to
    its position; offsets (for surfaces, capitals and possessives) only when something asks.
    A word may have a second form: the stem of a possessive (Iran's: irans, iran) or an
    Arabic word without its article (الحشد: حشد).
    """

    __slots__ = (
        "_alt_positions",
        "_alts",
        "_bounds",
        "_folded",
        "_joined",
        "_starts",
        "field",
        "text",
        "words",
    )

    def __init__(self, field: str, text: str) -> None:
        self.field = field
        self.text = text
        self._folded = folded = fold_text(text)
        # Separators and words alternate; word k spans bounds[2k]..bounds[2k+1] (folded).
        parts = _TOKEN_SPLIT.split(folded.text)
        self._bounds = list(itertools.accumulate(map(len, parts)))
        words: list[str] = parts[1::2]
        if "." in "".join(words):  # dotted acronyms: u.s. is the word us
            words = [w.replace(".", "") if "." in w else w for w in words]
        self.words = words
        self._joined = ""  # "\0w0\0w1\0...\0", made on the first lookup
        self._starts: list[int] = []  # where word k's leading NUL stands in _joined
        # position -> (other form, folded end, written in capitals); other form -> positions
        self._alts: dict[int, tuple[str, int, bool]] = {}
        self._alt_positions: dict[str, list[int]] = {}
        self._add_possessives()
        if _ARABIC_LETTER_RE.search(folded.text):
            self._add_arabic_stems()

    def _add_alt(self, pos: int, form: str, end: int, upper: bool) -> None:
        self._alts[pos] = (form, end, upper)
        self._alt_positions.setdefault(form, []).append(pos)

    def _add_possessives(self) -> None:
        for m in _POSSESSIVE_RE.finditer(self.text):
            s = self._folded.folded_index(m.end() - 1)
            pos = self._position_at(s)
            if pos is None:
                continue
            start, end = self.span(pos)
            word = self.words[pos]
            if end != s + 1 or len(word) <= 2 or word[-1] != "s":
                continue
            stem = word[:-1]
            o_start = self._folded.origin(start)
            o_stem_end = self._folded.origin(end - 2) + 1
            self._add_alt(pos, stem, end - 1, self.text[o_start:o_stem_end].isupper())

    def _add_arabic_stems(self) -> None:
        for pos, w in enumerate(self.words):
            if "\u0600" <= w[0] <= "\u06ff" and pos not in self._alts:
                for article in _ARABIC_ARTICLES:
                    if w.startswith(article) and len(w) - len(article) >= 2:
                        self._add_alt(pos, w[len(article) :], self.span(pos)[1], False)
                        break

    def span(self, pos: int) -> tuple[int, int]:
        """The word at `pos` as [start, end) in the folded text."""
        return self._bounds[2 * pos], self._bounds[2 * pos + 1]

    def _position_at(self, folded: int) -> int | None:
        """The word holding folded char `folded`, if any."""
        part = bisect.bisect_right(self._bounds, folded)
        return part // 2 if part % 2 else None

    def upper(self, pos: int) -> bool:
        """Is the word at `pos` written in capitals?"""
        start, end = self._folded.span(*self.span(pos))
        return self.text[start:end].isupper()

    def end_if(self, word: Word, pos: int) -> int | None:
        """Where (folded) the word at `pos` ends if it matches `word`, else None."""
        if word.accepts(self.words[pos]) and not (word.acronym and not self.upper(pos)):
            return self._bounds[2 * pos + 1]
        alt = self._alts.get(pos)
        if alt is not None and word.accepts(alt[0]) and not (word.acronym and not alt[2]):
            return alt[1]
        return None

    def _candidates(self, word: Word) -> Sequence[int]:
        """The positions of the words `word` accepts (either form), in order."""
        if not self._joined:
            self._joined = "\0" + "\0".join(self.words) + "\0"
            lengths = map(operator.add, map(len, self.words), itertools.repeat(1))
            self._starts = list(itertools.accumulate(lengths, initial=0))
        joined, starts = self._joined, self._starts
        needle = "\0" + word.text if word.prefix else "\0" + word.text + "\0"
        found: list[int] = []
        i = joined.find(needle)
        while i >= 0:
            found.append(bisect.bisect_left(starts, i))
            i = joined.find(needle, i + 1)
        others = [p for f, ps in self._alt_positions.items() if word.accepts(f) for p in ps]
        return sorted(set(found).union(others)) if others else found

    def find(self, words: tuple[Word, ...]) -> list[Span]:
        """Every place where `words` occur one after the other."""
        spans: list[Span] = []
        last = len(words) - 1
        for first in self._candidates(words[0]):
            if first + last >= len(self.words):
                break
            end: int | None = None
            for i, word in enumerate(words):
                end = self.end_if(word, first + i)
                if end is None:
                    break
            if end is not None:
                start, stop = self._folded.span(self._bounds[2 * first], end)
                spans.append(Span(self.field, first, first + last, (self.text[start:stop],)))
        return spans


class PreparedDoc:
    """A `MatchDoc` tokenised once (lazily, per field) so many queries can run over it, one
    at a time (it holds the running match's NEAR budget)."""

    __slots__ = ("_fields", "_found", "doc", "entity_ids", "entity_types", "near_pairs_left")

    def __init__(self, doc: MatchDoc) -> None:
        self.doc = doc
        self.near_pairs_left = 0  # set by each Query.match_prepared (nodes.MAX_NEAR_PAIRS)
        self.entity_ids = frozenset(e.casefold() for e in doc.entity_ids)
        self.entity_types = frozenset(t.casefold() for t in doc.entity_types)
        self._fields: dict[str, FieldIndex] = {}
        # Watchlists share terms (Iran, drone*): each is looked up once per document.
        self._found: dict[tuple[tuple[Word, ...], tuple[str, ...]], list[Span]] = {}

    def field(self, name: str) -> FieldIndex:
        index = self._fields.get(name)
        if index is None:
            index = self._fields[name] = FieldIndex(name, getattr(self.doc, name))
        return index

    def find(self, words: tuple[Word, ...], fields: tuple[str, ...]) -> list[Span]:
        """Where `words` occur in `fields` (cached; callers must not modify the list)."""
        key = (words, fields)
        spans = self._found.get(key)
        if spans is None:
            spans = self._found[key] = [s for f in fields for s in self.field(f).find(words)]
        return spans


def prepare(doc: MatchDoc) -> PreparedDoc:
    """Tokenise `doc` once; pass the result to `Query.match_prepared` for each query."""
    return PreparedDoc(doc)
