"""Entity tagging: the curated list compiled once into Aho-Corasick automata, run per article.

Owns the matching rules below; `compile_entities` builds a reusable `Tagger`.

Rules
  * Aliases (and the entity's name, unless it is listed as ambiguous or as an acronym) match
    case-insensitively on the folded text (`normalize.fold_text`: casefold, no accents,
    harakat, tatweel or apostrophes, dashes as spaces, Arabic letter variants unified).
  * Arabic article: every alias also matches with `al-`/`al `/`el-`, the sun-letter forms
    (`as-Sadr`, `ash-Shuhada`, `an-Nujaba`) and without the article (`Haider Abadi`).
  * Whole words only. Latin: no letter or digit may touch the match, except one trailing
    `s` (the possessive whose apostrophe folding dropped, or a plural: Iran's, Irans, Iraqis).
    Arabic script: the match may follow, inside the same word, one of the attached prefixes
    و ف ب ل ك ال and their combinations (وال بال لل فال كال ولل ...); a leading ال of an alias is
    optional, so للعراق and والعراق find العراق. Nothing may follow it (no suffixes). The
    mention's span covers the name, not the prefix.
  * Acronyms (KH, PMF, IRGC, IS) match case-sensitively on the original text, whole words, a
    trailing `s` allowed (PMUs); not when a neighbouring word is itself in capitals (3+
    letters, not an acronym of the list) — that is a shouted headline ("WHAT IS NEXT") —
    nor when a hyphen and a digit follow: a model designation (KH-11, IS-2).
  * Nothing inside a URL (http://..., www....) is a mention: its slugs name no one.
  * Longest match wins: overlapping shorter matches are dropped, so Kataib Hezbollah is not
    also Hezbollah and the Center for a New American Security is not also the United States.
  * Ambiguous aliases (bare surnames, common words: Badr, Sadr, Quds) count only when the same
    entity had a full (alias or acronym) mention earlier in the text, or one of its `context`
    words or phrases stands within CONTEXT_WINDOW words before or after; and never when
    the match (Latin script) stands beside another capitalised word, as part of a longer
    name the list lacks (Mohammed Baqir al-Sadr, Badr Hari, Sadr City) — a title (Sayyid
    Sadr), a possessive (Iraq's Sadr) or a word opening a sentence (But Sadr, Later Sadr)
    before it is not such a word. A losing ambiguous
    match still shadows the shorter matches inside it.
  * A folded alias shared by several entities credits each of them.
  * Matching is leftmost-longest (ahocorasick_rs, all matches of a text in one call) over the
    folded text with every non-letter as a space; keys end in a space, so word ends cost
    nothing per match.
  * Spelling variants (SPELLING_RULES) are generated at compile time from plain aliases,
    never from ambiguous ones, never over a spelling some entity lists. Measured on
    tests/fixtures/heldout (64 sentences; micro P/R over sentence x id): no rules P 0.962
    R 0.769; DEFAULT_RULES (hizb-hezb, allah-ullah, kataib-kataeb, double-consonant on words
    of 7+ letters, q-k, q-gh, ou-u) P 1.000 R 0.908 (without ou-u: R 0.892). Left off:
    e-i (Mustafa Salem -> Salim) and o-u (Karim Nori -> al-Nuri) each add a false positive
    (P 0.983); ee-i gains nothing there.
    No fuzzy matching: nothing beyond these listed rewrites.
  * `find_candidates` proposes names the list lacks (see its docstring).

Speed (benchmarks/tagging.py): one fold (`normalize.fold_words`, mostly C string operations),
one automaton pass in Rust (a DFA up to DFA_MAX_KEYS keys) whose matches are then credited in
text order, acronyms in between (an acronym overlapping an alias match hands the rest to
`_merge`). tests/test_tag.py checks the output against a plain, slow reference of these rules
that runs a different Aho-Corasick library (pyahocorasick).
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import sub

import ahocorasick_rs

from monitor.models import Entity, EntityHit, Mention
from monitor.pipeline.normalize import FoldedText, article_slots, fold, fold_words, words_only

CONTEXT_WINDOW = 10  # words on each side of an ambiguous alias
MAX_VARIANTS = 64  # per alias, from the article rules

_AR_PREFIXES = frozenset(
    {"و", "ف", "ب", "ل", "ك", "ال", "وال", "فال", "بال", "كال", "لل", "ولل", "فلل"}
    | {"وب", "ول", "فب", "فل", "وك", "فك", "وبال", "وكال", "فبال"}
)
_WORD = re.compile(r"\w+")
_CAPITALS = re.compile(r"[^\W\d_a-z]{3}")

# Who a key names: ((entity index, ambiguous?), ...).
_Payload = tuple[tuple[int, bool], ...]
# One automaton key's value: (name length, payload, Arabic-script key?, single), where single
# is the entity index when the payload is one plain (non-ambiguous) entity, else -1.
_Value = tuple[int, _Payload, bool, int]
# A match: (start, end, folded start, folded end, payload, single); offsets into the original
# text, folded ones -1 for acronyms (matched on the original).
_Hit = tuple[int, int, int, int, _Payload, int]
# A match of the automaton: (key index, start, end) in the folded text.
_Found = tuple[int, int, int]


def _single(payload: _Payload) -> int:
    """The entity index of a payload naming one entity by a plain alias, else -1."""
    return payload[0][0] if len(payload) == 1 and not payload[0][1] else -1


def _is_arabic(ch: str) -> bool:
    return "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u08ff" or "\ufb50" <= ch <= "\ufeff"


def article_variants(folded: str) -> set[str]:
    """All spellings of a folded alias under the Arabic-article rules (itself included)."""
    tokens = folded.split(" ")
    out: set[str] = set()
    for combo in itertools.islice(itertools.product(*article_slots(tokens)), MAX_VARIANTS):
        words = [w for w in combo if w]
        if words:
            out.add(" ".join(words))
    if tokens[0].startswith("ال") and len(tokens[0]) > 3:  # bare form for لل / indefinite
        out.add(folded[2:])
    return out


# --- spelling variants -------------------------------------------------------------------

# Transliteration rules: name -> rewrites applied to one word of a folded alias (each rewrite
# on all its occurrences at once). See the module docstring for which are on, and why.
SPELLING_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "hizb-hezb": ((r"^hezb", "hizb"), (r"^hizb", "hezb")),
    "allah-ullah": tuple((r"(?<=[a-z])[aueo]llah?$", v + "llah") for v in "auo"),
    "kataib-kataeb": ((r"(?<=[a-z])ai(?=b)", "ae"), (r"(?<=[a-z])ae(?=b)", "ai")),
    "double-consonant": ((r"([b-df-hj-np-tv-z])\1", r"\1"),),
    "ou-u": ((r"ou", "u"), (r"(?<![oq])u", "ou")),
    "ee-i": ((r"ee", "i"), (r"i", "ee")),
    "q-k": ((r"q", "k"), (r"k(?!h)", "q")),
    "q-gh": ((r"gh", "q"), (r"q", "gh")),
    "e-i": ((r"e", "i"), (r"i", "e")),
    "o-u": ((r"o(?!u)", "u"), (r"(?<![oq])u", "o")),
}
# On by default: the rules that cost no precision on tests/fixtures/heldout (see the module
# docstring for the measurements). e-i, o-u and ee-i stay off.
DEFAULT_RULES: tuple[str, ...] = (
    "hizb-hezb",
    "allah-ullah",
    "kataib-kataeb",
    "double-consonant",
    "q-k",
    "q-gh",
    "ou-u",
)
# Shortest word a rule rewrites (default 4): Milley -> Miley is another person.
RULE_MIN_WORD = {"double-consonant": 7}
_COMPILED_RULES = {
    name: tuple((re.compile(p), r) for p, r in rewrites)
    for name, rewrites in SPELLING_RULES.items()
}
_LATIN_WORD = re.compile(r"[a-z]{4,}")
MIN_SINGLE_WORD = 8  # a one-word alias gets variants only from this length (Milley/Miley)


def spelling_variants(folded: str, rules: Iterable[str] = DEFAULT_RULES) -> set[str]:
    """Spellings of a folded Latin alias under the transliteration `rules` (itself excluded).

    Each word of 4+ letters takes every rewrite, and every rewrite of a rewrite (two steps);
    the alias's words then combine, at most MAX_VARIANTS in all.
    """
    rewrites = [
        (p, r, RULE_MIN_WORD.get(name, 4)) for name in rules for p, r in _COMPILED_RULES[name]
    ]
    tokens = folded.split(" ")
    if not rewrites or (len(tokens) == 1 and len(folded) < MIN_SINGLE_WORD):
        return set()
    slots: list[list[str]] = []
    for tok in tokens:
        forms = {tok}
        if _LATIN_WORD.fullmatch(tok):
            for _ in range(2):
                forms |= {p.sub(r, f) for f in forms for p, r, least in rewrites if len(f) >= least}
        slots.append(sorted(forms, key=lambda f: (f != tok, f)))
    out = {" ".join(c) for c in itertools.islice(itertools.product(*slots), MAX_VARIANTS + 1)}
    out.discard(folded)
    return out


# --- the tagger --------------------------------------------------------------------------


class Tagger:
    """A compiled entity list; `tag(text)` is pure and the instance is reused across texts."""

    def __init__(
        self,
        entities: Sequence[Entity],
        keys: Mapping[str, _Value],
        acronyms: Sequence[tuple[str, _Payload]],
        contexts: Sequence[tuple[str, ...]],
        collisions: Sequence[tuple[str, tuple[str, ...]]] = (),
        alias_count: int = 0,
        variant_count: int = 0,
    ) -> None:
        self.entities = tuple(entities)
        # Folded aliases that several entities claim as plain aliases: (alias, entity ids).
        self.collisions = tuple(collisions)
        self.alias_count = alias_count  # distinct folded spellings listed (article forms too)
        self.variant_count = variant_count  # spellings added by the SPELLING_RULES
        # automaton keys (boundary and plural forms), each ending in a space
        self.key_count = len(keys)
        self._keys = dict(keys)
        self._values = tuple(self._keys.values())
        # (acronym, payload, single), ...; found by one case-sensitive automaton, every
        # occurrence (overlapping ones too: IRGC in IRGC-QF), before the word checks
        self._acronyms = tuple((acro, payload, _single(payload)) for acro, payload in acronyms)
        self._acronym_set = frozenset(a for a, _ in acronyms)
        self._build_automata()
        # Context phrases per entity: one-word ones (and their plural) as a set, the others as
        # they must stand in the window of words (" phrase ", " phrases ").
        self._contexts = tuple(
            (
                frozenset(f for p in phrases if " " not in p for f in (p, p + "s")),
                tuple(f for p in phrases if " " in p for f in (f" {p} ", f" {p}s ")),
            )
            for phrases in contexts
        )
        self._ids = tuple(e.id for e in self.entities)
        self._meta = tuple({"id": e.id, "name": e.name, "type": e.type} for e in self.entities)

    def _build_automata(self) -> None:
        self._automaton = _automaton(list(self._keys))
        acronyms = [a for a, _, _ in self._acronyms]
        self._acronym_automaton = ahocorasick_rs.AhoCorasick(acronyms) if acronyms else None

    # The automata do not pickle; a process pool's workers get the keys and rebuild them.
    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        del state["_automaton"], state["_acronym_automaton"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._build_automata()

    def tag(self, text: str) -> tuple[EntityHit, ...]:
        """Entities named in `text`, by mention count (desc) then id."""
        if "://" in text or "www." in text:
            text = _without_urls(text)
        ft = fold_words(text)
        s = ft.text + " "  # every key ends with a space; s[-1] is the one before s[0]
        acronyms = self._acronym_hits(text) if self._acronym_automaton else []
        # Alias matches are credited as the automaton yields them, acronyms in between, in
        # text order; the hot path (one plain entity) is inline and does no context work.
        # (One loop, not split into helpers: its body runs once per match.)
        # Mention is a frozen dataclass: filling the instance dict directly skips its
        # __init__ (three object.__setattr__ calls), same object.
        mentions: defaultdict[int, list[Mention]] = defaultdict(list)
        ambiguous: dict[int, int] = {}  # entity -> mentions credited to it as ambiguous
        new = object.__new__
        af, flat = ft.anchors_f, ft.flat
        # bisect_right(af, j) = k + 1 for j in run k of the offset map, which covers folded
        # [af[k], ends[k + 1]) and, unless flat, maps j to j + shifts[k + 1]. Matches come in
        # text order: the run of the last one is kept (run_end, shift, run_flat), and looked
        # up again for a match that does not end in it.
        ends = (0, *af[1:], len(s) + 1)
        shifts = (0, *map(sub, ft.anchors_o, af))
        run_end, shift, run_flat = ends[1], shifts[1], 0 in flat
        never = len(text) + 1
        a = 0  # the next acronym to credit
        acronym_start = acronyms[0][0] if acronyms else never
        values = self._values
        matches = iter(self._automaton.find_matches_as_indexes(s))
        for key, start, _ in matches:
            nlen, payload, arabic, single = values[key]
            if s[start - 1] != " " and not (arabic and _arabic_prefix(s, start)):
                continue  # not at the start of a word (keys end with one: see _alias_hits)
            end = start + nlen
            if end <= run_end and not run_flat:  # in the last match's run, as most are
                ostart = start + shift
                oend = end + shift
            else:
                k = bisect_right(af, start)
                run_end, shift, run_flat = ends[k], shifts[k], k - 1 in flat
                if end <= run_end and not run_flat:
                    ostart = start + shift
                    oend = end + shift
                else:
                    ostart, oend = ft.span(start, end)
            if oend > acronym_start:  # an acronym starts before this match ends
                while a < len(acronyms) and acronyms[a][1] <= ostart:
                    self._credit(mentions, ambiguous, text, s, acronyms[a])
                    a += 1
                acronym_start = acronyms[a][0] if a < len(acronyms) else never
                if oend > acronym_start:  # they overlap: settle the rest as _merge does
                    hit = (ostart, oend, start, end, payload, single)
                    rest = [hit, *self._alias_hits(ft, s, matches)]
                    for hit in _merge(rest, acronyms[a:]):
                        self._credit(mentions, ambiguous, text, s, hit)
                    a = len(acronyms)
                    break
            if single < 0:
                hit = (ostart, oend, start, end, payload, single)
                self._credit(mentions, ambiguous, text, s, hit)
                continue
            mention = new(Mention)
            fields = mention.__dict__
            fields["start"] = ostart
            fields["end"] = oend
            fields["text"] = text[ostart:oend]
            mentions[single].append(mention)
        for hit in acronyms[a:]:
            self._credit(mentions, ambiguous, text, s, hit)
        return self._hits(mentions)

    def _credit(
        self,
        mentions: defaultdict[int, list[Mention]],
        ambiguous: dict[int, int],
        text: str,
        s: str,
        hit: _Hit,
    ) -> None:
        """Credit one match to each entity of its payload that it names: always by a plain
        alias or an acronym; by an ambiguous alias after a full (plain or acronym) mention,
        or with a context word near."""
        start, end, fstart, fend, payload, _ = hit
        mention = None
        for idx, is_ambiguous in payload:
            if is_ambiguous:
                credited = len(mentions.get(idx, ()))
                full = credited > ambiguous.get(idx, 0)  # any mention credited otherwise
                if not full and not self._in_context(idx, s, fstart, fend):
                    continue
                if _in_longer_name(text, start, end):
                    continue
                ambiguous[idx] = ambiguous.get(idx, 0) + 1
            mention = mention or _mention(text, start, end)
            mentions[idx].append(mention)

    def _hits(self, mentions: dict[int, list[Mention]]) -> tuple[EntityHit, ...]:
        """One EntityHit per entity, by mention count (desc) then id (then first mention)."""
        ids = self._ids
        order = sorted(
            [(-len(ms), ids[idx], i, idx, ms) for i, (idx, ms) in enumerate(mentions.items())]
        )
        meta = self._meta
        new = object.__new__
        hits = []
        for count, _, _, idx, ms in order:
            hit = new(EntityHit)  # a frozen dataclass, filled directly as Mention in tag()
            fields = hit.__dict__
            fields.update(meta[idx])
            fields["count"] = -count
            fields["mentions"] = tuple(ms)
            hits.append(hit)
        return tuple(hits)

    def _alias_hits(self, ft: FoldedText, s: str, matches: Iterator[_Found]) -> list[_Hit]:
        """Whole-word `matches` of the automaton's keys in `s` (the folded text with every
        non-letter a space, and a final space), mapped back to the original.

        Keys end with a space and the text's non-letters are spaces, so the automaton checks
        the end of a word itself; the start is checked here (or an Arabic prefix allowed).
        """
        out: list[_Hit] = []
        for key, start, _ in matches:
            nlen, payload, arabic, single = self._values[key]
            if s[start - 1] != " " and not (arabic and _arabic_prefix(s, start)):
                continue
            end = start + nlen
            out.append((*ft.span(start, end), start, end, payload, single))
        return out

    def _acronym_hits(self, text: str) -> list[_Hit]:
        """Case-sensitive whole-word acronyms, the longest of overlapping ones."""
        automaton = self._acronym_automaton
        assert automaton is not None
        try:
            found = automaton.find_matches_as_indexes(text, overlapping=True)
        except UnicodeEncodeError:  # lone surrogates: searched as "?" (one char each)
            safe = text.encode("utf-8", "replace").decode("utf-8")
            found = automaton.find_matches_as_indexes(safe, overlapping=True)
        out: list[_Hit] = []
        for key, i, end in found:
            after = text[end : end + 2]
            if (
                not (i and text[i - 1].isalnum())
                and (not after[:1].isalnum() or (after[:1] == "s" and not after[1:].isalnum()))
                and not _designation(after)
                and not self._shouted(text, i, end)
            ):
                _, payload, single = self._acronyms[key]
                out.append((i, end, -1, -1, payload, single))
        if len(out) > 1:
            out = _longest(out)
        return out

    def _shouted(self, text: str, start: int, end: int) -> bool:
        """Is the word next to text[start:end] (within 40 chars) in capitals, 3+ letters and
        not a listed acronym, with a run of three capitals nearby?"""
        # The last word before: looked for in 16 chars first, in 40 unless that settles it
        # (a word found there that does not touch the window's left edge).
        lo = max(0, start - 16)
        before = _WORD.findall(text, lo, start)
        if not before or (len(before) == 1 and lo and text.startswith(before[0], lo)):
            before = _WORD.findall(text, max(0, start - 40), start)
        after = _WORD.search(text, end, end + 40)
        for word in (before[-1] if before else "", after.group() if after else ""):
            if len(word) >= 3 and word.isupper() and word not in self._acronym_set:
                break
        else:
            return False  # the usual case
        return bool(
            _CAPITALS.search(text, max(0, start - 40), start)
            or _CAPITALS.search(text, end, end + 40)
        )

    def _in_context(self, idx: int, s: str, fstart: int, fend: int) -> bool:
        """Does a context phrase of entity `idx` stand within CONTEXT_WINDOW words of the
        folded span [fstart, fend)? `s` is the folded text with non-letters as spaces, so its
        words are the folded text's runs of letters and digits."""
        words, phrases = self._contexts[idx]
        if not (words or phrases) or fstart < 0:
            return False
        # The words within 30 * CONTEXT_WINDOW chars; a shorter stretch is read first, and is
        # enough when it holds more words than needed (then the needed ones are whole).
        near, far = 12 * CONTEXT_WINDOW, 30 * CONTEXT_WINDOW
        before = s[max(0, fstart - near) : fstart].split()
        if len(before) <= CONTEXT_WINDOW and fstart > near:
            before = s[fstart - far if fstart > far else 0 : fstart].split()
        after = s[fend : fend + near].split()
        if len(after) <= CONTEXT_WINDOW and fend + near < len(s):
            after = s[fend : fend + far].split()
        before = before[-CONTEXT_WINDOW:]
        after = after[:CONTEXT_WINDOW]
        if not words.isdisjoint(before) or not words.isdisjoint(after):
            return True
        window = " " + " ".join(before + after) + " "
        return any(p in window for p in phrases)


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Title words that may stand capitalised before a bare name without making it another name.
_TITLES = _wordset(
    "mr mrs ms dr sheikh shaykh sayyid sayed seyyed ayatollah grand imam cleric president "
    "minister premier general gen commander leader chief spokesman senator ambassador "
    "governor lieutenant lt col colonel maj major brig brigadier sgt capt captain"
)
_NEXT_NAME = re.compile(r"[ \t]+([A-Z][\w'’]*)")
_PREV_NAME = re.compile(r"([A-Z][\w'’.]*)[ \t]+$")
# Capitalised words before a bare name that are no part of it: titles, and the words that
# open a sentence (But Sadr said, Later Sadr).
_NOT_NAME_PARTS = _TITLES | _wordset(
    "the a an and but or so yet then later now also still when while after before if as "
    "though although since because meanwhile however today yesterday instead thus "
    "in on at by for from with of to"
)


