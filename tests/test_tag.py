"""Tagging: the entity list, tables of variants and confusables, and a reference automaton.

The seed articles themselves are scored by benchmarks/seeds.py; their spellings are carried by
sentences of our own in tests/test_spellings.py."""

from __future__ import annotations

import json
import pickle
import random
import re
from pathlib import Path
from typing import Any

import ahocorasick
import pytest

from monitor.config import load_entities
from monitor.models import Entity
from monitor.pipeline.normalize import fold, fold_with_offsets
from monitor.pipeline.tag import (
    CONTEXT_WINDOW,
    DEFAULT_RULES,
    NOT_NAME_PARTS,
    SPELLING_RULES,
    Tagger,
    arabic_prefix,
    article_variants,
    compile_entities,
    spelling_variants,
)

ROOT = Path(__file__).parents[1]
ENTITIES = ROOT / "config" / "entities.yaml"
EXPECTED = ROOT / "benchmarks" / "seeds"
HELDOUT = Path(__file__).parent / "fixtures" / "heldout" / "heldout.jsonl"
OWN_TEXTS = Path(__file__).parent / "fixtures" / "dedup"
SENTENCES = Path(__file__).parent / "fixtures" / "spellings.jsonl"


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return compile_entities(load_entities(ENTITIES))


def ids(tagger: Tagger, text: str) -> set[str]:
    return {h.id for h in tagger.tag(text)}


# --- the seed articles' expectations (scored by benchmarks/seeds.py) --------------------

EXPECTATIONS = sorted(p for p in EXPECTED.glob("*.json") if not p.name.endswith(".spellings.json"))
SPELLINGS = sorted(EXPECTED.glob("*.spellings.json"))


def test_every_seed_expectation_has_a_spelling_list() -> None:
    assert len(EXPECTATIONS) == 5
    assert [p.name.split(".")[0] for p in SPELLINGS] == [p.stem for p in EXPECTATIONS]


def test_expectations_name_known_ids() -> None:
    known = {e.id for e in load_entities(ENTITIES)}
    for p in EXPECTATIONS:
        spec = json.loads(p.read_text(encoding="utf-8"))
        assert set(spec["entities"]) | set(spec.get("absent", ())) <= known, p.name


# --- the entity list itself --------------------------------------------------------------


def test_entity_list_is_consistent() -> None:
    entities = load_entities(ENTITIES)
    known = {e.id for e in entities}
    assert len(known) == len(entities)
    types = {"armed_group", "state_org", "person", "country", "place", "international_org", "media"}
    for e in entities:
        assert e.type in types, e.id
        assert all(a.target in known for a in e.affiliations), e.id
        assert e.affiliations == () or all(
            a.relation in {"member_of", "backed_by", "leader_of", "part_of"} for a in e.affiliations
        )


def test_no_plain_alias_is_shared_between_entities(tagger: Tagger) -> None:
    # Only ambiguous bare forms may be shared (Quds: the Quds Force or Jerusalem).
    assert tagger.collisions == ()


def test_collisions_are_reported() -> None:
    a = Entity("a", "Alpha", "place", aliases=("Common",))
    b = Entity("b", "Beta", "place", aliases=("common",))
    t = compile_entities([a, b])
    assert t.collisions == (("common", ("a", "b")),)
    assert {h.id for h in t.tag("a common name")} == {"a", "b"}


# --- variants and confusables ------------------------------------------------------------

