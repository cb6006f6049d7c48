"""Watchlist queries: `compile_query` parses a query once; `Query.match` runs it on an article.

Words match whole words after the tagger's folding (`normalize.fold`); matched surfaces are kept.

Grammar, loosest binding first::

    query    := or ( "OR" or )*                     Iran OR Iraq
    or       := not ( ["AND"] not )*                Iran AND militia   ==   Iran militia
    not      := ("NOT" | "-") not  |  near          NOT sport   ==   -sport
    near     := atom ( "NEAR/" n atom )*            drone NEAR/5 strike
    atom     := word | "phrase" | "(" query ")" | field ":" atom

So NOT binds tighter than AND (written or implicit), and AND tighter than OR:
`a OR b c` is `a OR (b AND c)`; `NOT a b` is `(NOT a) AND b`; `-x` is `NOT x`.
Operators are the uppercase keywords only: `and`, `or`, `not` are ordinary words, and
`"OR"` (quoted) searches for the word OR.

Terms:

- `Iran` matches the word Iran in the title or text, in any case and without diacritics,
  apostrophes or Arabic letter-form differences (Kata'ib == Kataib, أمريكا == امريكا);
  never part of a word: `Iran` does not match Iranian. A possessive 's is not part of the
  word (`Iran` matches Iran's); a leading Arabic article ال / وال is optional in the
  text (`حشد` matches الحشد). Dots inside acronyms go (U.S. == US).
- Acronyms: a word written in capitals with two or more letters (`US`, `U.S.`, `IS`, `UN`)
  matches only words written in capitals, so `US` finds US and U.S. but not "told us".
  Write it in lower case (`us`) to match any case.
- `rocket*` matches words starting with rocket (rocket, rockets, rocketry). A wildcard
  may only end a word; in a phrase it may end the last word: `"drone strike*"`.
- `"United States"` matches the words in order, next to each other. Punctuation and
  hyphens between them do not matter ("al-Muhandis" == "al Muhandis"), and an unquoted
  hyphenated word is a phrase (`pro-Iran`). Curly quotes work too. An Arabic article
  `al`/`el` before a word may be either or absent, as in the tagger: `"al-Muhandis"`
  finds al-Muhandis, el-Muhandis and Muhandis.
- `a NEAR/n b` matches when a and b occur in the same field, in either order, with at most
  n other words between them (`NEAR/0`: side by side). Its sides are words, phrases,
  NEARs, or parenthesised ORs of those: `(drone OR rocket*) NEAR/5 (base OR embassy)`.
- Field scopes: `title:`, `text:` and `source:` search one field only (unscoped terms
  search title and text); `source:Reuters`, `title:"drone strike"`, `text:(a OR b)`.
  `entity:kataib-hezbollah` matches when the tagger found that entity id;
  `type:armed_group` when it found an entity of that type; both take trailing wildcards
  (`entity:kataib*`). An inner scope overrides an outer one.

Limits: a query nests at most MAX_DEPTH (100) levels. Each parenthesised group, NOT or `-`,
field scope, AND or OR group, and each NEAR of a chain adds one (`a NEAR/1 b NEAR/1 c` is two
levels of NEAR), so up to 99 NEARs may be chained; deeper is a QueryError naming the column of
the first term or NEAR past the limit. Matching then never needs more than about 300 of
Python's 1,000 stack frames. Any string compiles to a Query or raises QueryError. A NEAR
counts each window of words once, and one match examines at most 1,000,000 pairs of places
for its NEARs (`nodes.MAX_NEAR_PAIRS`), so no query can take minutes or all memory on one
article; only contrived queries (long NEAR chains over an article full of their terms) reach it.

A match lists, for highlighting, the distinct surface forms (as written in the article)
that satisfied terms outside any NOT, then the entity ids and types that did:

    compile_query('type:armed_group AND (Iran OR "United States" OR US)')
    compile_query("entity:kataib-hezbollah AND (rocket* OR drone*)")
    compile_query('title:(strike OR attack) -source:"Example Wire" militia NEAR/3 Iran*')
"""

from __future__ import annotations

from monitor.pipeline.match.compiler import MAX_ARTICLE_VARIANTS as MAX_ARTICLE_VARIANTS
from monitor.pipeline.match.compiler import MAX_DEPTH, compile_query
from monitor.pipeline.match.document import _TOKEN_SPLIT as _TOKEN_SPLIT  # tests/test_match.py
from monitor.pipeline.match.document import PreparedDoc, prepare
from monitor.pipeline.match.nodes import Query

__all__ = ["MAX_DEPTH", "PreparedDoc", "Query", "compile_query", "prepare"]