def _in_longer_name(text: str, start: int, end: int) -> bool:
    """Does the (Latin) match text[start:end] stand beside another capitalised word, so it
    is part of a longer name the list lacks (Mohammed Baqir al-Sadr, Badr Hari, Sadr City)?
    A title (Sayyid Sadr) or a possessive (Iraq's Sadr) before it does not count."""
    if not text[start : start + 1].isascii():
        return False
    after = _NEXT_NAME.match(text, end, end + 40)
    if after is not None:
        return True
    before = _PREV_NAME.search(text, max(0, start - 40), start)
    if before is None:
        return False
    word = before.group(1)
    return not (word.rstrip(".").lower() in _NOT_NAME_PARTS or word.endswith(("'s", "’s")))


_URL_STOP = re.compile(r"[\s<>\"]")


def _url_end(text: str, i: int) -> int:
    """Where the URL found at `i` ends: the next space, <, > or quote, else the text's end."""
    m = _URL_STOP.search(text, i)
    return m.start() if m else len(text)


_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")


def _without_urls(text: str) -> str:
    """`text` with each URL (scheme://... or www....) blanked out (spaces, so offsets stay):
    words in a link's path (/iraq-militia-attack) are no mentions. Found by plain searches
    for "://" and "www.", then widened: a regular expression tried at every word was
    several times slower."""
    spans = []
    i = text.find("://")
    while i >= 0:
        start = i
        while start and text[start - 1] in _SCHEME_CHARS:
            start -= 1
        if start < i and text[start].isalpha():
            spans.append((start, _url_end(text, i)))
        i = text.find("://", i + 3)
    i = text.find("www.")
    while i >= 0:
        if not (i and (text[i - 1].isalnum() or text[i - 1] in "/.")):
            spans.append((i, _url_end(text, i)))
        i = text.find("www.", i + 4)
    if not spans:
        return text
    parts, last = [], 0
    for start, end in sorted(spans):
        if end <= last:
            continue
        start = max(start, last)
        parts += [text[last:start], " " * (end - start)]
        last = end
    parts.append(text[last:])
    return "".join(parts)