CASES = [
    # (text, must contain, must not contain)
    ("Kataib Hezbollah fired rockets.", {"kataib-hezbollah"}, {"hezbollah"}),
    ("Kata'ib Hizballah and Kata’ib Hezbollah", {"kataib-hezbollah"}, {"hezbollah"}),
    ("KATAIB HEZBOLLAH statement", {"kataib-hezbollah"}, {"hezbollah"}),
    ("Like Lebanese Hezbollah, the group ...", {"hezbollah"}, {"lebanon", "kataib-hezbollah"}),
    ("Hezbollah in Lebanon", {"hezbollah", "lebanon"}, {"kataib-hezbollah"}),
    ("Harakat Hezbollah al-Nujaba said", {"harakat-hezbollah-al-nujaba"}, {"hezbollah"}),
    ("Asa’ib Ahl al-Haq and Asaeb Ahlul-Haq", {"asaib-ahl-al-haq"}, set()),
    ("Asaib Ahl el-Haq", {"asaib-ahl-al-haq"}, set()),
    ("Asaib Ahl Haq", {"asaib-ahl-al-haq"}, set()),
    ("Kataib Sayyid ash-Shuhada", {"kataib-sayyid-al-shuhada"}, set()),
    ("Harakat an-Nujaba", {"harakat-hezbollah-al-nujaba"}, set()),
    ("Moqtada as-Sadr spoke", {"muqtada-al-sadr"}, set()),
    ("Haider Abadi met them", {"haider-al-abadi"}, set()),
    ("Qassim Suleimani and Qasem Soleinmani", {"qasem-soleimani"}, set()),
    ("Iran's and Irans and Iranians", {"iran"}, set()),
    ("The U.S.-led coalition struck", {"global-coalition-against-isis"}, set()),
    (
        "Center for a New American Security",
        {"center-for-a-new-american-security"},
        {"united-states"},
    ),
    # acronyms: case-sensitive, whole word, not inside shouted headlines
    (
        "KH and AAH fighters of the PMF",
        {"kataib-hezbollah", "asaib-ahl-al-haq", "popular-mobilization-forces"},
        set(),
    ),
    ("the kh sound, a pmf file", set(), {"kataib-hezbollah", "popular-mobilization-forces"}),
    ("two PMUs moved", {"popular-mobilization-forces"}, set()),
    ("IRGC's commander", {"islamic-revolutionary-guard-corps"}, set()),
    ("THIS IS WHAT HAPPENED", set(), {"islamic-state"}),
    ("militants of IS in Mosul", {"islamic-state", "mosul"}, set()),
    ("KHALID and ISISX", set(), {"kataib-hezbollah", "islamic-state"}),
    # ambiguous aliases
    ("The badr moon rose over the desert.", set(), {"badr-organization"}),
    ("Badr Hari won the kickboxing bout.", set(), {"badr-organization"}),
    ("Badr, the Iraqi militia, denied it.", {"badr-organization"}, set()),
    ("The Badr Organization said ... later Badr denied it.", {"badr-organization"}, set()),
    ("Hilal Al-Quds beat Shabab Al-Khalil in the league final.", set(), {"quds-force"}),
    ("Al Quds club signed a striker.", set(), {"quds-force"}),
    ("The IRGC's Quds unit", {"quds-force", "islamic-revolutionary-guard-corps"}, set()),
    ("Sadr City was quiet.", {"sadr-city"}, {"muqtada-al-sadr"}),
    ("Sadr, the Iraqi cleric, spoke.", {"muqtada-al-sadr"}, set()),
    ("Maliki said he would run again.", set(), {"nouri-al-maliki"}),
    ("Former prime minister Maliki said", {"nouri-al-maliki"}, set()),
    ("Austin, Texas hosted the festival.", set(), {"lloyd-austin"}),
    ("Gen. Lloyd J. Austin III arrived; Austin said", {"lloyd-austin"}, set()),
    ("We will trump their offer.", set(), {"donald-trump"}),
    ("The Trump administration said", {"donald-trump"}, set()),
    ("the progressive wing of the party", set(), {"the-progressive"}),
    ("a turkey dinner", set(), {"turkey"}),
    ("Turkey struck targets in Syria", {"turkey", "syria"}, set()),
    # Arabic script, with attached prefixes
    ("أعلنت كتائب حزب الله", {"kataib-hezbollah"}, {"hezbollah"}),
    ("قال حزب الله", {"hezbollah"}, {"kataib-hezbollah"}),
    ("وكتائب حزب الله", {"kataib-hezbollah"}, set()),
    ("والحشد الشعبي", {"popular-mobilization-forces"}, set()),
    ("للحشد الشعبي", {"popular-mobilization-forces"}, set()),
    ("في العراق وبالعراق وللعراق", {"iraq"}, set()),
    ("سافر إلى إيران", {"iran"}, set()),
    ("العراقيون", set(), {"iraq"}),
    ("قاسم سليماني", {"qasem-soleimani"}, set()),
    ("عصائب أهل الحق", {"asaib-ahl-al-haq"}, set()),
    ("بدر", set(), {"badr-organization"}),
    ("منظمة بدر", {"badr-organization"}, set()),
    # Persian
    ("سپاه پاسداران و حزب‌الله", {"islamic-revolutionary-guard-corps", "hezbollah"}, set()),
    ("علی خامنه‌ای گفت", {"ali-khamenei"}, set()),
    # A bare ambiguous name beside another capitalised word is part of a name the list lacks.
    ("Kickboxer Badr Hari visited Iraq", {"iraq"}, {"badr-organization"}),
    ("Under a full badr moon, Iraqi families gathered", {"iraq"}, {"badr-organization"}),
    ("Mohammed Baqir al-Sadr, the Iraqi cleric", set(), {"muqtada-al-sadr"}),
    ("Muqtada al-Sadr spoke. Later Sadr said more.", {"muqtada-al-sadr"}, set()),
    ("Sayyid Sadr told followers in Najaf", {"muqtada-al-sadr", "najaf"}, set()),
    ("Badr fighters entered Diyala", {"badr-organization"}, set()),
    # Split and Persian forms.
    ("Kataib Hizb Allah claimed it", {"kataib-hezbollah"}, {"hezbollah"}),
    ("سازمان بدر و عصائب اهل حق", {"badr-organization", "asaib-ahl-al-haq"}, set()),
    (
        "حرکت نجبا و کتائب سید الشهدا",
        {"harakat-hezbollah-al-nujaba", "kataib-sayyid-al-shuhada"},
        set(),
    ),
    # A hyphen and a digit after an acronym: a model designation, not the group.
    ("The KH-11 satellite and Soviet IS-2 tanks", set(), {"kataib-hezbollah", "islamic-state"}),
    ("KH-affiliated fighters", {"kataib-hezbollah"}, set()),
    # Words in a link are no mentions.
    (
        "See https://example.com/iraq/kataib-hezbollah-attack and www.iran.example/x",
        set(),
        {"iraq", "kataib-hezbollah", "iran"},
    ),
    ("Iraq (https://example.com/iraq) said", {"iraq"}, set()),
]


