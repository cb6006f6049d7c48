"""Watchlist queries: `compile_query` parses a query once; `Query.match` runs it on an article.

Words match whole words after the tagger's folding (`normalize.fold`); matched surfaces are kept.

Grammar, loosest binding first::

    query    := or ( "OR" or )*                     Iran OR Iraq
    or       := not ( ["AND"] not )*                Iran AND militia   ==   Iran militia
    not      := ("NOT" | "-") not  |  near          NOT sport   ==   -sport
    near     := atom ( "NEAR/" n atom )*            drone NEAR/5 strike
    atom     := word | "phrase" | "(" query ")" | field ":" atom

So NOT binds tighter than AND (written or implicit), and AND tighter than OR:
`a OR b c` is `a OR (b AND c)`; `NOT a b` is `(NOT a) AND b`; `-x` is `NOT x`.
Operators are the uppercase keywords only: `and`, `or`, `not` are ordinary words, and
`"OR"` (quoted) searches for the word OR.

Terms:

- `Iran` matches the word Iran in the title or text, in any case and without diacritics,
  apostrophes or Arabic letter-form differences (Kata'ib == Kataib, أمريكا == امريكا);
  never part of a word: `Iran` does not match Iranian. A possessive 's is not part of the
  word (`Iran` matches Iran's); a leading Arabic article ال / وال is optional in the
  text (`حشد` matches الحشد). Dots inside acronyms go (U.S. == US).
- Acronyms: a word written in capitals with two or more letters (`US`, `U.S.`, `IS`, `UN`)
  matches only words written in capitals, so `US` finds US and U.S. but not "told us".
  Write it in lower case (`us`) to match any case.
- `rocket*` matches words starting with rocket (rocket, rockets, rocketry). A wildcard
  may only end a word; in a phrase it may end the last word: `"drone strike*"`.
- `"United States"` matches the words in order, next to each other. Punctuation and
  hyphens between them do not matter ("al-Muhandis" == "al Muhandis"), and an unquoted
  hyphenated word is a phrase (`pro-Iran`). Curly quotes work too. An Arabic article
  `al`/`el` before a word may be either or absent, as in the tagger: `"al-Muhandis"`
  finds al-Muhandis, el-Muhandis and Muhandis.
- `a NEAR/n b` matches when a and b occur in the same field, in either order, with at most
  n other words between them (`NEAR/0`: side by side). Its sides are words, phrases,
  NEARs, or parenthesised ORs of those: `(drone OR rocket*) NEAR/5 (base OR embassy)`.
- Field scopes: `title:`, `text:` and `source:` search one field only (unscoped terms
  search title and text); `source:Reuters`, `title:"drone strike"`, `text:(a OR b)`.
  `entity:kataib-hezbollah` matches when the tagger found that entity id;
  `type:armed_group` when it found an entity of that type; both take trailing wildcards
  (`entity:kataib*`). An inner scope overrides an outer one.

A match lists, for highlighting, the distinct surface forms (as written in the article)
that satisfied terms outside any NOT, then the entity ids and types that did:

    compile_query('type:armed_group AND (Iran OR "United States" OR US)')
    compile_query("entity:kataib-hezbollah AND (rocket* OR drone*)")
    compile_query('title:(strike OR attack) -source:"Example Wire" militia NEAR/3 Iran*')
"""

from __future__ import annotations

import bisect
import itertools
import operator
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from monitor.errors import QueryError
from monitor.models import MatchDoc, QueryMatch
from monitor.pipeline.normalize import article_slots, fold_text

__all__ = ["PreparedDoc", "Query", "compile_query", "prepare"]