def _designation(after: str) -> bool:
    """Do the two chars after an acronym make it a model designation (KH-11, IS-2, F-16)?"""
    return len(after) == 2 and after[0] in "-‐‑" and after[1].isdigit()


def _mention(text: str, start: int, end: int) -> Mention:
    mention = object.__new__(Mention)  # a frozen dataclass, filled as in Tagger.tag
    fields = mention.__dict__
    fields["start"] = start
    fields["end"] = end
    fields["text"] = text[start:end]
    return mention


def _arabic_prefix(s: str, start: int) -> bool:
    """Does the word holding s[start] begin with an attached Arabic prefix ending there?"""
    if not _is_arabic(s[start]):
        return False
    w = start - 1
    while w > 0 and s[w - 1].isalnum() and start - w < 4:
        w -= 1
    return (w == 0 or not s[w - 1].isalnum()) and s[w:start] in _AR_PREFIXES


def _longest(found: list[_Hit]) -> list[_Hit]:
    """Drop the shorter of overlapping matches; text order."""
    found.sort(key=lambda c: (c[0], c[0] - c[1]))
    kept: list[_Hit] = []
    for c in found:
        if kept and c[0] < kept[-1][1]:
            if c[1] - c[0] > kept[-1][1] - kept[-1][0]:
                kept[-1] = c
            continue
        kept.append(c)
    return kept


