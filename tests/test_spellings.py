"""Every spelling the seed articles use for a listed actor, carried by sentences of our own:
removing an alias fails here on a bare clone (the seeds are read only by benchmarks/seeds.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from monitor.config import load_entities
from monitor.pipeline.tag import Tagger, compile_entities

ROOT = Path(__file__).parents[1]
ENTITIES = ROOT / "config" / "entities.yaml"
SENTENCES = Path(__file__).parent / "fixtures" / "spellings.jsonl"
SEED_SPELLINGS = sorted((ROOT / "benchmarks" / "seeds").glob("*.spellings.json"))
RECORDS: list[dict[str, object]] = [
    json.loads(line) for line in SENTENCES.read_text("utf-8").splitlines() if line.strip()
]


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return compile_entities(load_entities(ENTITIES))


def pairs(spellings: object) -> set[tuple[str, str]]:
    assert isinstance(spellings, list)
    return {(str(surface), str(entity_id)) for surface, entity_id in spellings}


def test_every_seed_spelling_has_a_sentence_of_our_own() -> None:
    seed_pairs: set[tuple[str, str]] = set()
    for path in SEED_SPELLINGS:
        seed_pairs |= pairs(json.loads(path.read_text("utf-8"))["spellings"])
    covered = set().union(*(pairs(r["spellings"]) for r in RECORDS))
    assert len(seed_pairs) >= 200  # the five seeds' spelling lists, read by hand
    assert sorted(seed_pairs - covered) == []


def test_sentences_name_known_entities() -> None:
    known = {e.id for e in load_entities(ENTITIES)}
    unknown = {i for r in RECORDS for _, i in pairs(r["spellings"])} - known
    assert unknown == set()


@pytest.mark.parametrize("record", RECORDS, ids=[f"line{i + 1}" for i in range(len(RECORDS))])
def test_each_spelling_is_tagged_as_its_entity(tagger: Tagger, record: dict[str, object]) -> None:
    """Each surface form occurs in the sentence and, at one of its occurrences at least, is
    part of a mention credited to its entity."""
    text = str(record["text"])
    found = {h.id: h.mentions for h in tagger.tag(text)}
    missed = []
    for surface, entity_id in sorted(pairs(record["spellings"])):
        places = [(m.start(), m.end()) for m in re.finditer(re.escape(surface), text)]
        assert places, f"{surface!r} is not in {text!r}"
        if not any(m.start < e and s < m.end for s, e in places for m in found.get(entity_id, ())):
            missed.append((surface, entity_id))
    assert missed == []


def test_sentence_offsets_round_trip(tagger: Tagger) -> None:
    for record in RECORDS:
        text = str(record["text"])
        for hit in tagger.tag(text):
            assert hit.count == len(hit.mentions)
            assert all(text[m.start : m.end] == m.text for m in hit.mentions)