_GRAMMAR = r"""
start: or_expr
?or_expr: and_expr (OR and_expr)*
?and_expr: not_expr (AND? not_expr)*
?not_expr: (NOT | NEG) not_expr -> negation
         | near_expr
?near_expr: atom (NEAR atom)*
?atom: WORD | PHRASE
     | LPAR or_expr RPAR -> group
     | FIELD atom -> scoped

AND: "AND"
OR: "OR"
NOT: "NOT"
LPAR: "("
RPAR: ")"
NEG: /-(?=\S)/
NEAR.2: /NEAR(?:\/[^\s()"“”]*)?(?![^\s()"“”])/
FIELD.2: /[A-Za-z_]+:/
WORD: /[^\s()"“”:\-][^\s()"“”:]*/
PHRASE: /"[^"]*"/ | /“[^”]*”/
%ignore /\s+/
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", lexer="basic", propagate_positions=True)

_FIELDS = ("title", "text", "source", "entity", "type")
_TEXT_SCOPES: dict[str | None, tuple[str, ...]] = {
    None: ("title", "text"),
    "title": ("title",),
    "text": ("text",),
    "source": ("source",),
}
_OPERATORS = {"AND", "OR", "NOT", "NEG", "NEAR", "FIELD"}
_NEAR_RE = re.compile(r"NEAR/(\d{1,5})")

# A word after folding: an acronym with dots (u.s., u.s.a) or a run of word characters.
# Scanned left to right (split), a match never starts inside a word: \w+ takes whole words,
# so the acronym branch needs no look-behind (which made the scan twice as slow).
_TOKEN_RE = re.compile(r"[^\W\d_](?:\.[^\W\d_])+\.?(?!\w)|\w+")
_APOSTROPHES = frozenset("'’‘`´ʼ")
_ARABIC_ARTICLES = ("وال", "ال")


# --- the article side: words, their folded forms and positions --------------------------

# A possessive: apostrophe(s) and an s closing a word (Iran's); the stem is a second form.
_POSSESSIVE_RE = re.compile("[" + re.escape("".join(sorted(_APOSTROPHES))) + "]+[sS]")
_ARABIC_LETTER_RE = re.compile("[\u0600-\u06ff]")
_TOKEN_SPLIT = re.compile(f"({_TOKEN_RE.pattern})")


@dataclass(frozen=True, slots=True)
class _Word:
    """One word of a query term: folded text, trailing wildcard, capitals-only acronym."""

    text: str
    prefix: bool = False
    acronym: bool = False

    def accepts(self, form: str) -> bool:
        return form.startswith(self.text) if self.prefix else form == self.text


@dataclass(frozen=True, slots=True)
class _Span:
    """Words first..last (positions) of one field that satisfied a term, and their surfaces."""

    field: str
    first: int
    last: int
    surfaces: tuple[str, ...]


class _FieldIndex:
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

    def end_if(self, word: _Word, pos: int) -> int | None:
        """Where (folded) the word at `pos` ends if it matches `word`, else None."""
        if word.accepts(self.words[pos]) and not (word.acronym and not self.upper(pos)):
            return self._bounds[2 * pos + 1]
        alt = self._alts.get(pos)
        if alt is not None and word.accepts(alt[0]) and not (word.acronym and not alt[2]):
            return alt[1]
        return None

    def _candidates(self, word: _Word) -> Sequence[int]:
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

    def find(self, words: tuple[_Word, ...]) -> list[_Span]:
        """Every place where `words` occur one after the other."""
        spans: list[_Span] = []
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
                spans.append(_Span(self.field, first, first + last, (self.text[start:stop],)))
        return spans


class PreparedDoc:
    """A `MatchDoc` tokenised once (lazily, per field) so many queries can run over it."""

    __slots__ = ("_fields", "_found", "doc", "entity_ids", "entity_types")

    def __init__(self, doc: MatchDoc) -> None:
        self.doc = doc
        self.entity_ids = frozenset(e.casefold() for e in doc.entity_ids)
        self.entity_types = frozenset(t.casefold() for t in doc.entity_types)
        self._fields: dict[str, _FieldIndex] = {}
        # Watchlists share terms (Iran, drone*): each is looked up once per document.
        self._found: dict[tuple[tuple[_Word, ...], tuple[str, ...]], list[_Span]] = {}

    def field(self, name: str) -> _FieldIndex:
        index = self._fields.get(name)
        if index is None:
            index = self._fields[name] = _FieldIndex(name, getattr(self.doc, name))
        return index

    def find(self, words: tuple[_Word, ...], fields: tuple[str, ...]) -> list[_Span]:
        """Where `words` occur in `fields` (cached; callers must not modify the list)."""
        key = (words, fields)
        spans = self._found.get(key)
        if spans is None:
            spans = self._found[key] = [s for f in fields for s in self.field(f).find(words)]
        return spans


def prepare(doc: MatchDoc) -> PreparedDoc:
    """Tokenise `doc` once; pass the result to `Query.match_prepared` for each query."""
    return PreparedDoc(doc)


# --- the query side: a tree of nodes ------------------------------------------------------


class _Node:
    def eval(self, doc: PreparedDoc, out: list[str]) -> bool:
        """True when the node matches; then its surfaces are appended to `out` (else untouched)."""
        raise NotImplementedError

    def labels(self, positive: bool) -> Iterator[str]:
        """The word/phrase terms as written, those outside any NOT when `positive`."""
        return iter(())


class _SpanNode(_Node):
    """A node that matches at positions in a text field, so NEAR can measure it."""

    def spans(self, doc: PreparedDoc) -> list[_Span]:
        raise NotImplementedError

    def eval(self, doc: PreparedDoc, out: list[str]) -> bool:
        spans = self.spans(doc)
        for s in spans:
            out.extend(s.surfaces)
        return bool(spans)


@dataclass(frozen=True, eq=False)
class _TextTerm(_SpanNode):
    label: str
    words: tuple[_Word, ...]
    fields: tuple[str, ...]
    variants: tuple[tuple[_Word, ...], ...] = ()  # the Arabic-article spellings (see below)

    def spans(self, doc: PreparedDoc) -> list[_Span]:
        if not self.variants:
            return doc.find(self.words, self.fields)
        found = list(doc.find(self.words, self.fields))
        for words in self.variants:
            found += doc.find(words, self.fields)
        # "al-Muhandis" also holds the shorter "Muhandis": keep the outermost spans only.
        found.sort(key=lambda s: (s.field, s.first, -s.last))
        kept: list[_Span] = []
        for span in found:
            if not (kept and kept[-1].field == span.field and span.last <= kept[-1].last):
                kept.append(span)
        return kept

    def labels(self, positive: bool) -> Iterator[str]:
        if positive:
            yield self.label


@dataclass(frozen=True, eq=False)
class _AnyOf(_SpanNode):
    """OR over span nodes: still measurable by NEAR."""

    parts: tuple[_SpanNode, ...]

    def spans(self, doc: PreparedDoc) -> list[_Span]:
        return [s for p in self.parts for s in p.spans(doc)]

    def labels(self, positive: bool) -> Iterator[str]:
        for p in self.parts:
            yield from p.labels(positive)


@dataclass(frozen=True, eq=False)
class _Near(_SpanNode):
    left: _SpanNode
    right: _SpanNode
    distance: int

    def spans(self, doc: PreparedDoc) -> list[_Span]:
        lefts = self.left.spans(doc)
        if not lefts:
            return []
        rights = sorted(self.right.spans(doc), key=lambda s: s.first)
        starts = [s.first for s in rights]
        widest = max((s.last - s.first for s in rights), default=0)
        out: list[_Span] = []
        for a in lefts:
            lo = bisect.bisect_left(starts, a.first - self.distance - 1 - widest)
            hi = bisect.bisect_right(starts, a.last + self.distance + 1)
            for b in rights[lo:hi]:
                if a.field == b.field and self._close(a, b):
                    first, last = min(a.first, b.first), max(a.last, b.last)
                    out.append(_Span(a.field, first, last, a.surfaces + b.surfaces))
        return out

    def _close(self, a: _Span, b: _Span) -> bool:
        if a.last < b.first:
            return b.first - a.last - 1 <= self.distance
        if b.last < a.first:
            return a.first - b.last - 1 <= self.distance
        return False  # overlapping spans are one occurrence, not two near each other

    def labels(self, positive: bool) -> Iterator[str]:
        yield from self.left.labels(positive)
        yield from self.right.labels(positive)


@dataclass(frozen=True, eq=False)
class _SetTerm(_Node):
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
class _And(_Node):
    parts: tuple[_Node, ...]

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
class _Or(_Node):
    parts: tuple[_Node, ...]

    def eval(self, doc: PreparedDoc, out: list[str]) -> bool:
        # No short circuit: every satisfied alternative is worth highlighting.
        return any([p.eval(doc, out) for p in self.parts])

    def labels(self, positive: bool) -> Iterator[str]:
        for p in self.parts:
            yield from p.labels(positive)


@dataclass(frozen=True, eq=False)
class _Not(_Node):
    part: _Node

    def eval(self, doc: PreparedDoc, out: list[str]) -> bool:
        return not self.part.eval(doc, [])

    def labels(self, positive: bool) -> Iterator[str]:
        return self.part.labels(not positive)


class Query:
    """A compiled watchlist query; immutable and safe to share across threads."""

    __slots__ = ("_root", "excluded", "terms", "text")

    def __init__(self, text: str, root: _Node) -> None:
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
        if not self._root.eval(doc, out):
            return None
        return QueryMatch(terms=tuple(dict.fromkeys(out)))

    def __repr__(self) -> str:
        return f"Query({self.text!r})"


# --- compiling: lark tree to nodes, with errors that point at a column ---------------------


def compile_query(text: str) -> Query:
    """Parse `text` into a `Query`; raise QueryError naming the column of the first problem."""
    if not text.strip():
        raise QueryError("the query is empty", query=text)
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    try:
        return Query(text, _Builder(text).build(tree, None))
    except RecursionError:
        raise QueryError("the query nests too deeply", query=text) from None


def _syntax_error(text: str, exc: UnexpectedInput) -> QueryError:
    if isinstance(exc, UnexpectedCharacters):
        return _lex_error(text, exc)
    toks = list(_PARSER.lex(text))
    opened: list[Token] = []
    for tok in toks:
        if tok.type == "LPAR":
            opened.append(tok)
        elif tok.type == "RPAR" and not opened:
            return QueryError("')' has no matching '('", query=text, column=tok.column)
        elif tok.type == "RPAR":
            opened.pop()
    if opened:
        return QueryError("'(' is never closed", query=text, column=opened[-1].column)
    bad = exc.token if isinstance(exc, UnexpectedToken) else None
    if bad is None or bad.type == "$END":
        last = toks[-1]
        return QueryError(f"{_describe(last)} has nothing after it", query=text, column=last.column)
    before = [t for t in toks if t.start_pos is not None and t.start_pos < (bad.start_pos or 0)]
    prev = before[-1] if before else None
    if bad.type == "RPAR" and prev is not None and prev.type == "LPAR":
        return QueryError("nothing inside the parentheses", query=text, column=bad.column)
    if bad.type == "RPAR" and prev is not None and prev.type in _OPERATORS:
        return QueryError(f"{_describe(prev)} has nothing after it", query=text, column=prev.column)
    if bad.type in ("NOT", "NEG") and prev is not None and prev.type == "NEAR":
        message = f"{prev} joins words or phrases; put NOT outside it: NOT (a {prev} b)"
        return QueryError(message, query=text, column=prev.column)
    if bad.type in ("AND", "OR", "NEAR"):
        message = f"{_describe(bad)} needs a term on each side"
    else:
        message = f"unexpected {_describe(bad)}"
    return QueryError(message, query=text, column=bad.column)


def _lex_error(text: str, exc: UnexpectedCharacters) -> QueryError:
    ch = text[exc.pos_in_stream] if exc.pos_in_stream is not None else ""
    if ch in '"“':
        message = "this quote is never closed"
    elif ch == "-":
        message = "'-' must touch the term it excludes, as in -sport"
    else:
        message = f"unexpected character {ch!r}"
    return QueryError(message, query=text, column=exc.column)


def _describe(tok: Token) -> str:
    if tok.type in _OPERATORS - {"FIELD"}:
        return f"'{tok}'"
    if tok.type == "FIELD":
        return f"field '{tok}'"
    return f"term {str(tok)!r}"


class _Builder:
    """Turns the parse tree into nodes; `scope` is the field in force (None: title + text)."""

    def __init__(self, query: str) -> None:
        self.query = query

    def error(self, message: str, column: int | None) -> QueryError:
        return QueryError(message, query=self.query, column=column)

    def build(self, node: Tree[Token] | Token, scope: str | None) -> _Node:
        if isinstance(node, Token):
            return self.term(node, scope)
        kids = node.children
        if node.data == "start":
            return self.build(kids[0], scope)
        if node.data == "group":
            return self.build(kids[1], scope)
        if node.data == "scoped":
            return self.scoped(kids[0], kids[1], scope)
        if node.data == "negation":
            inner = self.build(kids[1], scope)
            return inner.part if isinstance(inner, _Not) else _Not(inner)
        if node.data == "near_expr":
            return self.near(kids, scope)
        parts = tuple(self.build(k, scope) for k in kids if not _is_op(k))
        if node.data == "and_expr":
            return _And(parts)
        span_parts = tuple(p for p in parts if isinstance(p, _SpanNode))
        return _AnyOf(span_parts) if len(span_parts) == len(parts) else _Or(parts)

    def scoped(self, field: Tree[Token] | Token, body: Tree[Token] | Token, _: str | None) -> _Node:
        assert isinstance(field, Token)
        name = field[:-1].lower()
        if name not in _FIELDS:
            known = ", ".join(f"{f}:" for f in _FIELDS)
            raise self.error(f"unknown field '{field[:-1]}:' (known: {known})", field.column)
        return self.build(body, name)

    def near(self, kids: list[Tree[Token] | Token], scope: str | None) -> _Node:
        left = self.build(kids[0], scope)
        for op, operand in zip(kids[1::2], kids[2::2], strict=True):
            assert isinstance(op, Token)
            m = _NEAR_RE.fullmatch(op)
            if m is None:
                raise self.error("NEAR needs a distance in words, as in NEAR/5", op.column)
            right = self.build(operand, scope)
            if not (isinstance(left, _SpanNode) and isinstance(right, _SpanNode)):
                raise self.error(
                    f"{op} joins words or phrases (or ORs of them), not entity:, type:, NOT or AND",
                    op.column,
                )
            left = _Near(left, right, int(m.group(1)))
        return left

    def term(self, tok: Token, scope: str | None) -> _Node:
        quoted = tok.type == "PHRASE"
        raw = tok[1:-1] if quoted else str(tok)
        column = (tok.column or 1) + quoted
        body = raw.strip()
        prefix = body.endswith("*")
        if prefix:
            body = body[:-1]
        star = body.find("*")
        if star >= 0:
            raise self.error("a wildcard * may only end a word", column + raw.find("*"))
        if quoted and not body:
            raise self.error("empty phrase", tok.column)
        if prefix and not (body and body[-1].isalnum()):
            raise self.error("a wildcard * must follow letters or digits", column + raw.rfind("*"))
        if scope in ("entity", "type"):
            return self.set_term(scope, body, prefix, tok.column)
        words = _query_words(body)
        if not words:
            raise self.error(f"{str(tok)!r} has no letters or digits to search for", tok.column)
        words[-1] = replace(words[-1], prefix=prefix)
        label = raw.strip() if quoted else str(tok)
        return _TextTerm(label, tuple(words), _TEXT_SCOPES[scope], _article_variants(words))

    def set_term(self, kind: str, value: str, prefix: bool, column: int | None) -> _Node:
        sep, other = ("-", "_") if kind == "entity" else ("_", "-")
        value = sep.join(value.casefold().replace(other, sep).split())
        if not value:
            raise self.error(f"{kind}: needs a value", column)
        return _SetTerm(kind, value, prefix)


MAX_ARTICLE_VARIANTS = 16


def _article_variants(words: list[_Word]) -> tuple[tuple[_Word, ...], ...]:
    """The other spellings of a term under the tagger's Arabic-article rule
    (`normalize.article_slots`): "al-Muhandis" also finds el-Muhandis and Muhandis, "as-Sadr"
    al-Sadr; "Asaib Ahl al-Haq" finds Asaib Ahl el-Haq."""
    slots = article_slots([w.text for w in words])
    if all(len(s) == 1 for s in slots):
        return ()
    out: dict[tuple[_Word, ...], None] = {}
    for combo in itertools.islice(itertools.product(*slots), MAX_ARTICLE_VARIANTS):
        kept = tuple(
            w if form == w.text else replace(w, text=form)
            for w, form in zip(words, combo, strict=True)
            if form is not None
        )
        if kept and kept != tuple(words):
            out[kept] = None
    return tuple(out)


def _query_words(body: str) -> list[_Word]:
    index = _FieldIndex("query", body)
    return [
        _Word(w, acronym=sum(c.isalpha() for c in w) >= 2 and index.upper(pos))
        for pos, w in enumerate(index.words)
    ]


def _is_op(node: Tree[Token] | Token) -> bool:
    return isinstance(node, Token) and node.type in ("AND", "OR")