@pytest.mark.parametrize(("text", "present", "absent"), CASES, ids=[c[0][:40] for c in CASES])
def test_variants_and_confusables(
    tagger: Tagger, text: str, present: set[str], absent: set[str]
) -> None:
    got = ids(tagger, text)
    assert present <= got, f"missing {present - got}"
    assert not absent & got, f"wrongly tagged {absent & got}"


@pytest.mark.parametrize(
    ("text", "surface"),
    [
        ("وكتائب حزب الله", "كتائب حزب الله"),
        ("للحشد الشعبي", "حشد الشعبي"),
        ("Iran’s role", "Iran"),
        ("Kata’ib  Hezbollah", "Kata’ib  Hezbollah"),
        ("the  IRGC’s", "IRGC"),
        ("ÉTAT Islamic State", "Islamic State"),
        ("Straße; Qasem Soleimani", "Qasem Soleimani"),
    ],
)
def test_mention_span_is_the_name(tagger: Tagger, text: str, surface: str) -> None:
    mentions = [m for h in tagger.tag(text) for m in h.mentions]
    assert [m.text for m in mentions] == [surface]
    assert all(text[m.start : m.end] == m.text for m in mentions)


def test_hits_sorted_by_count_then_id(tagger: Tagger) -> None:
    hits = tagger.tag("Iraq and Iran. Iran again. Syria. Iraq.")
    assert [(h.id, h.count) for h in hits] == [("iran", 2), ("iraq", 2), ("syria", 1)]


