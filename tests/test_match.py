"""The watchlist query language: tables of (query, article, expected match) and of bad queries."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from monitor.errors import QueryError
from monitor.models import MatchDoc, QueryMatch
from monitor.pipeline.match import _TOKEN_SPLIT, Query, compile_query, prepare

KH = MatchDoc(
    title="Kata'ib Hezbollah claims drone strike on U.S. base",
    text=(
        "The militia fired rockets at the embassy, a spokesman said. Iran's foreign ministry "
        'denied any role. Officials in the United States said the attack was "a message". '
        "'They are watching us,' he told reporters. The al-Muhandis brigade was not involved."
    ),
    source="Long War Journal",
    entity_ids=frozenset({"kataib-hezbollah", "united-states", "iran"}),
    entity_types=frozenset({"armed_group", "country"}),
)
PLAIN = MatchDoc(
    title="Iranian oil exports rise",
    text="Exports of Iranian crude rose in May. Tell us what you think. Rocketry fans, rejoice.",
    source="Reuters World",
)
AR = MatchDoc(
    title="الحشد الشعبي يعلن عن هجوم بطائرة مسيّرة",
    text="قالت كتائب حزب الله إن الهجوم استهدف قاعدة أمريكية. والحشد ينفي.",
    source="الجزيرة",
    entity_ids=frozenset({"popular-mobilization-forces"}),
    entity_types=frozenset({"armed_group"}),
)
CAPS = MatchDoc(title="IRAN SAYS US MUST LEAVE", text="", source="Wire")
EMPTY = MatchDoc(title="", text="", source="")
DOCS = {"kh": KH, "plain": PLAIN, "ar": AR, "caps": CAPS, "empty": EMPTY}

# (query, doc, expected terms or None for no match)
MATCH_CASES: list[tuple[str, str, tuple[str, ...] | None]] = [
    # single words: whole words after folding, in title or text
    ("militia", "kh", ("militia",)),
    ("Militia", "kh", ("militia",)),
    ("MILITIAS", "kh", None),
    ("embassy", "kh", ("embassy",)),
    ("Iran", "kh", ("Iran",)),  # possessive: Iran's
    ("Iran's", "kh", ("Iran's",)),
    ("Iran", "plain", None),  # not part of Iranian
    ("Iranian", "plain", ("Iranian",)),
    ("iranian", "plain", ("Iranian",)),
    ("Kataib", "kh", ("Kata'ib",)),
    ("Kata’ib", "kh", ("Kata'ib",)),
    ("KATA'IB", "kh", None),  # capitals, so an acronym-style match on capitals only
    ("hezbollah", "kh", ("Hezbollah",)),
    ("hezbolla", "kh", None),
    ("exports", "plain", ("exports", "Exports")),
    ("May", "plain", ("May",)),
    ("crude", "empty", None),
    # acronyms: capitals match capitals only; dots inside acronyms do not count
    ("US", "kh", ("U.S.",)),
    ("U.S.", "kh", ("U.S.",)),
    ("us", "kh", ("U.S.", "us")),
    ("US", "plain", None),  # "Tell us" is not the United States
    ("us", "plain", ("us",)),
    ("US", "caps", ("US",)),
    ("IRAN", "caps", ("IRAN",)),
    ("iran", "caps", ("IRAN",)),
    # wildcards
    ("rocket*", "kh", ("rockets",)),
    ("rocket*", "plain", ("Rocketry",)),
    ("drone*", "kh", ("drone",)),
    ("Iran*", "plain", ("Iranian",)),
    ("Iran*", "kh", ("Iran's",)),
    ("ex*", "plain", ("exports", "Exports")),
    ("xyz*", "kh", None),
    ("U.S*", "kh", ("U.S.",)),
    # phrases: words in order, side by side; punctuation and hyphens between them ignored
    ('"United States"', "kh", ("United States",)),
    ('"united states"', "kh", ("United States",)),
    ('"States United"', "kh", None),
    ('"drone strike"', "kh", ("drone strike",)),
    ('"strike drone"', "kh", None),
    ('"Kataib Hezbollah"', "kh", ("Kata'ib Hezbollah",)),
    ('"al Muhandis"', "kh", ("al-Muhandis",)),
    ('"al-Muhandis"', "kh", ("al-Muhandis",)),
    ("al-Muhandis", "kh", ("al-Muhandis",)),  # unquoted hyphenated word = phrase
    ('"drone str*"', "kh", ("drone strike",)),
    ('"fired rock*"', "kh", ("fired rockets",)),
    ('"watching us"', "kh", ("watching us",)),
    ('"the embassy a spokesman"', "kh", ("the embassy, a spokesman",)),  # comma ignored
    ("“United States”", "kh", ("United States",)),  # curly quotes
    ('"base"', "kh", ("base",)),
    ('"OR"', "kh", None),  # quoted keyword is a word
    # AND, explicit and implicit
    ("militia AND embassy", "kh", ("militia", "embassy")),
    ("militia embassy", "kh", ("militia", "embassy")),
    ("militia AND Iranian", "kh", None),
    ("militia Iranian", "kh", None),
    ("Iranian militia", "kh", None),
    ("militia embassy rocket*", "kh", ("militia", "embassy", "rockets")),
    ("militia and embassy", "kh", None),  # lowercase "and" is a word
    # OR: every satisfied alternative is reported
    ("militia OR Iranian", "kh", ("militia",)),
    ("Iranian OR militia", "kh", ("militia",)),
    ("militia OR embassy", "kh", ("militia", "embassy")),
    ("Iranian OR crude", "kh", None),
    ("Iranian OR crude", "plain", ("Iranian", "crude")),
    ("militia or embassy", "kh", None),  # lowercase "or" is a word (and not in the text)
    # NOT and -term
    ("militia NOT Iranian", "kh", ("militia",)),
    ("militia NOT embassy", "kh", None),
    ("militia -embassy", "kh", None),
    ("militia -Iranian", "kh", ("militia",)),
    ("militia AND NOT embassy", "kh", None),
    ("NOT Iranian", "kh", ()),
    ("-Iranian", "kh", ()),
    ("NOT militia", "kh", None),
    ("NOT NOT militia", "kh", ("militia",)),
    ("militia -(Iranian OR crude)", "kh", ("militia",)),
    ("militia -(Iranian OR embassy)", "kh", None),
    ("militia NOT not", "kh", None),  # the word "not" is in the text
    ('-"drone strike" militia', "kh", None),
    # precedence: NOT > AND > OR
    ("Iranian OR militia embassy", "kh", ("militia", "embassy")),
    ("Iranian OR militia Iranian", "kh", None),
    ("militia embassy OR Iranian", "kh", ("militia", "embassy")),
    ("(Iranian OR militia) embassy", "kh", ("militia", "embassy")),
    ("(Iranian OR militia) crude", "kh", None),
    ("NOT Iranian militia", "kh", ("militia",)),  # (NOT Iranian) AND militia
    ("NOT Iranian OR crude", "kh", ()),  # (NOT Iranian) OR crude
    ("NOT (militia OR crude)", "kh", None),
    ("crude OR NOT militia", "kh", None),
    ("Iranian OR crude OR militia", "kh", ("militia",)),
    ("((militia))", "kh", ("militia",)),
    (
        "(militia OR (crude AND Iranian)) AND (embassy OR (rocket* -drone*))",
        "kh",
        ("militia", "embassy"),
    ),
    (
        "(militia OR (crude AND Iranian)) AND (embassy OR (rocket* -drone*))",
        "plain",
        (
            "crude",
            "Iranian",
            "Rocketry",
        ),
    ),
    ("(crude AND Iranian) OR rocket* -drone*", "plain", ("crude", "Iranian", "Rocketry")),
    # NEAR/n: at most n words between, either order, same field
    ("drone NEAR/0 strike", "kh", ("drone", "strike")),
    ("strike NEAR/0 drone", "kh", ("strike", "drone")),
    ("claims NEAR/0 strike", "kh", None),
    ("claims NEAR/1 strike", "kh", ("claims", "strike")),
    ("drone NEAR/3 base", "kh", ("drone", "base")),
    ("drone NEAR/2 base", "kh", None),
    ("militia NEAR/3 rocket*", "kh", ("militia", "rockets")),
    ('"United States" NEAR/2 attack', "kh", ("United States", "attack")),
    ('"United States" NEAR/1 attack', "kh", None),
    ("base NEAR/5 militia", "kh", None),  # base ends the title, militia starts the text
    ("(rocket* OR drone*) NEAR/2 (embassy OR base)", "kh", ("rockets", "embassy")),
    ("(rocket* OR drone*) NEAR/3 (embassy OR base)", "kh", ("rockets", "embassy", "drone", "base")),
    ("drone NEAR/0 strike NEAR/1 base", "kh", None),
    ("drone NEAR/0 strike NEAR/2 base", "kh", ("drone", "strike", "base")),
    ("drone NEAR/5 drone", "kh", None),  # one word is not near itself
    ("title:drone NEAR/1 strike", "kh", ("drone", "strike")),
    ("text:drone NEAR/1 strike", "kh", None),
    ("militia NEAR/4 embassy OR crude", "kh", ("militia", "embassy")),
    ("militia NEAR/3 embassy OR crude", "kh", None),
    ("NOT drone NEAR/0 strike", "kh", None),
    ("NOT drone NEAR/0 base", "kh", ()),
    ("strike NEAR/99999 involved", "kh", None),  # separate fields
    ("militia NEAR/99999 involved", "kh", ("militia", "involved")),
    # field scopes
    ("title:drone", "kh", ("drone",)),
    ("title:militia", "kh", None),
    ("text:militia", "kh", ("militia",)),
    ("text:drone", "kh", None),
    ('title:"drone strike"', "kh", ("drone strike",)),
    ('text:"drone strike"', "kh", None),
    ("title:(militia OR base)", "kh", ("base",)),
    ("title:(militia OR claims) text:embassy", "kh", ("claims", "embassy")),
    ("title:(base text:militia)", "kh", ("base", "militia")),  # inner scope wins
    ("TITLE:drone", "kh", ("drone",)),
    ("title: drone", "kh", ("drone",)),
    ("title:rocket*", "plain", None),
    ("text:rocket*", "plain", ("Rocketry",)),
    ("source:Reuters", "plain", ("Reuters",)),
    ("source:reuters", "plain", ("Reuters",)),
    ("source:Reuters", "kh", None),
    ('source:"Long War Journal"', "kh", ("Long War Journal",)),
    ('source:"War Journal"', "kh", ("War Journal",)),
    ("source:Long*", "kh", ("Long",)),
    ("Reuters", "plain", None),  # unscoped terms do not search the source name
    ("militia -source:Reuters", "kh", ("militia",)),
    ("exports -source:Reuters", "plain", None),
    # entity: and type:
    ("entity:kataib-hezbollah", "kh", ("kataib-hezbollah",)),
    ("entity:Kataib-Hezbollah", "kh", ("kataib-hezbollah",)),
    ('entity:"kataib-hezbollah"', "kh", ("kataib-hezbollah",)),
    ("entity:kataib_hezbollah", "kh", ("kataib-hezbollah",)),
    ("entity:kataib", "kh", None),
    ("entity:kataib*", "kh", ("kataib-hezbollah",)),
    ("entity:(iran OR badr)", "kh", ("iran",)),
    ("entity:kataib-hezbollah", "plain", None),
    ("type:armed_group", "kh", ("armed_group",)),
    ("type:armed-group", "kh", ("armed_group",)),
    ("type:ARMED_GROUP", "kh", ("armed_group",)),
    ("type:person", "kh", None),
    ("type:armed_group", "plain", None),
    ("type:armed_group -type:person", "kh", ("armed_group",)),
    ("type:armed_group -entity:iran", "kh", None),
    ("entity:kataib-hezbollah militia", "kh", ("kataib-hezbollah", "militia")),
    # Arabic script: folded letter forms, optional article, both fields
    ("الحشد", "ar", ("الحشد",)),
    ("حشد", "ar", ("الحشد", "والحشد")),
    ("كتائب", "ar", ("كتائب",)),
    ("كتايب", "ar", ("كتائب",)),  # hamza seat folded
    ('"كتائب حزب الله"', "ar", ("كتائب حزب الله",)),
    ("امريكيه", "ar", ("أمريكية",)),  # alef with hamza, taa marbuta
    ("مسيرة", "ar", ("مسيّرة",)),  # shadda dropped
    ("title:مسيره", "ar", ("مسيّرة",)),
    ("text:مسيره", "ar", None),
    ("هجوم NEAR/1 مسيرة", "ar", ("هجوم", "مسيّرة")),
    ("source:الجزيره", "ar", ("الجزيرة",)),
    ("type:armed_group AND حشد*", "ar", ("armed_group", "الحشد", "والحشد")),
    ("Iran OR حشد", "ar", ("الحشد", "والحشد")),
    ("حزب", "kh", None),
]

# The two watchlists the product exists for, on every document.
MILITIAS = 'type:armed_group AND (Iran OR "United States" OR US)'
ALERT = "entity:kataib-hezbollah AND (rocket* OR drone*)"
WATCHLIST_CASES: list[tuple[str, str, tuple[str, ...] | None]] = [
    (MILITIAS, "kh", ("armed_group", "Iran", "United States", "U.S.")),
    (MILITIAS, "plain", None),
    (MILITIAS, "ar", None),
    (MILITIAS, "caps", None),
    (ALERT, "kh", ("kataib-hezbollah", "rockets", "drone")),
    (ALERT, "plain", None),
    (ALERT, "empty", None),
]

CASES = MATCH_CASES + WATCHLIST_CASES


def _expect(expected: tuple[str, ...] | None) -> QueryMatch | None:
    return None if expected is None else QueryMatch(terms=expected)


@pytest.mark.parametrize(
    ("query", "doc", "expected"), CASES, ids=[f"{q} @{d}" for q, d, _ in CASES]
)
def test_match(query: str, doc: str, expected: tuple[str, ...] | None) -> None:
    assert compile_query(query).match(DOCS[doc]) == _expect(expected)


@pytest.mark.parametrize(
    ("query", "text", "surfaces"),
    [
        ('"al-Muhandis"', "Abu Mahdi el-Muhandis was killed", ("el-Muhandis",)),
        ('"al-Muhandis"', "Muhandis was killed", ("Muhandis",)),
        ("al-Muhandis", "the al Muhandis network", ("al Muhandis",)),
        ('"Asaib Ahl al-Haq"', "the Asaib Ahl el-Haq group", ("Asaib Ahl el-Haq",)),
        ('"Asaib Ahl al-Haq"', "the Asaib Ahl Haq group", ("Asaib Ahl Haq",)),
        ('"as-Sadr"', "Moqtada al-Sadr spoke", ("al-Sadr",)),  # sun-letter form, as tagged
        ('"al-Muhandis"', "the Muhandisin and al-Mu", None),
        ('"al"', "al and el", ("al",)),  # a lone article is a word like any other
    ],
)
def test_the_arabic_article_may_be_al_el_or_absent(
    query: str, text: str, surfaces: tuple[str, ...] | None
) -> None:
    got = compile_query(query).match(MatchDoc(title="", text=text, source=""))
    assert got == _expect(surfaces)


def test_prepared_doc_gives_the_same_answers() -> None:
    prepared = {name: prepare(d) for name, d in DOCS.items()}
    for query, doc, expected in CASES:
        assert compile_query(query).match_prepared(prepared[doc]) == _expect(expected), query


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("a OR b c", "a OR (b AND c)"),
        ("a b OR c", "(a AND b) OR c"),
        ("NOT a b", "(NOT a) AND b"),
        ("-a b", "(NOT a) AND b"),
        ("NOT a OR b", "(NOT a) OR b"),
        ("a AND b c", "a AND (b AND c)"),
        ("a OR b OR c d", "a OR b OR (c AND d)"),
        ("NOT a NEAR/1 b", "NOT (a NEAR/1 b)"),
        ("a NEAR/1 b c", "(a NEAR/1 b) AND c"),
        ("a NEAR/1 b OR c", "(a NEAR/1 b) OR c"),
    ],
)
def test_precedence(left: str, right: str) -> None:
    words = ["x", "a", "b", "c", "d", "a b", "b a", "a x b", "c d", "a c", "b c", "a b c", "d c a"]
    docs = [MatchDoc(title="", text=w, source="") for w in words]
    for d in docs:
        assert (compile_query(left).match(d) is None) == (compile_query(right).match(d) is None), (
            d.text
        )


@pytest.mark.parametrize(
    ("query", "terms", "excluded"),
    [
        ("Iran", ("Iran",), ()),
        ('Iran OR "United States" OR US', ("Iran", "United States", "US"), ()),
        (
            'type:armed_group AND (Iran OR "United States" OR US)',
            ("Iran", "United States", "US"),
            (),
        ),
        ("entity:kataib-hezbollah AND (rocket* OR drone*)", ("rocket*", "drone*"), ()),
        ("militia -sport NOT (football OR -Iran)", ("militia", "Iran"), ("sport", "football")),
        ('title:"drone str*" NEAR/3 base', ("drone str*", "base"), ()),
        ("a a OR a", ("a",), ()),
    ],
)
def test_query_terms(query: str, terms: tuple[str, ...], excluded: tuple[str, ...]) -> None:
    q = compile_query(query)
    assert (q.terms, q.excluded) == (terms, excluded)
    assert q.text == query
    assert repr(q) == f"Query({query!r})"


# (query, part of the message, 1-based column or None)
ERROR_CASES: list[tuple[str, str, int | None]] = [
    ("", "empty", None),
    ("   ", "empty", None),
    ("(Iran", "'(' is never closed", 1),
    ("Iran AND (Iraq OR Syria", "'(' is never closed", 10),
    ("((a) OR b", "'(' is never closed", 1),
    ("Iran)", "')' has no matching '('", 5),
    ("(a) b) c", "')' has no matching '('", 6),
    ("()", "nothing inside the parentheses", 2),
    ("a AND ()", "nothing inside the parentheses", 8),
    ("Iran AND", "'AND' has nothing after it", 6),
    ("Iran OR", "'OR' has nothing after it", 6),
    ("Iran NOT", "'NOT' has nothing after it", 6),
    ("NOT", "'NOT' has nothing after it", 1),
    ("Iran NEAR/3", "'NEAR/3' has nothing after it", 6),
    ("title:", "field 'title:' has nothing after it", 1),
    ("AND Iran", "'AND' needs a term on each side", 1),
    ("OR Iran", "'OR' needs a term on each side", 1),
    ("a OR OR b", "'OR' needs a term on each side", 6),
    ("a AND AND b", "'AND' needs a term on each side", 7),
    ("a (OR b)", "'OR' needs a term on each side", 4),
    ("NEAR/3 b", "'NEAR/3' needs a term on each side", 1),
    ("a AND OR b", "'OR' needs a term on each side", 7),
    ("(a AND) b", "'AND' has nothing after it", 4),
    ("a OR ()", "nothing inside the parentheses", 7),
    ('"Iran', "quote is never closed", 1),
    ('Iran "United States', "quote is never closed", 6),
    ("a - b", "'-' must touch the term", 3),
    ("foo:bar", "unknown field 'foo:'", 1),
    ("Iran titel:drone", "unknown field 'titel:'", 6),
    ("http://example.org", "unknown field 'http:'", 1),
    ("a NEAR/x b", "NEAR needs a distance", 3),
    ("a NEAR b", "NEAR needs a distance", 3),
    ("a NEAR/ b", "NEAR needs a distance", 3),
    ("a NEAR/-1 b", "NEAR needs a distance", 3),
    ("a NEAR/1.5 b", "NEAR needs a distance", 3),
    ("a NEAR/5 entity:x", "NEAR/5 joins words or phrases", 3),
    ("type:armed_group NEAR/5 x", "NEAR/5 joins words or phrases", 18),
    ("a NEAR/5 (b c)", "joins words or phrases", 3),
    ("a NEAR/5 (b OR entity:x)", "joins words or phrases", 3),
    ("(a NEAR/1 -b)", "put NOT outside it", 4),
    ("a NEAR/1 NOT b", "put NOT outside it", 3),
    ("a NEAR/1 (NOT b)", "joins words or phrases", 3),
    ("ro*ck", "wildcard * may only end a word", 3),
    ('"dr*ne strike"', "wildcard * may only end a word", 4),
    ("*", "must follow letters or digits", 1),
    ("a *", "must follow letters or digits", 3),
    ('"drone *"', "must follow letters or digits", 8),
    ("entity:*", "must follow letters or digits", 8),
    ("entity:*-states", "wildcard * may only end a word", 8),
    ('""', "empty phrase", 1),
    ('a ""', "empty phrase", 3),
    ("!!!", "no letters or digits", 1),
    ('"..."', "no letters or digits", 1),
    ("a ~ b", "no letters or digits", 3),
    ("a : b", "unexpected character ':'", 3),
]


@pytest.mark.parametrize(
    ("query", "message", "column"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES]
)
def test_errors(query: str, message: str, column: int | None) -> None:
    with pytest.raises(QueryError) as info:
        compile_query(query)
    err = info.value
    assert message in str(err)
    assert (err.column, err.query) == (column, query)
    assert repr(query) in str(err)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(QueryError, match="nests too deeply"):
        compile_query("(" * 5000 + "a" + ")" * 5000)


def test_compiled_query_is_reusable_across_documents() -> None:
    q = compile_query("militia OR Iranian")
    assert isinstance(q, Query)
    results = [q.match(d) for d in (KH, PLAIN, EMPTY, KH)]
    assert results == [
        QueryMatch(("militia",)),
        QueryMatch(("Iranian",)),
        None,
        QueryMatch(("militia",)),
    ]


def test_many_queries_on_one_long_prepared_doc() -> None:
    words = " ".join(f"w{i % 997} filler" for i in range(5_000))
    doc = prepare(MatchDoc(title="t", text=words + " drone strike", source="s"))
    queries = [compile_query(f"w{i}* NEAR/1 filler OR drone") for i in range(50)]
    assert all(q.match_prepared(doc) is not None for q in queries)
    assert compile_query('"drone strike" NEAR/0 w1*').match_prepared(doc) is None


def test_article_us_is_the_country_not_the_pronoun() -> None:
    # One of our own fixture articles: a Peshmerga officer says "watching us" (the pronoun),
    # and the text names the U.S. and the United States as well.
    path = Path(__file__).parent / "fixtures" / "dedup" / "harir-drone.original.txt"
    text = path.read_text(encoding="utf-8")
    assert "watching us" in text
    doc = MatchDoc(title="", text=text, source="fixture", entity_types=frozenset({"armed_group"}))
    m = compile_query('type:armed_group AND (Iran OR "United States" OR US)').match(doc)
    assert m is not None
    assert "us" not in m.terms
    assert {"armed_group", "Iran", "United States", "U.S."} <= set(m.terms)


def test_word_split_agrees_with_the_anchored_acronym_pattern() -> None:
    """The field index splits words with an unanchored pattern; on any text it must give the
    words the explicit one (acronym branch anchored at a word start) gives."""
    anchored = re.compile(r"((?<!\w)(?:[^\W\d_]\.)+[^\W\d_]\.?(?!\w)|\w+)")
    rng = random.Random(7)
    alphabet = "ab.c1_ é.ü-'s..U.S.x "
    texts = ["U.S. and e.g. u.s.a, Mr.Smith", "a.b.c.d. x.y1 Ж.Ш. 3.5.x", "_.a .a. a..b"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 16))) for _ in range(5000)]
    for text in texts:
        assert _TOKEN_SPLIT.split(text) == anchored.split(text), text
