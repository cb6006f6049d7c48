"""Entity tagging: the curated list compiled once into Aho-Corasick automata, run per article.
`compile` (list -> `Tagger`), `spellings` (article forms, variants), `automaton` (its keys),
`tagger` (the pass over a text), `words` (checks around a match), `candidates` (names to add).
"""

# Rules (tests/test_tag.py checks the output against a plain, slow reference of them that runs
# a different Aho-Corasick library, pyahocorasick)
#   * Aliases (and the entity's name, unless it is listed as ambiguous or as an acronym) match
#     case-insensitively on the folded text (`normalize.fold_text`: casefold, no accents,
#     harakat, tatweel or apostrophes, dashes as spaces, Arabic letter variants unified).
#   * Arabic article: every alias also matches with `al-`/`al `/`el-`, the sun-letter forms
#     (`as-Sadr`, `ash-Shuhada`, `an-Nujaba`) and without the article (`Haider Abadi`).
#   * Whole words only. Latin: no letter or digit may touch the match, except one trailing
#     `s` (the possessive whose apostrophe folding dropped, or a plural: Iran's, Irans, Iraqis).
#     Arabic script: the match may follow, inside the same word, one of the attached prefixes
#     و ف ب ل ك ال and their combinations (وال بال لل فال كال ولل ...); a leading ال of an alias is
#     optional, so للعراق and والعراق find العراق. Nothing may follow it (no suffixes). The
#     mention's span covers the name, not the prefix.
#   * Acronyms (KH, PMF, IRGC, IS) match case-sensitively on the original text, whole words, a
#     trailing `s` allowed (PMUs); not when a neighbouring word is itself in capitals (3+
#     letters, not an acronym of the list) — that is a shouted headline ("WHAT IS NEXT") —
#     nor when a hyphen and a digit follow: a model designation (KH-11, IS-2).
#   * Nothing inside a URL (http://..., www....) is a mention: its slugs name no one.
#   * Longest match wins: overlapping shorter matches are dropped, so Kataib Hezbollah is not
#     also Hezbollah and the Center for a New American Security is not also the United States.
#   * Ambiguous aliases (bare surnames, common words: Badr, Sadr, Quds) count only when the same
#     entity had a full (alias or acronym) mention earlier in the text, or one of its `context`
#     words or phrases stands within CONTEXT_WINDOW words before or after; and never when
#     the match (Latin script) stands beside another capitalised word, as part of a longer
#     name the list lacks (Mohammed Baqir al-Sadr, Badr Hari, Sadr City) — a title (Sayyid
#     Sadr), a possessive (Iraq's Sadr) or a word opening a sentence (But Sadr, Later Sadr)
#     before it is not such a word. A losing ambiguous
#     match still shadows the shorter matches inside it.
#   * A folded alias shared by several entities credits each of them.
#   * Matching is leftmost-longest (ahocorasick_rs, all matches of a text in one call) over the
#     folded text with every non-letter as a space; keys end in a space, so word ends cost
#     nothing per match.
#   * Spelling variants (SPELLING_RULES) are generated at compile time from plain aliases,
#     never from ambiguous ones, never over a spelling some entity lists; which rules are on,
#     and why, is measured in `spellings`. No fuzzy matching: nothing beyond listed rewrites.
#   * `find_candidates` proposes names the list lacks (see its docstring).
#
# Speed (benchmarks/tagging.py): one fold (`normalize.fold_words`, mostly C string operations),
# one automaton pass in Rust (a DFA up to DFA_MAX_KEYS keys) whose matches are then credited in
# text order, acronyms in between (an acronym overlapping an alias match hands the rest to
# `_merge`).

from monitor.pipeline.tag.automaton import DFA_MAX_KEYS
from monitor.pipeline.tag.candidates import Candidate, find_candidates
from monitor.pipeline.tag.compile import compile_entities
from monitor.pipeline.tag.spellings import (
    DEFAULT_RULES,
    MAX_VARIANTS,
    MIN_SINGLE_WORD,
    RULE_MIN_WORD,
    SPELLING_RULES,
    article_variants,
    spelling_variants,
)
from monitor.pipeline.tag.tagger import CONTEXT_WINDOW, Tagger
from monitor.pipeline.tag.words import NOT_NAME_PARTS as NOT_NAME_PARTS
from monitor.pipeline.tag.words import arabic_prefix as arabic_prefix

__all__ = [
    "CONTEXT_WINDOW",
    "DEFAULT_RULES",
    "DFA_MAX_KEYS",
    "MAX_VARIANTS",
    "MIN_SINGLE_WORD",
    "RULE_MIN_WORD",
    "SPELLING_RULES",
    "Candidate",
    "Tagger",
    "article_variants",
    "compile_entities",
    "find_candidates",
    "spelling_variants",
]