def test_tagger_is_reusable_and_pure(tagger: Tagger) -> None:
    first = tagger.tag("Badr Organization fighters; Badr denied it.")
    tagger.tag("unrelated text about Badr Hari")
    assert tagger.tag("Badr Organization fighters; Badr denied it.") == first
    assert tagger.tag("Badr denied it.") == ()


def test_ambiguous_needs_an_earlier_full_mention() -> None:
    e = Entity("x-group", "X Group", "armed_group", aliases=("X Group",), ambiguous=("Xq",))
    t = compile_entities([e])
    assert t.tag("Xq came first. X Group later.")[0].count == 1
    assert t.tag("X Group first. Xq later.")[0].count == 2


def test_empty_inputs() -> None:
    assert compile_entities([]).tag("anything") == ()
    e = Entity("a", "Alpha", "place")
    assert compile_entities([e]).tag("") == ()
    assert [h.id for h in compile_entities([e]).tag("ALPHA!")] == ["a"]


def test_tagger_survives_pickling_for_pool_workers(tagger: Tagger) -> None:
    text = "Kataib Hezbollah (KH) and the IRGC-QF met in Baghdad; Sadr spoke."
    copy = pickle.loads(pickle.dumps(tagger))
    assert copy.tag(text) == tagger.tag(text)
    assert {h.id for h in copy.tag(text)} >= {"kataib-hezbollah", "quds-force", "baghdad"}


def test_lone_surrogates_keep_acronyms_and_offsets(tagger: Tagger) -> None:
    text = "\ud800KH and \udc80 the IRGC-QF met Kataib Hezbollah\ud800"
    got = {h.id: [(m.start, m.end, m.text) for m in h.mentions] for h in tagger.tag(text)}
    k, q = text.index("Kataib"), text.index("IRGC")
    assert got == {
        "kataib-hezbollah": [(1, 3, "KH"), (k, k + 16, "Kataib Hezbollah")],
        "quds-force": [(q, q + 7, "IRGC-QF")],
    }


def test_article_variants() -> None:
    v = article_variants("asaib ahl al haq")
    assert {"asaib ahl al haq", "asaib ahl el haq", "asaib ahl haq"} <= v
    assert "ash shuhada" in article_variants("al shuhada")
    assert "al shuhada" in article_variants("ash shuhada")
    assert article_variants("an american") == {"an american"}  # not an article before 'a'
    assert "حشد الشعبي" in article_variants("الحشد الشعبي")


# --- held-out variants and confusables ---------------------------------------------------


def heldout_scores(tagger: Tagger) -> tuple[float, float]:
    """Micro precision and recall over (sentence, entity id) pairs of the held-out set."""
    tp = fp = fn = 0
    for line in HELDOUT.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        expected, got = set(case["entities"]), ids(tagger, case["text"])
        tp, fp, fn = tp + len(expected & got), fp + len(got - expected), fn + len(expected - got)
    return tp / (tp + fp), tp / (tp + fn)


def test_heldout_precision_and_recall(tagger: Tagger) -> None:
    precision, recall = heldout_scores(tagger)
    print(f"held-out precision {precision:.3f} recall {recall:.3f}")
    assert precision >= 0.95
    assert recall >= 0.85


def test_default_rules_cost_no_precision() -> None:
    entities = load_entities(ENTITIES)
    base_p, base_r = heldout_scores(compile_entities(entities, rules=()))
    p, r = heldout_scores(compile_entities(entities))
    assert p >= base_p and r > base_r


