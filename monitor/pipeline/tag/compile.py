"""From the entity list to a `Tagger`: each alias's folded spellings (article forms, variants)
as the automaton's space-terminated keys, acronyms and context words (`compile_entities`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from monitor.models import Entity
from monitor.pipeline.normalize import fold, words_only
from monitor.pipeline.tag.automaton import Value, single_entity
from monitor.pipeline.tag.spellings import (
    DEFAULT_RULES,
    SPELLING_RULES,
    article_variants,
    spelling_variants,
)
from monitor.pipeline.tag.tagger import Tagger
from monitor.pipeline.tag.words import WORD, is_arabic


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
        contexts.append(tuple(sorted({" ".join(WORD.findall(fold(c))) for c in e.context} - {""})))
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


def _boundary_keys(keys: Iterable[tuple[str, dict[int, bool]]]) -> dict[str, Value]:
    """Each folded key as ` `-terminated boundary form, plus its plural/possessive `s` form
    (Latin); a listed spelling beats a derived one. Values: see Value."""
    values: dict[str, Value] = {}
    derived: dict[str, Value] = {}
    for key, slot in keys:
        form = words_only(key).strip()
        if not form:
            continue
        payload = tuple(sorted(slot.items()))
        arabic = is_arabic(form[0])
        single = single_entity(payload)
        values[form + " "] = (len(form), payload, arabic, single)
        if form[-1].isascii() and form[-1].isalnum():
            derived[form + "s "] = (len(form), payload, arabic, single)
    return dict(sorted((derived | values).items()))
