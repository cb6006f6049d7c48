"""Discovery: capitalised names in texts that the tagger does not cover, seen in actor-like
contexts (leader of, commander, militia, Abu ...), proposed for the list (`find_candidates`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.pipeline.normalize import fold, words_only
from monitor.pipeline.tag.tagger import Tagger
from monitor.pipeline.tag.words import NOT_NAME_PARTS, WORD, wordset


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
_LEADING = NOT_NAME_PARTS | wordset(
    "during this these those his her their its our cmdr prime spokeswoman "
    "militia group movement brigade brigades battalion "
    "former new senior top deputy iraqi iranian "
    "according meanwhile however yesterday today monday tuesday wednesday thursday friday "
    "saturday sunday january february march april may june july august september october "
    "november december"
)
_CUES = wordset(
    "leader leaders commander commanders spokesman spokeswoman spokesperson militia militias "
    "brigade brigades battalion battalions founder founded group faction movement chief emir "
    "secretary-general"
)
_CUE_PHRASES = ("head of", "leader of", "secretary general", "founder of", "commander of")
# Name openings that are themselves actor cues: kunya, and Arabic words for armed units.
_CUE_OPENINGS = wordset("abu abou saraya kataib kata'ib liwa liwaa jaish jaysh harakat asaib")
_SENTENCE_END = re.compile(r"[.!?]\s|\n")
# A "name" made only of these words is no actor: sects and peoples, and capitalised words
# that open sentences.
_NOT_ACTOR = wordset(
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
    before = WORD.findall(
        text[s_start:start].lower().replace("secretary-general", "secretary general")
    )
    after = WORD.findall(text[end:s_end].lower().replace("secretary-general", "secretary general"))
    window = [*before[-5:], "|", *after[:5]]
    joined = " ".join(window)
    return bool(_CUES.intersection(window)) or any(p in joined for p in _CUE_PHRASES)
