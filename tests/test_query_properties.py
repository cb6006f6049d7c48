"""The query compiler on any input: every string compiles or raises QueryError, every compiled
query matches any document without raising, and the operators keep their meaning.

Hypothesis properties over arbitrary text, over queries generated from the grammar, and over
mutations of those; explicit regressions for the inputs that once escaped as tracebacks.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.errors import QueryError
from monitor.models import MatchDoc
from monitor.pipeline.match import MAX_DEPTH, Query, compile_query, prepare

# Sizes keep the file near 10 s of CPU; raise max_examples locally for a longer hunt.
SETTINGS = settings(max_examples=400, deadline=None, database=None)

# --- queries written from the grammar --------------------------------------------------------

WORDS = ["Iran", "iran", "US", "us", "U.S.", "militia", "drone", "strike", "rockets", "base"]
WORDS += ["Kata'ib", "al-Muhandis", "حشد", "الحشد", "Iran's", "embassy", "2024", "état"]
STEMS = ["rocket", "dro", "Ira", "mil", "U.S", "stri", "حش", "emb"]
ENTITY_IDS = ["kataib-hezbollah", "iran", "united-states", "badr-organization"]
ENTITY_TYPES = ["armed_group", "country", "person", "state_org"]

words = st.sampled_from(WORDS)
wildcards = st.sampled_from(STEMS).map(lambda s: s + "*")
phrases = st.builds(
    lambda ws, star, curly: ("“{}”" if curly else '"{}"').format(
        " ".join(ws) + ("*" if star and ws[-1][-1].isalnum() else "")
    ),
    st.lists(words, min_size=1, max_size=3),
    st.booleans(),
    st.booleans(),
)
set_terms = st.one_of(
    st.sampled_from(ENTITY_IDS).map(lambda v: "entity:" + v),
    st.sampled_from(ENTITY_TYPES).map(lambda v: "type:" + v),
    st.sampled_from(["entity:kataib*", "type:armed*", "ENTITY:Iran", "type:State_Org"]),
)


def _span_forms(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Compound terms NEAR can measure: ORs of them, NEARs of them, field scopes on them."""
    return st.one_of(
        st.builds("({} OR {})".format, inner, inner),
        st.builds("({} NEAR/{} {})".format, inner, st.integers(0, 12), inner),
        st.builds("{}({})".format, st.sampled_from(["title:", "text:", "source:"]), inner),
    )


#: terms that match at positions in a field: words, phrases, wildcards, NEAR, ORs of them
spans = st.recursive(st.one_of(words, wildcards, phrases), _span_forms, max_leaves=6)


