"""The compiled entity list (`Tagger`) and its pass over one text: fold, one automaton pass,
acronyms, and each match credited by the rules in the package's comment (`tag/__init__.py`).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from operator import sub

import ahocorasick_rs

from monitor.models import Entity, EntityHit, Mention
from monitor.pipeline.normalize import FoldedText, fold_words
from monitor.pipeline.tag.automaton import Payload, Value, automaton, single_entity
from monitor.pipeline.tag.words import (
    WORD,
    arabic_prefix,
    designation,
    in_longer_name,
    without_urls,
)

CONTEXT_WINDOW = 10  # words on each side of an ambiguous alias
_CAPITALS = re.compile(r"[^\W\d_a-z]{3}")

# A match: (start, end, folded start, folded end, payload, single); offsets into the original
# text, folded ones -1 for acronyms (matched on the original).
_Hit = tuple[int, int, int, int, Payload, int]
# A match of the automaton: (key index, start, end) in the folded text.
_Found = tuple[int, int, int]


class Tagger:
    """A compiled entity list; `tag(text)` is pure and the instance is reused across texts."""

    def __init__(
        self,
        entities: Sequence[Entity],
        keys: Mapping[str, Value],
        acronyms: Sequence[tuple[str, Payload]],
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
        self._acronyms = tuple(
            (acro, payload, single_entity(payload)) for acro, payload in acronyms
        )
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
        self._automaton = automaton(list(self._keys))
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
            text = without_urls(text)
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
            if s[start - 1] != " " and not (arabic and arabic_prefix(s, start)):
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
                if in_longer_name(text, start, end):
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
            if s[start - 1] != " " and not (arabic and arabic_prefix(s, start)):
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
                and not designation(after)
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
        before = WORD.findall(text, lo, start)
        if not before or (len(before) == 1 and lo and text.startswith(before[0], lo)):
            before = WORD.findall(text, max(0, start - 40), start)
        after = WORD.search(text, end, end + 40)
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


def _mention(text: str, start: int, end: int) -> Mention:
    mention = object.__new__(Mention)  # a frozen dataclass, filled as in Tagger.tag
    fields = mention.__dict__
    fields["start"] = start
    fields["end"] = end
    fields["text"] = text[start:end]
    return mention


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