def _merge(aliases: list[_Hit], acronyms: list[_Hit]) -> list[_Hit]:
    """Both lists sorted and overlap-free; where an acronym overlaps aliases, longest wins."""
    starts = [h[0] for h in aliases]
    dropped: set[int] = set()
    kept: list[_Hit] = []
    for acro in acronyms:
        k = bisect_right(starts, acro[0]) - 1
        if k < 0 or aliases[k][1] <= acro[0]:
            k += 1
        rivals = []
        while k < len(aliases) and aliases[k][0] < acro[1]:
            rivals.append(k)
            k += 1
        if all(aliases[r][1] - aliases[r][0] < acro[1] - acro[0] for r in rivals):
            dropped.update(rivals)
            kept.append(acro)
    if dropped:
        aliases = [h for i, h in enumerate(aliases) if i not in dropped]
    return sorted(aliases + kept)  # two sorted runs: one linear merge


# --- compiling ---------------------------------------------------------------------------


def compile_entities(entities: Sequence[Entity], rules: Iterable[str] = DEFAULT_RULES) -> Tagger:
    """Build the automaton for `entities` once; the returned Tagger is reused for every text.

    `rules` names the SPELLING_RULES whose variants are added; a variant never takes a
    spelling that some entity lists itself.
    """
    rules = tuple(rules)
    unknown = set(rules) - set(SPELLING_RULES)
    if unknown:
        raise ValueError(
            f"unknown spelling rules {sorted(unknown)}; known: {sorted(SPELLING_RULES)}"
        )
    listed: dict[str, dict[int, bool]] = {}
    generated: dict[str, dict[int, bool]] = {}
    acronym_keys: dict[str, dict[int, bool]] = {}
    contexts: list[tuple[str, ...]] = []
    for idx, e in enumerate(entities):
        ambiguous = {fold(a) for a in e.ambiguous}
        names = [] if fold(e.name) in ambiguous or e.name in e.acronyms else [e.name]
        for alias, amb in itertools.chain(
            ((a, False) for a in (*names, *e.aliases)), ((a, True) for a in e.ambiguous)
        ):
            for key in article_variants(fold(alias)) if fold(alias) else ():
                slot = listed.setdefault(key, {})
                slot[idx] = slot.get(idx, True) and amb
                if not amb:
                    for variant in spelling_variants(key, rules):
                        generated.setdefault(variant, {})[idx] = False
        for acro in e.acronyms:
            if acro.strip():
                acronym_keys.setdefault(acro.strip(), {})[idx] = False
        contexts.append(tuple(sorted({" ".join(_WORD.findall(fold(c))) for c in e.context} - {""})))
    keys = listed | {k: v for k, v in generated.items() if k not in listed}
    collisions = [
        (key, tuple(entities[i].id for i, amb in slot.items() if not amb))
        for key, slot in listed.items()
        if sum(not amb for amb in slot.values()) > 1
    ]
    return Tagger(
        entities,
        _boundary_keys(keys.items()),
        [(a, tuple(sorted(slot.items()))) for a, slot in sorted(acronym_keys.items())],
        contexts,
        sorted(collisions),
        alias_count=len(listed),
        variant_count=len(keys) - len(listed),
    )


