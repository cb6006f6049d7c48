"""The Arabic article in Latin script (al-, el-, as-Sadr, an-Nujaba, or none): the spellings
each folded word may take, shared by the tagger and the query language (`article_slots`).
"""

from __future__ import annotations

from collections.abc import Sequence

_ARTICLES = frozenset({"al", "el"})
_SUN_LETTERS = ("th", "dh", "sh", "t", "d", "r", "z", "s", "n")  # transliterated, longest first
_SUN_FORMS = frozenset("a" + s for s in _SUN_LETTERS)


def article_slots(tokens: Sequence[str]) -> list[tuple[str | None, ...]]:
    """Per folded word, the spellings it may take under the Arabic-article rule, shared by
    the tagger and the query language: an article before another word (al, el, or a
    sun-letter form: as-Sadr, ash-Shuhada, an-Nujaba) may be al, el, absent (None) or the
    next word's sun-letter form; any other word is only itself."""
    slots: list[tuple[str | None, ...]] = []
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if nxt and (tok in _ARTICLES or (tok in _SUN_FORMS and nxt.startswith(tok[1:]))):
            sun = next((s for s in _SUN_LETTERS if nxt.startswith(s)), None)
            slots.append(("al", "el", None, "a" + sun) if sun else ("al", "el", None))
        else:
            slots.append((tok,))
    return slots