@pytest.mark.parametrize("rule", ["e-i", "o-u"])
def test_rules_left_off_do_cost_precision(rule: str) -> None:
    entities = load_entities(ENTITIES)
    p, _ = heldout_scores(compile_entities(entities, rules=(*DEFAULT_RULES, rule)))
    base, _ = heldout_scores(compile_entities(entities))
    assert p < base


def test_heldout_names_known_ids() -> None:
    known = {e.id for e in load_entities(ENTITIES)}
    for line in HELDOUT.read_text(encoding="utf-8").splitlines():
        assert set(json.loads(line)["entities"]) <= known, line


@pytest.mark.parametrize(
    ("alias", "rules", "variant"),
    [
        ("kataib hizbollah", ("kataib-kataeb",), "kataeb hizbollah"),
        ("hezbollah al nujaba", ("hizb-hezb",), "hizbollah al nujaba"),
        ("hassan nasrallah", ("allah-ullah",), "hassan nasrullah"),
        ("kataib hezbollah", ("double-consonant",), "kataib hezbolah"),
        ("qais al khazali", ("q-k",), "kais al khazali"),
        ("qods force", ("q-gh",), "ghods force"),
        ("nouri al maliki", ("ou-u",), "nuri al maliki"),
    ],
)
def test_spelling_variants(alias: str, rules: tuple[str, ...], variant: str) -> None:
    assert variant in spelling_variants(alias, rules)


def test_spelling_variants_spare_short_words_and_unknown_rules() -> None:
    assert spelling_variants("milley", SPELLING_RULES) == set()  # one short word: none
    assert "mark miley" not in spelling_variants("mark milley", ("double-consonant",))
    assert spelling_variants("iraq", ()) == set()
    with pytest.raises(ValueError, match="unknown spelling rules"):
        compile_entities([], rules=("no-such-rule",))


def test_variant_never_takes_a_listed_spelling() -> None:
    a = Entity("a", "Kataib Hezbollah", "armed_group")
    b = Entity("b", "Kataeb Hezbollah", "armed_group")  # listed by b: a's variant yields
    t = compile_entities([a, b])
    assert ids(t, "Kataeb Hezbollah said") == {"b"}


# --- the fast paths against a plain reference --------------------------------------------

_WORD_RUN = re.compile(r"\w+")
_NEAR_CAPITALS = re.compile(r"[^\W\d_a-z]{3}")
_LAST_WORD = re.compile(r"(\w+)\W*$")
_FIRST_WORD = re.compile(r"^\W*(\w+)")

Tagged = list[tuple[str, int, list[tuple[int, int, str]]]]


def plain_automaton(tagger: Tagger) -> ahocorasick.Automaton:
    """The tagger's keys in an automaton of another library (pyahocorasick), whose
    leftmost-longest pass the tagger's ahocorasick_rs one must agree with."""
    automaton = ahocorasick.Automaton()
    for key, (size, payload, arabic, _) in tagger._keys.items():
        automaton.add_word(key, (len(key) - 1, size, payload, arabic))
    automaton.make_automaton()
    return automaton