# Up to this many keys the automaton is a DFA: the fastest pass (~3x a contiguous NFA's speed
# on the seed corpus), but its tables grow with the keys (~165 MB at ~62,000 keys, 10,000
# aliases); beyond, a contiguous NFA (a few MB).
DFA_MAX_KEYS = 20_000


def _automaton(keys: Sequence[str]) -> ahocorasick_rs.AhoCorasick:
    """One leftmost-longest automaton over `keys` (a match is reported by key index)."""
    implementation = (
        ahocorasick_rs.Implementation.DFA
        if len(keys) <= DFA_MAX_KEYS
        else ahocorasick_rs.Implementation.ContiguousNFA
    )
    return ahocorasick_rs.AhoCorasick(
        keys, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest, implementation=implementation
    )


def _boundary_keys(keys: Iterable[tuple[str, dict[int, bool]]]) -> dict[str, _Value]:
    """Each folded key as ` `-terminated boundary form, plus its plural/possessive `s` form
    (Latin); a listed spelling beats a derived one. Values: see _Value."""
    values: dict[str, _Value] = {}
    derived: dict[str, _Value] = {}
    for key, slot in keys:
        form = words_only(key).strip()
        if not form:
            continue
        payload = tuple(sorted(slot.items()))
        arabic = _is_arabic(form[0])
        single = _single(payload)
        values[form + " "] = (len(form), payload, arabic, single)
        if form[-1].isascii() and form[-1].isalnum():
            derived[form + "s "] = (len(form), payload, arabic, single)
    return dict(sorted((derived | values).items()))


