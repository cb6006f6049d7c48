"""Compiling a query: the grammar (lark), the parse tree turned into nodes, and syntax errors
that name the column of the first problem. Any string compiles or raises QueryError.

A query nests at most MAX_DEPTH (100) levels: each parenthesised group, NOT, field scope,
AND or OR group and each NEAR of a chain adds one, so matching (recursive over the nodes)
stays far below Python's recursion limit; deeper queries are a QueryError.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from monitor.errors import QueryError
from monitor.pipeline.match.document import FieldIndex, Word
from monitor.pipeline.match.nodes import (
    And,
    AnyOf,
    Near,
    Node,
    Not,
    Or,
    Query,
    SetTerm,
    SpanNode,
    TextTerm,
)
from monitor.pipeline.normalize import article_slots

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

MAX_DEPTH = 100


def compile_query(text: str) -> Query:
    """Parse `text` into a `Query`; raise QueryError naming the column of the first problem."""
    if not text.strip():
        raise QueryError("the query is empty", query=text)
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    except LarkError as exc:  # not seen on any input; a message all the same
        raise QueryError(f"cannot read the query ({exc})", query=text) from None
    return Query(text, _Builder(text).build(tree.children[0], None, 1))


def _tokens(text: str) -> list[Token]:
    """The tokens of `text` up to the first character no token can start with."""
    toks: list[Token] = []
    try:
        for tok in _PARSER.lex(text):
            toks.append(tok)
    except UnexpectedCharacters:
        pass  # the parser stopped at an earlier token: that is the problem to report
    return toks


def _syntax_error(text: str, exc: UnexpectedInput) -> QueryError:
    if isinstance(exc, UnexpectedCharacters):
        return _lex_error(text, exc)
    toks = _tokens(text)
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
        if not toks:
            return QueryError("the query is incomplete", query=text)
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

    def too_deep(self, node: Tree[Token] | Token) -> QueryError:
        column = node.column if isinstance(node, Token) else getattr(node.meta, "column", None)
        return self.error(
            f"the query nests too deeply: at most {MAX_DEPTH} levels of parentheses, NOT, "
            "field scopes, AND/OR and NEAR",
            column,
        )

    def build(self, node: Tree[Token] | Token, scope: str | None, level: int) -> Node:
        """The node for `node`, `level` deep (1: the root); each level yields at most one
        level of nodes, so the nodes are never deeper than MAX_DEPTH."""
        if level > MAX_DEPTH:
            raise self.too_deep(node)
        if isinstance(node, Token):
            return self.term(node, scope)
        kids = node.children
        if node.data == "group":
            return self.build(kids[1], scope, level + 1)
        if node.data == "scoped":
            return self.scoped(kids[0], kids[1], level + 1)
        if node.data == "negation":
            inner = self.build(kids[1], scope, level + 1)
            return inner.part if isinstance(inner, Not) else Not(inner)
        if node.data == "near_expr":
            return self.near(kids, scope, level)
        parts = tuple(self.build(k, scope, level + 1) for k in kids if not _is_op(k))
        if node.data == "and_expr":
            return And(parts)
        span_parts = tuple(p for p in parts if isinstance(p, SpanNode))
        return AnyOf(span_parts) if len(span_parts) == len(parts) else Or(parts)

    def scoped(self, field: Tree[Token] | Token, body: Tree[Token] | Token, level: int) -> Node:
        assert isinstance(field, Token)
        name = field[:-1].lower()
        if name not in _FIELDS:
            known = ", ".join(f"{f}:" for f in _FIELDS)
            raise self.error(f"unknown field '{field[:-1]}:' (known: {known})", field.column)
        return self.build(body, name, level)

    def near(self, kids: list[Tree[Token] | Token], scope: str | None, level: int) -> Node:
        # a NEAR b NEAR c is Near(Near(a, b), c): a chain of n NEARs is n levels deep.
        chain = len(kids) // 2
        if level + chain > MAX_DEPTH:
            raise self.too_deep(kids[2 * (MAX_DEPTH - level) + 1])
        left = self.build(kids[0], scope, level + chain)
        for op, operand in zip(kids[1::2], kids[2::2], strict=True):
            assert isinstance(op, Token)
            m = _NEAR_RE.fullmatch(op)
            if m is None:
                raise self.error("NEAR needs a distance in words, as in NEAR/5", op.column)
            right = self.build(operand, scope, level + chain)
            if not (isinstance(left, SpanNode) and isinstance(right, SpanNode)):
                raise self.error(
                    f"{op} joins words or phrases (or ORs of them), not entity:, type:, NOT or AND",
                    op.column,
                )
            left = Near(left, right, int(m.group(1)))
        return left

    def term(self, tok: Token, scope: str | None) -> Node:
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
        return TextTerm(label, tuple(words), _TEXT_SCOPES[scope], _article_variants(words))

    def set_term(self, kind: str, value: str, prefix: bool, column: int | None) -> Node:
        sep, other = ("-", "_") if kind == "entity" else ("_", "-")
        value = sep.join(value.casefold().replace(other, sep).split())
        if not value:
            raise self.error(f"{kind}: needs a value", column)
        return SetTerm(kind, value, prefix)


MAX_ARTICLE_VARIANTS = 16


def _article_variants(words: list[Word]) -> tuple[tuple[Word, ...], ...]:
    """The other spellings of a term under the tagger's Arabic-article rule
    (`normalize.article_slots`): "al-Muhandis" also finds el-Muhandis and Muhandis, "as-Sadr"
    al-Sadr; "Asaib Ahl al-Haq" finds Asaib Ahl el-Haq."""
    slots = article_slots([w.text for w in words])
    if all(len(s) == 1 for s in slots):
        return ()
    out: dict[tuple[Word, ...], None] = {}
    for combo in itertools.islice(itertools.product(*slots), MAX_ARTICLE_VARIANTS):
        kept = tuple(
            w if form == w.text else replace(w, text=form)
            for w, form in zip(words, combo, strict=True)
            if form is not None
        )
        if kept and kept != tuple(words):
            out[kept] = None
    return tuple(out)


def _query_words(body: str) -> list[Word]:
    index = FieldIndex("query", body)
    return [
        Word(w, acronym=sum(c.isalpha() for c in w) >= 2 and index.upper(pos))
        for pos, w in enumerate(index.words)
    ]


def _is_op(node: Tree[Token] | Token) -> bool:
    return isinstance(node, Token) and node.type in ("AND", "OR")
