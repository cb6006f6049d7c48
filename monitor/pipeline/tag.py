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
    letters, not an acronym of the list) — that is a shouted headline ("WHAT IS NEXT").
  * Longest match wins: overlapping shorter matches are dropped, so Kataib Hezbollah is not
    also Hezbollah and the Center for a New American Security is not also the United States.
  * Ambiguous aliases (bare surnames, common words: Badr, Sadr, Quds) count only when the same
    entity had a full (alias or acronym) mention earlier in the text, or one of its `context`
    words or phrases stands within CONTEXT_WINDOW words before or after. A losing ambiguous
    match still shadows the shorter matches inside it.
  * A folded alias shared by several entities credits each of them.
  * Matching is leftmost-longest (`iter_long`) over the folded text with every non-letter as
    a space; keys end in a space, so word ends cost nothing per match.
  * Spelling variants (SPELLING_RULES) are generated at compile time from plain aliases,
    never from ambiguous ones, never over a spelling some entity lists. Measured on
    tests/fixtures/heldout (64 sentences; micro P/R over sentence x id): no rules P 0.943
    R 0.769; DEFAULT_RULES (hizb-hezb, allah-ullah, kataib-kataeb, double-consonant on words
    of 7+ letters, q-k, q-gh) P 0.983 R 0.892. Left off: e-i (Mustafa Salem -> Salim),
    o-u (Karim Nori -> al-Nuri) each add a false positive; ou-u and ee-i gain nothing there.
    No fuzzy matching: nothing beyond these listed rewrites.
  * `find_candidates` proposes names the list lacks (see its docstring).
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import ahocorasick

from monitor.models import Entity, EntityHit, Mention
from monitor.pipeline.normalize import FoldedText, fold, fold_text

CONTEXT_WINDOW = 10  # words on each side of an ambiguous alias
MAX_VARIANTS = 64  # per alias, from the article rules

_ARTICLES = {"al", "el"}
_SUN_LETTERS = ("th", "dh", "sh", "t", "d", "r", "z", "s", "n")  # transliterated, longest first
_SUN_FORMS = {"a" + s for s in _SUN_LETTERS}
_AR_PREFIXES = frozenset(
    {"و", "ف", "ب", "ل", "ك", "ال", "وال", "فال", "بال", "كال", "لل", "ولل", "فلل"}
    | {"وب", "ول", "فب", "فل", "وك", "فك", "وبال", "وكال", "فبال"}
)
_WORD = re.compile(r"\w+")
_LAST_WORD = re.compile(r"(\w+)\W*$")
_FIRST_WORD = re.compile(r"^\W*(\w+)")
_CAPITALS = re.compile(r"[^\W\d_a-z]{3}")

# Who a key names: ((entity index, ambiguous?), ...).
_Payload = tuple[tuple[int, bool], ...]
# One automaton value: (key length, name length, payload, Arabic-script key?, single), where
# single is the entity index when the payload is one plain (non-ambiguous) entity, else -1.
_Value = tuple[int, int, _Payload, bool, int]
# A match: (start, end, folded start, folded end, payload, single); offsets into the original
# text, folded ones -1 for acronyms (matched on the original).
_Hit = tuple[int, int, int, int, _Payload, int]

_ASCII_BYTES = bytes(range(128))
# Byte tables: ASCII letters and digits kept, other ASCII -> space; non-ASCII bytes kept
# (_BOUND) or blanked (_CAPS, which also blanks lower case: runs of capitals and digits).
_BOUND = bytes(b if b > 127 or chr(b).isalnum() else 32 for b in range(256))
_CAPS = bytes(b if b < 128 and (chr(b).isupper() or chr(b).isdigit()) else 32 for b in range(256))


def _single(payload: _Payload) -> int:
    """The entity index of a payload naming one entity by a plain alias, else -1."""
    return payload[0][0] if len(payload) == 1 and not payload[0][1] else -1


def _hit_order(hit: EntityHit) -> tuple[int, str]:
    return -hit.count, hit.id


def _is_arabic(ch: str) -> bool:
    return "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u08ff" or "\ufb50" <= ch <= "\ufeff"


def article_variants(folded: str) -> set[str]:
    """All spellings of a folded alias under the Arabic-article rules (itself included)."""
    tokens = folded.split(" ")
    slots: list[list[str | None]] = []
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if nxt and (tok in _ARTICLES or (tok in _SUN_FORMS and nxt.startswith(tok[1:]))):
            sun = next((s for s in _SUN_LETTERS if nxt.startswith(s)), None)
            forms: list[str | None] = ["al", "el", None]
            if sun:
                forms.append("a" + sun)
            slots.append(forms)
        else:
            slots.append([tok])
    out: set[str] = set()
    for combo in itertools.islice(itertools.product(*slots), MAX_VARIANTS):
        words = [w for w in combo if w]
        if words:
            out.add(" ".join(words))
    if tokens[0].startswith("ال") and len(tokens[0]) > 3:  # bare form for لل / indefinite
        out.add(folded[2:])
    return out