# --- discovery ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A name the list lacks, seen in actor-like contexts: for an analyst to add (or not)."""

    name: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    example: str  # the sentence of its first actor-like mention


# A capitalised word, optionally with an attached article (al-Dam) or inner hyphens; a name
# is a run of them, joined by at most one particle (bin, abu, of ...; not "of the", which
# more often links a person to an organisation).
_CAP = r"(?:\b(?:al|el|ad|an|ar|as|ash|at|az)[-‐‑ ])?[A-Z][\w'’]*(?:[-‐‑][A-Za-z][\w'’]*)*"
_NAME = re.compile(rf"{_CAP}(?:[ \t]+(?:(?:bin|ibn|bint|of|wa|ul|al|el|abu|abi)[ \t]+)?{_CAP})*")
# Words that stand before a name without being part of it; cue words among them still count.
_LEADING = _NOT_NAME_PARTS | _wordset(
    "during this these those his her their its our cmdr prime spokeswoman "
    "militia group movement brigade brigades battalion "
    "former new senior top deputy iraqi iranian "
    "according meanwhile however yesterday today monday tuesday wednesday thursday friday "
    "saturday sunday january february march april may june july august september october "
    "november december"
)
_CUES = _wordset(
    "leader leaders commander commanders spokesman spokeswoman spokesperson militia militias "
    "brigade brigades battalion battalions founder founded group faction movement chief emir "
    "secretary-general"
)
_CUE_PHRASES = ("head of", "leader of", "secretary general", "founder of", "commander of")
# Name openings that are themselves actor cues: kunya, and Arabic words for armed units.
_CUE_OPENINGS = _wordset("abu abou saraya kataib kata'ib liwa liwaa jaish jaysh harakat asaib")
_SENTENCE_END = re.compile(r"[.!?]\s|\n")
# A "name" made only of these words is no actor: sects and peoples, and capitalised words
# that open sentences.
_NOT_ACTOR = _wordset(
    "shiite shiites shi'ite shi'ites shia shias sunni sunnis sunnite kurd kurds kurdish arab "
    "arabs arabic muslim muslims christian christians western westerners islamist islamists "
    "jihadist jihadists persian turkmen yazidi yazidis some many most several other others "
    "both each such could would should might must can will be is are was were they we it "
    "there here this that these those what who why how where military defense defence "
    "secretary"
)