def _bool_forms(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    operators = st.sampled_from([" AND ", " OR ", " "])
    joined = st.lists(st.tuples(inner, operators), min_size=2, max_size=4).map(
        lambda pairs: "(" + "".join(p + o for p, o in pairs[:-1]) + pairs[-1][0] + ")"
    )
    return st.one_of(
        joined,
        inner.map("NOT ({})".format),
        inner.map("-({})".format),
        inner.map("NOT {}".format),
        inner.map("-{}".format),
    )


#: any well-formed query: spans, entity:/type: terms, AND/OR/NOT and parentheses around them
queries = st.recursive(st.one_of(spans, set_terms), _bool_forms, max_leaves=10)

# --- documents ---------------------------------------------------------------------------------

DOC_WORDS = [*WORDS, "Iranian", "rocket", "drones", "U.S.A.", "u.s.", "el-Muhandis", "والحشد"]
DOC_WORDS += ["KATA'IB", "Kataib", "Etat", "ETAT", "not", "or", "AND", "base's", "strikes", "Ü"]
doc_text = st.lists(
    st.one_of(st.sampled_from(DOC_WORDS), st.sampled_from([",", ".", "-", "'", '"', "\n"])),
    max_size=30,
).map(" ".join) | st.text(max_size=40)
docs = st.builds(
    MatchDoc,
    title=doc_text,
    text=doc_text,
    source=st.sampled_from(["Reuters World", "Long War Journal", "الجزيرة", ""]),
    entity_ids=st.frozensets(st.sampled_from([*ENTITY_IDS, "kataib-sayyid-al-shuhada"])),
    entity_types=st.frozensets(st.sampled_from(ENTITY_TYPES)),
)

# --- any text ----------------------------------------------------------------------------------

SYNTAX = ["(", ")", '"', "“", "”", ":", "-", "*", "/", " ", "AND", "OR", "NOT", "NEAR/3", "NEAR"]
SYNTAX += ["title:", "entity:", "type:", "foo:", "a", "b", "\t", "\u00a0", "ß", "\u0301", "ال"]
syntax_soup = st.lists(st.sampled_from(SYNTAX), max_size=16).map("".join)


def compiles_or_refuses(text: str) -> Query | None:
    """The contract: a Query, or a QueryError naming this query and a column inside it."""
    try:
        return compile_query(text)
    except QueryError as err:
        assert err.query == text
        assert err.column is None or 1 <= err.column <= len(text) + 1, (err.column, str(err))
        return None


@settings(max_examples=1000, deadline=None, database=None)
@given(st.one_of(st.text(), syntax_soup))
@example('a ) "')
@example(') "')
@example('(a ) ) "')
@example("a NEAR/1 " * 990 + "a")
@example("\ud800 a\x00b")
def test_any_string_is_a_query_or_a_query_error(text: str) -> None:
    query = compiles_or_refuses(text)
    if query is not None:
        assert query.text == text


@SETTINGS
@given(queries, st.lists(docs, min_size=1, max_size=3))
def test_grammar_queries_compile_and_match_any_document(text: str, some: list[MatchDoc]) -> None:
    query = compile_query(text)
    for doc in some:
        found = query.match(doc)
        assert found == query.match_prepared(prepare(doc))
        if found is not None:
            assert all(isinstance(t, str) and t for t in found.terms)


@SETTINGS
@given(queries, st.integers(0, 200), st.integers(0, 4), st.sampled_from(SYNTAX), docs)
def test_mutated_queries_compile_or_refuse_and_then_match(
    text: str, at: int, cut: int, insert: str, doc: MatchDoc
) -> None:
    at = at % (len(text) + 1)
    query = compiles_or_refuses(text[:at] + insert + text[at + cut :])
    if query is not None:
        query.match(doc)


def matches(text: str) -> Callable[[MatchDoc], bool]:
    query = compile_query(text)
    return lambda doc: query.match(doc) is not None


@settings(max_examples=200, deadline=None, database=None)
@given(queries, queries, docs)
def test_and_or_not_mean_what_they_say(a: str, b: str, doc: MatchDoc) -> None:
    in_a, in_b = matches(a)(doc), matches(b)(doc)
    assert matches(f"({a}) OR ({b})")(doc) == (in_a or in_b)
    assert matches(f"({a}) AND ({b})")(doc) == (in_a and in_b)
    assert matches(f"({a}) ({b})")(doc) == (in_a and in_b)
    assert matches(f"NOT ({a})")(doc) == (not in_a)
    assert matches(f"-({a}) OR ({a})")(doc)


@settings(max_examples=200, deadline=None, database=None)
@given(spans, spans, st.integers(0, 8), docs)
def test_near_is_symmetric_and_implies_both_sides(a: str, b: str, n: int, doc: MatchDoc) -> None:
    near = matches(f"({a}) NEAR/{n} ({b})")(doc)
    assert near == matches(f"({b}) NEAR/{n} ({a})")(doc)
    if near:
        assert matches(f"({a}) ({b})")(doc)
        assert matches(f"({a}) NEAR/{n + 5} ({b})")(doc)


# --- regressions and the depth limit -------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        ('a ) "', "')' has no matching '('", 3),
        (') "', "')' has no matching '('", 1),
        ('(a AND ) "', "'AND' has nothing after it", 4),
        ('a "b" ) “', "')' has no matching '('", 7),
    ],
)
def test_a_bad_token_before_an_unclosed_quote_is_a_query_error(
    query: str, message: str, column: int
) -> None:
    with pytest.raises(QueryError) as info:
        compile_query(query)
    assert message in str(info.value)
    assert info.value.column == column