def reference_tag(tagger: Tagger, automaton: ahocorasick.Automaton, text: str) -> Tagged:
    """The tagger's rules done plainly and slowly: per-char offsets from fold_with_offsets,
    one pass of the automaton, every acronym found by search, overlaps settled longest first,
    then each match credited in text order."""
    text = re.sub(
        r"(?i)(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)[^\s<>\"]+", lambda m: " " * len(m[0]), text
    )
    folded, origin = fold_with_offsets(text)
    s = "".join(c if c.isalnum() else " " for c in folded) + " "
    aliases = []
    for last, (back, size, payload, arabic) in automaton.iter_long(s):
        start = last - back
        if start and s[start - 1] != " " and not (arabic and arabic_prefix(s, start)):
            continue
        aliases.append((origin[start], origin[start + size - 1] + 1, start, start + size, payload))
    found = sorted(aliases + reference_acronyms(tagger, text, aliases))
    mentions: dict[int, list[tuple[int, int, str]]] = {}
    seen: set[int] = set()
    for start, end, fstart, fend, payload in found:
        for idx, ambiguous in payload:
            if ambiguous and reference_longer_name(text, start, end):
                continue
            if ambiguous and idx not in seen:
                if not reference_context(tagger.entities[idx], folded, fstart, fend):
                    continue
            elif not ambiguous:
                seen.add(idx)
            mentions.setdefault(idx, []).append((start, end, text[start:end]))
    order = sorted(mentions, key=lambda idx: (-len(mentions[idx]), tagger.entities[idx].id))
    return [(tagger.entities[i].id, len(mentions[i]), mentions[i]) for i in order]


def reference_longer_name(text: str, start: int, end: int) -> bool:
    """Is the Latin match next to a capitalised word that is neither a title nor a
    possessive (so part of a longer name)?"""
    if not text[start].isascii():
        return False
    right = re.match(r"[ \t]+[A-Z]", text[end:])
    left = re.search(r"([A-Z][\w'’.]*)[ \t]+$", text[:start])
    if right:
        return True
    if not left:
        return False
    word = left.group(1)
    return not (word.rstrip(".").lower() in NOT_NAME_PARTS or word.endswith(("'s", "’s")))


def reference_acronyms(tagger: Tagger, text: str, aliases: list[Any]) -> list[Any]:
    """Whole-word, case-sensitive acronyms not in a shouted headline; the longest of
    overlapping ones; each kept only if longer than every alias match it overlaps (which
    it then replaces)."""
    listed = {acro for acro, _, _ in tagger._acronyms}
    found = []
    for acro, payload, _ in tagger._acronyms:
        i = text.find(acro)
        while i >= 0:
            end, after = i + len(acro), text[i + len(acro) : i + len(acro) + 2]
            whole = not (i and text[i - 1].isalnum()) and (
                not after[:1].isalnum() or (after[:1] == "s" and not after[1:].isalnum())
            )
            designation = re.match(r"[-‐‑]\d", text[end : end + 2]) is not None
            if whole and not designation and not reference_shouted(text, i, end, listed):
                found.append((i, end, -1, -1, payload))
            i = text.find(acro, i + 1)
    kept: list[Any] = []
    for hit in sorted(found, key=lambda h: (h[0], h[0] - h[1])):
        if kept and hit[0] < kept[-1][1]:
            if hit[1] - hit[0] > kept[-1][1] - kept[-1][0]:
                kept[-1] = hit
        else:
            kept.append(hit)
    won = []
    for acro in kept:
        rivals = [a for a in aliases if a[0] < acro[1] and acro[0] < a[1]]
        if all(a[1] - a[0] < acro[1] - acro[0] for a in rivals):
            won.append(acro)
            aliases[:] = [a for a in aliases if a not in rivals]
    return won


def reference_shouted(text: str, start: int, end: int, listed: set[str]) -> bool:
    if not (
        _NEAR_CAPITALS.search(text, max(0, start - 40), start)
        or _NEAR_CAPITALS.search(text, end, end + 40)
    ):
        return False
    before = _LAST_WORD.search(text, max(0, start - 40), start)
    after = _FIRST_WORD.match(text[end : end + 40])
    for m in (before, after):
        word = m.group(1) if m else ""
        if len(word) >= 3 and word.isupper() and word not in listed:
            return True
    return False


def reference_context(entity: Entity, folded: str, fstart: int, fend: int) -> bool:
    phrases = {" ".join(_WORD_RUN.findall(fold(c))) for c in entity.context} - {""}
    before = _WORD_RUN.findall(folded, max(0, fstart - 30 * CONTEXT_WINDOW), fstart)
    after = _WORD_RUN.findall(folded, fend, fend + 30 * CONTEXT_WINDOW)
    window = " " + " ".join(before[-CONTEXT_WINDOW:] + after[:CONTEXT_WINDOW]) + " "
    return any(f" {p} " in window or f" {p}s " in window for p in phrases)