def _bounded(s: str) -> str:
    """`s` with every char that is not a letter or digit turned into a space (same length)."""
    raw = s.encode("utf-8", "surrogatepass")
    out = raw.translate(_BOUND).decode("utf-8", "surrogatepass")
    if not s.isascii():
        for ch in set(raw.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass")):
            if not ch.isalnum():
                out = out.replace(ch, " ")
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
# docstring for the measurements). e-i, o-u, ou-u and ee-i stay off.
DEFAULT_RULES: tuple[str, ...] = (
    "hizb-hezb",
    "allah-ullah",
    "kataib-kataeb",
    "double-consonant",
    "q-k",
    "q-gh",
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
        aliases: ahocorasick.Automaton,
        acronyms: Sequence[tuple[bytes, str, _Payload]],
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
        self.key_count = len(aliases)  # automaton keys (boundary, plural, prefix forms)
        self._aliases = aliases
        # (run of capitals that must occur in the text, acronym, payload)
        self._acronyms = tuple((anchor, a, p, _single(p)) for anchor, a, p in acronyms)
        self._acronym_set = frozenset(a for _, a, _ in acronyms)
        self._contexts = tuple(contexts)
        self._meta = tuple((e.id, e.name, e.type) for e in self.entities)

    def tag(self, text: str) -> tuple[EntityHit, ...]:
        """Entities named in `text`, by mention count (desc) then id."""
        ft = fold_text(text)
        found = self._alias_hits(ft)
        if self._acronyms:
            acronyms = self._acronym_hits(text)
            if acronyms:
                found = _merge(found, acronyms) if found else acronyms
        if not found:
            return ()
        # Mentions per entity index, in text order; the hot path (one plain entity) does no
        # context work. `seen`: entities with a full (non-ambiguous) mention so far.
        mentions: dict[int, list[Mention]] = {}
        seen: set[int] = set()
        get = mentions.get
        for start, end, fstart, fend, payload, single in found:
            if single >= 0:
                seen.add(single)
                got = get(single)
                if got is None:
                    mentions[single] = [Mention(start, end, text[start:end])]
                else:
                    got.append(Mention(start, end, text[start:end]))
                continue
            mention = None
            for idx, ambiguous in payload:
                if ambiguous and idx not in seen:
                    if not self._in_context(idx, ft.text, fstart, fend):
                        continue
                elif not ambiguous:
                    seen.add(idx)
                mention = mention or Mention(start, end, text[start:end])
                got = get(idx)
                if got is None:
                    mentions[idx] = [mention]
                else:
                    got.append(mention)
        meta = self._meta
        hits = [EntityHit(*meta[idx], len(ms), tuple(ms)) for idx, ms in mentions.items()]
        if len(hits) > 1:
            hits.sort(key=_hit_order)
        return tuple(hits)

    def _alias_hits(self, ft: FoldedText) -> list[_Hit]:
        """Leftmost-longest whole-word matches of the keys, mapped back to the original.

        Keys end with a space and the text's non-letters are spaces, so the automaton checks
        the end of a word itself; the start is checked here (or an Arabic prefix allowed).
        """
        s = _bounded(ft.text) + " "
        af, ao, flat = ft.anchors_f, ft.anchors_o, ft.flat
        out: list[_Hit] = []
        append = out.append
        if len(af) == 1 and not flat:  # the fold kept every offset (up to a leading shift)
            shift = ao[0] - af[0]
            for last, (klen, nlen, payload, arabic, single) in self._aliases.iter_long(s):
                start = last - klen + 1
                if start and s[start - 1] != " " and not (arabic and _arabic_prefix(s, start)):
                    continue
                end = start + nlen
                append((start + shift, end + shift, start, end, payload, single))
            return out
        # Run k of the offset map covers folded [af[k], nxt[k]); most names sit in one run.
        nxt = (*af[1:], len(s) + 1)
        for last, (klen, nlen, payload, arabic, single) in self._aliases.iter_long(s):
            start = last - klen + 1
            if start and s[start - 1] != " " and not (arabic and _arabic_prefix(s, start)):
                continue
            end = start + nlen
            k = bisect_right(af, start) - 1
            plain = k not in flat
            ostart = ao[k] + start - af[k] if plain else ao[k]
            if plain and end <= nxt[k]:
                oend = ostart + nlen
            else:
                k = bisect_right(af, end - 1, k) - 1
                oend = ao[k] + 1 if k in flat else ao[k] + end - af[k]
            append((ostart, oend, start, end, payload, single))
        return out

    def _acronym_hits(self, text: str) -> list[_Hit]:
        """Case-sensitive whole-word acronyms; only those whose capitals occur are searched."""
        runs = set(text.encode("utf-8", "surrogatepass").translate(_CAPS).split())
        out: list[_Hit] = []
        for anchor, acro, payload, single in self._acronyms:
            if anchor not in runs:
                continue
            size = len(acro)
            i = text.find(acro)
            while i >= 0:
                end = i + size
                after = text[end : end + 2]
                ok = not (i and text[i - 1].isalnum()) and (
                    not after[:1].isalnum() or (after[:1] == "s" and not after[1:].isalnum())
                )
                if ok and not self._shouted(text, i, end):
                    out.append((i, end, -1, -1, payload, single))
                i = text.find(acro, i + 1)
        if len(out) > 1:
            out = _longest(out)
        return out

    def _shouted(self, text: str, start: int, end: int) -> bool:
        if not (
            _CAPITALS.search(text, max(0, start - 40), start)
            or _CAPITALS.search(text, end, end + 40)
        ):
            return False  # the usual case: no capitalised word nearby at all
        before = _LAST_WORD.search(text, max(0, start - 40), start)
        after = _FIRST_WORD.match(text[end : end + 40])
        for m in (before, after):
            word = m.group(1) if m else ""
            if len(word) >= 3 and word.isupper() and word not in self._acronym_set:
                return True
        return False

    def _in_context(self, idx: int, folded: str, fstart: int, fend: int) -> bool:
        phrases = self._contexts[idx]
        if not phrases or fstart < 0:
            return False
        before = _WORD.findall(folded, max(0, fstart - 30 * CONTEXT_WINDOW), fstart)
        after = _WORD.findall(folded, fend, fend + 30 * CONTEXT_WINDOW)
        window = " " + " ".join(before[-CONTEXT_WINDOW:] + after[:CONTEXT_WINDOW]) + " "
        return any(f" {p} " in window or f" {p}s " in window for p in phrases)


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
        _automaton(keys.items()),
        [(_anchor(a), a, tuple(sorted(slot.items()))) for a, slot in sorted(acronym_keys.items())],
        contexts,
        sorted(collisions),
        alias_count=len(listed),
        variant_count=len(keys) - len(listed),
    )


def _anchor(acronym: str) -> bytes:
    """The longest run of capitals/digits in `acronym`: present in any text that holds it."""
    runs = acronym.encode("utf-8", "surrogatepass").translate(_CAPS).split()
    return max(runs, key=len) if runs else b""


def _automaton(keys: Iterable[tuple[str, dict[int, bool]]]) -> ahocorasick.Automaton:
    """Each folded key as ` `-terminated boundary form, plus its plural/possessive `s` form
    (Latin) and its attached-prefix forms (Arabic); a listed spelling beats a derived one."""
    values: dict[str, _Value] = {}
    derived: dict[str, _Value] = {}
    for key, slot in keys:
        form = _bounded(key).strip()
        if not form:
            continue
        payload = tuple(sorted(slot.items()))
        arabic = _is_arabic(form[0])
        single = _single(payload)
        values[form + " "] = (len(form) + 1, len(form), payload, arabic, single)
        if form[-1].isascii() and form[-1].isalnum():
            derived[form + "s "] = (len(form) + 2, len(form), payload, arabic, single)
    automaton = ahocorasick.Automaton()
    for k, v in (derived | values).items():
        automaton.add_word(k, v)
    if len(automaton) == 0:  # an empty automaton cannot be iterated
        automaton.add_word("\x00\x00", (2, 2, (), False, -1))
    automaton.make_automaton()
    return automaton


# --- discovery ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A name the list lacks, seen in actor-like contexts: for an analyst to add (or not)."""

    name: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    example: str  # the sentence of its first actor-like mention


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


# A capitalised word, optionally with an attached article (al-Dam) or inner hyphens; a name
# is a run of them, joined by at most one particle (bin, abu, of ...; not "of the", which
# more often links a person to an organisation).
_CAP = r"(?:(?:al|el|ad|an|ar|as|ash|at|az)[-‐‑ ])?[A-Z][\w'’]*(?:[-‐‑][A-Za-z][\w'’]*)*"
_NAME = re.compile(rf"{_CAP}(?:[ \t]+(?:(?:bin|ibn|bint|of|wa|ul|al|el|abu|abi)[ \t]+)?{_CAP})*")
# Words that stand before a name without being part of it; cue words among them still count.
_LEADING = _wordset(
    "the a an in on at by for from with as but and or if when while after before during "
    "this that these those his her their its our mr mrs ms dr gen col lt maj sgt capt cmdr "
    "president minister prime general colonel commander chief leader spokesman spokeswoman "
    "sheikh shaykh sayyid cleric militia group movement brigade brigades battalion "
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
        surface = " ".join(words)
        key = fold(surface)
        if _bounded(key).strip() + " " in tagger._aliases:
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
