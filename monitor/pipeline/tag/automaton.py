"""The automaton over the entity list's keys, and what each key carries (`Value`): shared by
`compile`, which makes the keys, and `tagger`, which runs the automaton (and rebuilds it).
"""

from __future__ import annotations

from collections.abc import Sequence

import ahocorasick_rs

# Who a key names: ((entity index, ambiguous?), ...).
Payload = tuple[tuple[int, bool], ...]
# One automaton key's value: (name length, payload, Arabic-script key?, single), where single
# is the entity index when the payload is one plain (non-ambiguous) entity, else -1.
Value = tuple[int, Payload, bool, int]


def single_entity(payload: Payload) -> int:
    """The entity index of a payload naming one entity by a plain alias, else -1."""
    return payload[0][0] if len(payload) == 1 and not payload[0][1] else -1


# Up to this many keys the automaton is a DFA: the fastest pass (~3x a contiguous NFA's speed
# on the seed corpus), but its tables grow with the keys (~165 MB at ~62,000 keys, 10,000
# aliases); beyond, a contiguous NFA (a few MB).
DFA_MAX_KEYS = 20_000


def automaton(keys: Sequence[str]) -> ahocorasick_rs.AhoCorasick:
    """One leftmost-longest automaton over `keys` (a match is reported by key index)."""
    implementation = (
        ahocorasick_rs.Implementation.DFA
        if len(keys) <= DFA_MAX_KEYS
        else ahocorasick_rs.Implementation.ContiguousNFA
    )
    return ahocorasick_rs.AhoCorasick(
        keys, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest, implementation=implementation
    )