def find_candidates(
    tagger: Tagger, docs: Sequence[tuple[str, datetime | None]], *, limit: int = 50
) -> list[Candidate]:
    """Capitalised names in `docs` (text, time seen) not covered by the tagger's mentions,
    kept when at least one occurrence stands in an actor-like context (leader of, commander,
    spokesman, militia, brigade, Abu ..., head of, founder, secretary-general, group,
    movement) within a few words in the same sentence; all their uncovered occurrences are
    counted. Most frequent first, then by name. Pure: same docs, same answer."""
    counts: dict[str, int] = {}
    surfaces: dict[str, dict[str, int]] = {}
    seen: dict[str, list[datetime]] = {}
    examples: dict[str, str] = {}
    for text, when in docs:
        for key, surface, sentence, cued in _names(tagger, text):
            counts[key] = counts.get(key, 0) + 1
            forms = surfaces.setdefault(key, {})
            forms[surface] = forms.get(surface, 0) + 1
            if when is not None:
                seen.setdefault(key, []).append(when)
            if cued and key not in examples:
                examples[key] = sentence
    out = [
        Candidate(
            name=max(surfaces[key].items(), key=lambda kv: (kv[1], kv[0]))[0],
            count=counts[key],
            first_seen=min(seen[key]) if key in seen else None,
            last_seen=max(seen[key]) if key in seen else None,
            example=examples[key],
        )
        for key in examples
    ]
    out.sort(key=lambda c: (-c.count, c.name))
    return out[:limit]