def tagged(tagger: Tagger, text: str) -> Tagged:
    return [
        (h.id, h.count, [(m.start, m.end, m.text) for m in h.mentions]) for h in tagger.tag(text)
    ]


def reference_texts() -> list[str]:
    """Our field articles (the dedup fixtures) whole and in 5,000-char pieces, the spelling
    sentences, held-out sentences, and snippets of the articles with acronyms, shouting,
    Arabic, marks and spaces mixed in."""
    texts = [c[0] for c in CASES]
    texts += [json.loads(line)["text"] for line in HELDOUT.read_text("utf-8").splitlines()]
    texts += [json.loads(line)["text"] for line in SENTENCES.read_text("utf-8").splitlines()]
    articles = [p.read_text("utf-8") for p in sorted(OWN_TEXTS.glob("*.original.txt"))]
    assert len(articles) >= 5
    corpus = "\n\n".join(articles)
    texts += articles + [corpus[i : i + 5000] for i in range(0, len(corpus), 5000)]
    rng = random.Random(4)
    extras = [
        *("KH", "PMF", "US", "IRGC", "IRGC-QF", "ISIS", "IS", "WaPo", "PMUs", "WHAT IS NEXT"),
        *("Badr", "Sadr", "Quds", "كتائب حزب الله", "وكتائب", "Kata’ib Hezbollah", "al-Muhandis"),
        *("…", "ß", "ﬁ", "’", "'", "  ", "\n\n", " — ", "(", "), ", "_", "\u200c", "¨"),
        "\ud800",  # a lone surrogate (text decoded with surrogateescape upstream)
    ]
    base = corpus
    for _ in range(300):
        i = rng.randrange(max(1, len(base) - 1500))
        piece = list(base[i : i + rng.randint(20, 1500)])
        for _ in range(rng.randint(0, 12)):
            piece.insert(rng.randrange(len(piece) + 1), rng.choice(extras) + rng.choice([" ", ""]))
        texts.append("".join(piece))
    return texts


def test_tagger_matches_the_plain_reference(tagger: Tagger) -> None:
    automaton = plain_automaton(tagger)
    for text in reference_texts():
        assert tagged(tagger, text) == reference_tag(tagger, automaton, text), text[:200]


def test_tagger_matches_the_plain_reference_with_synthetic_aliases() -> None:
    rng = random.Random(9)
    syllables = [a + b for a in "bdkmnrstzqhyfjw" for b in "aiou"]
    extra = [
        Entity(f"synthetic-{i}", name, "armed_group", aliases=(name,), ambiguous=(name.split()[0],))
        for i in range(300)
        for name in [" ".join("".join(rng.choice(syllables) for _ in range(2)) for _ in range(2))]
    ]
    t = compile_entities([*load_entities(ENTITIES), *extra])
    automaton = plain_automaton(t)
    for text in reference_texts()[::3]:
        assert tagged(t, text) == reference_tag(t, automaton, text), text[:200]


def test_context_window_counts_words_not_chars() -> None:
    e = Entity(
        "x-group", "X Group", "armed_group", aliases=("X Group",), ambiguous=("Xq",),
        context=("militia",),
    )  # fmt: skip
    t = compile_entities([e])
    nine = " ".join(["extraordinarily"] * 9)  # 150 chars: the window is 10 words, not chars
    assert ids(t, f"militia {nine} Xq") == {"x-group"}
    assert ids(t, f"Xq {nine} militia") == {"x-group"}
    assert ids(t, f"militia {nine} more Xq") == set()
    assert ids(t, f"Xq more {nine} militia") == set()