def _deepest(shape: Callable[[int], str]) -> int:
    """The largest n for which `shape(n)` compiles (the limit is monotonic in n)."""
    lo, hi = 1, 4 * MAX_DEPTH
    assert compile_query(shape(lo))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            compile_query(shape(mid))
            lo = mid
        except QueryError as err:
            assert "nests too deeply" in str(err) and err.column is not None
            hi = mid - 1
    return lo


def _alternating(n: int) -> str:
    out = "x"
    for i in range(n):
        out = f"(w{i} OR (v{i} {out}))" if i % 2 else f"(w{i} {out})"
    return out


SHAPES: dict[str, Callable[[int], str]] = {
    "parentheses": lambda n: "(" * n + "a" + ")" * n,
    "NOT": lambda n: "NOT " * n + "a",
    "minus": lambda n: "-" * n + "a",
    "field scopes": lambda n: "title:" * n + "a",
    "AND/OR groups": _alternating,
    "NEAR chain": lambda n: " NEAR/1 ".join(["a"] * (n + 1)),
    "NEAR chain of ORs": lambda n: " NEAR/3 ".join(["(a OR b* OR title:c)"] * (n + 1)),
    "nested NEAR": lambda n: "(" * n + "a" + " NEAR/2 b)" * n,
    "NOT of NEAR chain": lambda n: "NOT (" * n + " NEAR/1 ".join(["a"] * n) + ")" * n,
}


@contextmanager
def stack_budget(frames: int) -> Iterator[None]:
    """Run with only `frames` Python frames left above the caller."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_the_deepest_query_that_compiles_matches_with_a_small_stack(
    shape: Callable[[int], str],
) -> None:
    n = _deepest(shape)
    assert n < 2 * MAX_DEPTH
    query = compile_query(shape(n))
    text = "a b c a b " * 4
    doc = MatchDoc(title=text, text=text, source="a b", entity_ids=frozenset({"a"}))
    prepared = prepare(doc)
    for field in ("title", "text", "source"):
        prepared.field(field)  # tokenised here, outside the budget
    # 1,000 frames is Python's default limit: a watchlist matched 700 frames deep still works.
    with stack_budget(300):
        query.match_prepared(prepared)
        query.match_prepared(prepare(MatchDoc(title="", text="", source="")))


@pytest.mark.parametrize(
    "query",
    [
        " NEAR/50 ".join(["a"] * 99),
        " NEAR/99999 ".join(["a*"] * 5),
        " NEAR/3 ".join(["(a OR b* OR title:c)"] * 90),
    ],
)
def test_chained_near_over_an_article_full_of_its_terms_is_bounded(query: str) -> None:
    # Once 11 GB and counting: each NEAR multiplied the places of the one before it.
    text = "a b c a b " * 100
    doc = MatchDoc(title=text, text=text, source="a")
    found = compile_query(query).match(doc)
    assert found is None or set(found.terms) <= {"a", "b", "c"}


def test_a_chain_of_990_near_terms_is_refused_at_the_first_near_past_the_limit() -> None:
    chain = " NEAR/1 ".join(["a"] * 991)
    with pytest.raises(QueryError, match="nests too deeply") as info:
        compile_query(chain)
    assert info.value.column == 1 + len("a NEAR/1 ") * (MAX_DEPTH - 1) + len("a ")
    words = [f"w{i}" for i in range(MAX_DEPTH)]
    allowed = " NEAR/1 ".join(words)  # MAX_DEPTH - 1 NEARs
    doc = MatchDoc(title=" ".join(reversed(words)), text="", source="")
    assert compile_query(allowed).match(doc) is not None