def _names(tagger: Tagger, text: str) -> Iterable[tuple[str, str, str, bool]]:
    """(folded key, surface, sentence, in an actor-like context?) of each uncovered name."""
    masked = list(text)
    for hit in tagger.tag(text):
        for mention in hit.mentions:
            masked[mention.start : mention.end] = "\x00" * (mention.end - mention.start)
    plain = "".join(masked)
    for m in _NAME.finditer(plain):
        words = m.group().split()
        start = m.start()
        cued = False
        while words and words[0].lower().rstrip(".") in _LEADING:
            cued = cued or words[0].lower() in _CUES
            start = plain.index(words[0], start) + len(words[0])
            words.pop(0)
        if not words or (len(words) == 1 and len(words[0]) < 4):
            continue
        if all(w.lower().replace("’", "'") in _NOT_ACTOR for w in words):
            continue
        surface = " ".join(words)
        key = fold(surface)
        if words_only(key).strip() + " " in tagger._keys:
            continue  # a known spelling that the tagger did not license here (bare "Sadr")
        s_start, s_end = _sentence_bounds(text, start, m.end())
        sentence = " ".join(text[s_start:s_end].split())
        cued = (
            cued or words[0].lower() in _CUE_OPENINGS or _cued(text, s_start, s_end, start, m.end())
        )
        yield key, surface, sentence, cued


def _sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    left = 0
    for m in _SENTENCE_END.finditer(text, max(0, start - 400), start):
        left = m.end()
    right = _SENTENCE_END.search(text, end)
    return left, (right.start() + 1 if right else len(text))


def _cued(text: str, s_start: int, s_end: int, start: int, end: int) -> bool:
    """Does a cue word or phrase stand within 5 words of the name, in its sentence?"""
    before = _WORD.findall(
        text[s_start:start].lower().replace("secretary-general", "secretary general")
    )
    after = _WORD.findall(text[end:s_end].lower().replace("secretary-general", "secretary general"))
    window = [*before[-5:], "|", *after[:5]]
    joined = " ".join(window)
    return bool(_CUES.intersection(window)) or any(p in joined for p in _CUE_PHRASES)
