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
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import ahocorasick

from monitor.models import Entity, EntityHit, Mention
from monitor.pipeline.normalize import fold, fold_text

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

# One automaton value: (key length, ((entity index, ambiguous?), ...)).
_Payload = tuple[tuple[int, bool], ...]


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


# (start, end, folded start, folded end, payload); offsets into the original text, folded
# ones -1 for acronyms (matched on the original).
_Candidate = tuple[int, int, int, int, _Payload]


class Tagger:
    """A compiled entity list; `tag(text)` is pure and the instance is reused across texts."""

    def __init__(
        self,
        entities: Sequence[Entity],
        aliases: ahocorasick.Automaton,
        acronyms: ahocorasick.Automaton | None,
        acronym_set: frozenset[str],
        contexts: Sequence[tuple[str, ...]],
        collisions: Sequence[tuple[str, tuple[str, ...]]] = (),
    ) -> None:
        self.entities = tuple(entities)
        # Folded aliases that several entities claim as plain aliases: (alias, entity ids).
        self.collisions = tuple(collisions)
        self.alias_count = len(aliases)
        self._aliases = aliases
        self._acronyms = acronyms
        self._acronym_set = acronym_set
        self._contexts = tuple(contexts)

    def tag(self, text: str) -> tuple[EntityHit, ...]:
        """Entities named in `text`, by mention count (desc) then id."""
        ft = fold_text(text)
        found = [
            (*ft.span(start, end), start, end, payload)
            for start, end, payload in _longest(self._alias_matches(ft.text))
        ]
        acronyms = self._acronym_candidates(text)
        if acronyms:
            found = _longest(found + acronyms)
        mentions: dict[int, list[Mention]] = {}
        seen: set[int] = set()
        for start, end, fstart, fend, payload in found:
            for idx, ambiguous in payload:
                if ambiguous and idx not in seen:
                    if not self._in_context(idx, ft.text, fstart, fend):
                        continue
                elif not ambiguous:
                    seen.add(idx)
                mentions.setdefault(idx, []).append(Mention(start, end, text[start:end]))
        hits = [
            EntityHit(e.id, e.name, e.type, len(ms), tuple(ms))
            for idx, ms in mentions.items()
            for e in (self.entities[idx],)
        ]
        hits.sort(key=lambda h: (-h.count, h.id))
        return tuple(hits)

    def _alias_matches(self, s: str) -> list[tuple[int, int, _Payload]]:
        """Whole-word matches of folded aliases: (start, end, payload), folded offsets."""
        n = len(s)
        out = []
        for last, (klen, payload) in self._aliases.iter(s):
            start, end = last - klen + 1, last + 1
            inside_word = start and s[start - 1].isalnum() and s[start].isalnum()
            if inside_word and not _arabic_prefix(s, start):
                continue
            if end < n and s[end].isalnum() and s[end - 1].isalnum():
                # One trailing "s" after a Latin name: possessive (apostrophe folded away)
                # or plural.
                if not (s[end] == "s" and s[end - 1].isascii()):
                    continue
                if end + 1 < n and s[end + 1].isalnum():
                    continue
            out.append((start, end, payload))
        return out

    def _acronym_candidates(self, text: str) -> list[_Candidate]:
        if self._acronyms is None:
            return []
        n = len(text)
        out: list[_Candidate] = []
        for last, (klen, payload) in self._acronyms.iter(text):
            start, end = last - klen + 1, last + 1
            if start > 0 and text[start - 1].isalnum():
                continue
            plural = text[end : end + 1] == "s" and (end + 1 == n or not text[end + 1].isalnum())
            if end < n and text[end].isalnum() and not plural:
                continue
            if self._shouted(text, start, end):
                continue
            out.append((start, end, -1, -1, payload))
        return out

    def _shouted(self, text: str, start: int, end: int) -> bool:
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


_T = TypeVar("_T", bound=tuple[Any, ...])


def _longest(found: list[_T]) -> list[_T]:
    """Drop the shorter of overlapping matches (items start with start, end); text order."""
    found.sort(key=lambda c: (c[0], c[0] - c[1]))
    kept: list[_T] = []
    for c in found:
        if kept and c[0] < kept[-1][1]:
            if c[1] - c[0] > kept[-1][1] - kept[-1][0]:
                kept[-1] = c
            continue
        kept.append(c)
    return kept


def compile_entities(entities: Sequence[Entity]) -> Tagger:
    """Build the automata for `entities` once; the returned Tagger is reused for every text."""
    alias_keys: dict[str, dict[int, bool]] = {}
    acronym_keys: dict[str, dict[int, bool]] = {}
    contexts: list[tuple[str, ...]] = []
    for idx, e in enumerate(entities):
        ambiguous = {fold(a) for a in e.ambiguous}
        names = [] if fold(e.name) in ambiguous or e.name in e.acronyms else [e.name]
        for alias, amb in itertools.chain(
            ((a, False) for a in (*names, *e.aliases)), ((a, True) for a in e.ambiguous)
        ):
            for key in article_variants(fold(alias)) if fold(alias) else ():
                slot = alias_keys.setdefault(key, {})
                slot[idx] = slot.get(idx, True) and amb
        for acro in e.acronyms:
            if acro.strip():
                acronym_keys.setdefault(acro.strip(), {})[idx] = False
        contexts.append(tuple(sorted({" ".join(_WORD.findall(fold(c))) for c in e.context} - {""})))
    acronyms = _automaton(acronym_keys.items()) if acronym_keys else None
    collisions = [
        (key, tuple(entities[i].id for i, amb in slot.items() if not amb))
        for key, slot in alias_keys.items()
        if sum(not amb for amb in slot.values()) > 1
    ]
    return Tagger(
        entities,
        _automaton(alias_keys.items()),
        acronyms,
        frozenset(acronym_keys),
        contexts,
        sorted(collisions),
    )


def _automaton(keys: Iterable[tuple[str, dict[int, bool]]]) -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for key, slot in keys:
        automaton.add_word(key, (len(key), tuple(sorted(slot.items()))))
    if len(automaton) == 0:  # an empty automaton cannot be iterated
        automaton.add_word("\x00\x00", (2, ()))
    automaton.make_automaton()
    return automaton
