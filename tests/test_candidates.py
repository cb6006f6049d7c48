"""Discovery: names missing from the entity list, seen in actor-like contexts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import load_entities
from monitor.pipeline.tag import Candidate, Tagger, compile_entities, find_candidates

ENTITIES = Path(__file__).parents[1] / "config" / "entities.yaml"
DAY1 = datetime(2024, 3, 1, tzinfo=UTC)
DAY2 = datetime(2024, 3, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return compile_entities(load_entities(ENTITIES))


DOCS = [
    (
        "A new group calling itself Saraya Awliya al-Dam claimed the rocket attack on Erbil. "
        "The militia Saraya Awliya al-Dam said it would strike again.",
        DAY2,
    ),
    (
        "Kataib Hezbollah commander Abu Fadak al-Mohammedawi met Hadi al-Amiri in Baghdad. "
        "Officials said Saraya Awliya al-Dam is a front for larger militias.",
        DAY1,
    ),
    ("Abu Fadak al-Mohammedawi, the PMF chief of staff, denied it.", None),
]


def by_name(found: list[Candidate]) -> dict[str, Candidate]:
    return {c.name: c for c in found}


def test_new_militia_and_commander_are_found(tagger: Tagger) -> None:
    found = by_name(find_candidates(tagger, DOCS))
    militia = found["Saraya Awliya al-Dam"]
    assert militia.count == 3
    assert (militia.first_seen, militia.last_seen) == (DAY1, DAY2)
    assert militia.example.startswith("A new group calling itself Saraya Awliya al-Dam")
    commander = found["Abu Fadak al-Mohammedawi"]
    assert commander.count == 2
    assert commander.first_seen == commander.last_seen == DAY1
    assert "commander Abu Fadak" in commander.example


def test_sorted_by_count_then_name_and_limited(tagger: Tagger) -> None:
    found = find_candidates(tagger, DOCS)
    assert [c.name for c in found[:2]] == ["Saraya Awliya al-Dam", "Abu Fadak al-Mohammedawi"]
    assert find_candidates(tagger, DOCS, limit=1) == found[:1]


@pytest.mark.parametrize(
    "text",
    [
        # plain capitalised sentence starts and places, no actor context
        "Yesterday the weather in Kufa was mild. Markets opened early. Traffic was heavy.",
        "Officials met in Geneva on Tuesday. Talks continued on Wednesday.",
        # already-known entities, in actor contexts: covered by the tagger
        "Kataib Hezbollah commander said the militia Asaib Ahl al-Haq would join them.",
        "The group's leader, Qais al-Khazali, spoke; Muqtada al-Sadr, head of the movement, too.",
        # a known ambiguous spelling the tagger did not license here is not "new"
        "Sadr, the leader, said nothing.",
        # sects and peoples are no actors; "regional Shi'ite" is not "al Shi'ite"
        "Shiite militia leaders and Sunni tribal leaders met regional Shi'ite militias.",
    ],
)
def test_negatives(tagger: Tagger, text: str) -> None:
    assert find_candidates(tagger, [(text, DAY1)]) == []


def test_leading_titles_and_cue_words_are_not_part_of_the_name(tagger: Tagger) -> None:
    text = "Commander Hamid al-Jazairi of the Saraya Khorasani militia was killed."
    names = {c.name for c in find_candidates(tagger, [(text, None)])}
    assert "Hamid al-Jazairi" in names
    assert "Saraya Khorasani" in names


def test_no_dates_and_empty_input(tagger: Tagger) -> None:
    assert find_candidates(tagger, []) == []
    (c,) = find_candidates(tagger, [("The militia Liwa Abu al-Fadl al-Abbas fought.", None)])
    assert (c.name, c.count, c.first_seen, c.last_seen) == (
        "Liwa Abu al-Fadl al-Abbas",
        1,
        None,
        None,
    )


def test_pure(tagger: Tagger) -> None:
    assert find_candidates(tagger, DOCS) == find_candidates(tagger, DOCS)
