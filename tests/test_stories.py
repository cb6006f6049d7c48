"""Stories: reports of one event, at the field's real density (tests/fixtures/stories/: 112
articles of our own over ten days that all name the same actors), and the pure rules."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from monitor import app as appmod
from monitor.config import load_settings
from monitor.pipeline import dedup, story
from monitor.pipeline.runner import ImportRecord, import_articles
from monitor.pipeline.story import StoryMember
from monitor.storage.schema import ArticleRow
from tests.conftest import REPO, Clock

SET = Path(__file__).parent / "fixtures" / "stories"
RECORDS: list[dict[str, Any]] = [
    json.loads(line)
    for path in sorted(SET.glob("*.jsonl"))
    for line in path.read_text("utf-8").splitlines()
    if line.strip()
]
P = dedup.DedupParams()
T0 = datetime(2026, 11, 16, 8, tzinfo=UTC)


# --- the pure rules -------------------------------------------------------------------------


def terms(title: str, text: str) -> list[str]:
    return story.story_terms(story.story_lead(title, text, P))


def test_names_are_joined_with_the_weekdays_the_opening_gives() -> None:
    monday = terms("Rockets hit Harir base", "Three rockets struck Harir on Monday night.")
    thursday = terms("Rockets hit Harir base", "Two rockets struck Harir on Thursday.")
    assert "x:harir@monday" in monday and "x:harir@thursday" in thursday
    assert "x:harir@monday" not in thursday
    assert "w:rocket" in monday  # plural and singular are one term


def test_the_title_counts_twice_and_function_words_not_at_all() -> None:
    got = Counter(terms("Drone strike near Erbil", "The drone was shot down near the airport."))
    assert got["w:drone"] == 3 and got["w:erbil"] == 2
    assert "w:the" not in got and "w:was" not in got


def test_multi_word_names_and_figures_weigh_more_than_single_words() -> None:
    got = Counter(
        terms(
            "US strikes Jurf al-Sakhar depots",
            "Two sites at Jurf al-Sakhar were hit, Dar al-Sanabil said; 107mm rockets and "
            "148,000 barrels were counted.",
        )
    )
    assert got["p:jurf al sakhar"] == 6  # twice in the lead (title included), three times
    assert got["p:dar al sanabil"] == 3
    assert got["n:107mm"] == 2 and got["n:148,000"] == 2
    assert not any(t.startswith("p:") and " " not in t and "-" not in t for t in got)


@pytest.mark.parametrize(
    ("title", "url"),
    [
        ("Explainer: who the factions are", "https://a.example/2026/11/17/factions"),
        ("ANALYSIS - a week of pressure", "https://a.example/news/pressure"),
        ("Profile: Abu Fadak al-Mohammedawi", "https://a.example/news/abu-fadak"),
        ("Week in review, 16-20 November", "https://a.example/news/week"),
        ("What is the Islamic Resistance in Iraq?", "https://a.example/news/iri"),
        ("How sanctions reach the militias", "https://a.example/explainers/2026/sanctions"),
        ("Where US forces stand", "https://a.example/analysis/us-forces"),
        ("تحليل: الفصائل بعد الضربة", "https://a.example/ar/news/1"),
    ],
)
def test_background_pieces_are_known_by_their_label_or_section(title: str, url: str) -> None:
    assert story.is_background(title, url)


@pytest.mark.parametrize(
    ("title", "url"),
    [
        ("Drones target Harir air base", "https://a.example/2026/11/16/drones-harir"),
        ("How the drone attack on Harir unfolded", "https://a.example/news/harir-analysis"),
        ("Review ordered into Ain al-Asad attack", "https://a.example/world/review"),
        ("Rockets hit base, officials say", "https://a.example/profiles-of-war/rockets"),
    ],
)
def test_reports_are_not_background(title: str, url: str) -> None:
    assert not story.is_background(title, url)


def test_term_counts_are_stored_as_they_were_counted() -> None:
    keys = story.article_story_keys("Drone hits Erbil", "A drone hit Erbil on Monday.", (), P)
    tf = story.term_counts(keys)
    assert story.ANY_KEY not in tf and max(tf.values()) >= 2
    assert story.unpack_terms(*story.pack_terms(tf)) == tf


def test_keys_found_in_more_than_the_share_of_the_window_weigh_nothing() -> None:
    tf = {1: 1, 2: 1, 3: 2}
    vec = story.story_vector(tf, {1: 90, 2: 3, 3: 10}, 100, P)  # 1 is in 90 % of the window
    assert 1 not in vec and vec[2] > vec[3] / 2 > 0
    assert abs(sum(w * w for w in vec.values()) - 1) < 1e-9
    # An empty window says nothing of rarity: the keys weigh by their frequency alone.
    alone = story.story_vector(tf, {}, 0, P)
    assert alone[1] == alone[2] < alone[3]


def member(i: int, story: int | None, vec: dict[int, float], hours: float = 0) -> StoryMember:
    return StoryMember(i, story, T0 + timedelta(hours=hours), f"https://x.example/{i}", vec)


def unit(*pairs: tuple[int, float]) -> dict[int, float]:
    norm = sum(w * w for _, w in pairs) ** 0.5
    return {k: w / norm for k, w in pairs}


def ids(clusters: list[list[StoryMember]]) -> set[frozenset[int]]:
    return {frozenset(m.id for m in c) for c in clusters}


def test_a_chain_of_pairwise_likeness_is_not_one_story() -> None:
    # a is like b, b like c, c like d, but a and d share nothing: single linkage would chain.
    a, b = member(1, None, unit((1, 1))), member(2, None, unit((1, 1), (2, 1)))
    c, d = member(3, None, unit((2, 1), (3, 1))), member(4, None, unit((3, 1)))
    clusters = story.average_linkage([a, b, c, d], dedup.DedupParams(story_threshold=0.5))
    assert len(clusters) > 1 and frozenset({1, 2, 3, 4}) not in ids(clusters)


def test_two_tight_events_stay_apart_and_each_holds_together() -> None:
    ev1 = [member(i, None, unit((1, 1), (2, 1), (9, 0.3)), hours=i) for i in range(3)]
    ev2 = [member(10 + i, None, unit((5, 1), (6, 1), (9, 0.3)), hours=i) for i in range(3)]
    assert ids(story.average_linkage(ev1 + ev2, P)) == {
        frozenset({0, 1, 2}),
        frozenset({10, 11, 12}),
    }


def test_the_same_words_days_apart_fade_below_the_threshold() -> None:
    vec = unit((1, 1), (2, 1))
    near = [member(1, None, vec), member(2, None, vec, hours=6)]
    far = [member(1, None, vec), member(2, None, vec, hours=24 * 5)]
    assert len(story.average_linkage(near, P)) == 1
    assert len(story.average_linkage(far, P)) == 2


def test_clusters_do_not_depend_on_the_order_members_come_in() -> None:
    rng = random.Random(5)
    members = [
        member(i, None, unit(*((k, rng.random()) for k in rng.sample(range(12), 4))), hours=i)
        for i in range(14)
    ]
    first = ids(story.average_linkage(members, P))
    for _ in range(20):
        assert ids(story.average_linkage(rng.sample(members, len(members)), P)) == first


@pytest.mark.parametrize(
    ("before", "clusters", "expected"),
    [
        # one cluster, most members were in story 7: it stays story 7
        ([7, 7, 9], [[0, 1, 2]], {0: 7, 1: 7, 2: 7}),
        # a story split in two: the larger part keeps the id, the other is a new story
        ([7, 7, 7, 7], [[0, 1, 2], [3]], {0: 7, 1: 7, 2: 7, 3: None}),
        # two stories joined: the one with more members gives its id; a tie, the lower id
        ([4, 4, 9], [[0, 1, 2]], {0: 4, 1: 4, 2: 4}),
        ([9, 4], [[0, 1]], {0: 4, 1: 4}),
        # a new report (no story yet) alone: a new story
        ([None, 3], [[0], [1]], {0: None, 1: 3}),
    ],
)
def test_clusters_continue_the_stories_most_of_their_members_were_in(
    before: list[int | None], clusters: list[list[int]], expected: dict[int, int | None]
) -> None:
    members = [member(i, s, {}, hours=i) for i, s in enumerate(before)]
    got = story.assign_stories([[members[i] for i in c] for c in clusters])
    assert {m.id: story for cluster, story in got for m in cluster} == expected


# --- the dense set, through storage ---------------------------------------------------------


@pytest.fixture
def make_app(tmp_path: Path, database_url: str) -> Iterator[Any]:
    apps: list[appmod.App] = []

    def build(database: str | None = None) -> appmod.App:
        cfg = {
            "database": database or database_url,
            "entities": str(REPO / "config" / "entities.yaml"),
            "reports_dir": str(tmp_path / "reports"),
        }
        path = tmp_path / "monitor.yaml"
        path.write_text(json.dumps(cfg), encoding="utf-8")
        app = appmod.build(load_settings(path), clock=Clock(), workers=1)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


def stories(app: appmod.App, records: list[dict[str, Any]]) -> dict[str, int]:
    import_articles(
        app.ctx,
        [
            ImportRecord(
                url=r["url"],
                title=r["title"],
                text=r["text"],
                published_at=datetime.fromisoformat(r["published_at"]),
                source=r["source"],
            )
            for r in records
        ],
    )
    with app.db.session() as s:
        rows = s.execute(select(ArticleRow.canonical_url, ArticleRow.story_id))
        by_url = {url: story for url, story in rows}
    return {r["id"]: by_url[dedup.canonical_url(r["url"])] for r in records}


def pairwise(story: dict[str, int]) -> tuple[float, float]:
    tp = fp = fn = 0
    for a, b in itertools.combinations(RECORDS, 2):
        truth, got = a["event"] == b["event"], story[a["id"]] == story[b["id"]]
        tp, fp, fn = tp + (truth and got), fp + (got and not truth), fn + (truth and not got)
    return tp / (tp + fp), tp / (tp + fn)


def test_the_set_is_dense_and_what_it_says() -> None:
    assert len(RECORDS) >= 80 and len({r["id"] for r in RECORDS}) == len(RECORDS)
    events = Counter(r["event"] for r in RECORDS if not r["event"].startswith("bg-"))
    assert len(events) >= 30 and max(events.values()) <= 6
    assert sum(r["kind"] == "background" for r in RECORDS) >= 10
    days = {r["published_at"][:10] for r in RECORDS}
    assert len(days) >= 10


def test_stories_do_not_chain_a_dense_field_together(make_app: Any) -> None:
    """In publication order (as a daemon meets them): no story grows past the largest true
    event, none mixes three events, the three rocket attacks on Ain al-Asad on three days
    stay three stories, and pairwise precision/recall hold the floor measured when this
    rule came in (benchmarks/stories.py prints the figures; the goal is P 0.95 / R 0.85)."""
    ordered = sorted(RECORDS, key=lambda r: (r["published_at"], r["id"]))
    story = stories(make_app(), ordered)
    largest_event = max(Counter(r["event"] for r in RECORDS).values())
    assert max(Counter(story.values()).values()) <= largest_event
    events: dict[int, set[str]] = {}
    for r in RECORDS:
        events.setdefault(story[r["id"]], set()).add(r["event"])
    assert max(len(e) for e in events.values()) <= 2
    asad = {"p1-ain-asad-rockets", "p2-asad-rockets-1", "p2-asad-rockets-2"}
    for found in events.values():
        assert len(found & asad) <= 1, found
    precision, recall = pairwise(story)
    assert precision >= 0.95 and recall >= 0.85, (precision, recall)
    for r in RECORDS:  # a background piece is a story of its own
        if r["kind"] == "background":
            assert events[story[r["id"]]] == {r["event"]}, r["id"]


def test_a_backfill_in_reverse_order_gives_the_daemons_stories(
    make_app: Any, tmp_path: Path
) -> None:
    """Newest first (a backfill, into a SQLite file) and oldest first (a daemon) give the
    same stories, but for a report: terms are weighed when clustered, and the pass settles
    the reports clustered in a window that has grown since."""
    by_time = sorted(RECORDS, key=lambda r: (r["published_at"], r["id"]))
    forward = stories(make_app(), by_time)
    backward = stories(make_app(f"sqlite:///{tmp_path / 'backfill.db'}"), by_time[::-1])
    for grouping in (forward, backward):
        precision, recall = pairwise(grouping)
        assert precision >= 0.95 and recall >= 0.85, (precision, recall)
    # The goal is the same stories; measured: one report (of 112) placed differently.
    together = [
        {
            pair
            for pair in itertools.combinations(sorted(story), 2)
            if story[pair[0]] == story[pair[1]]
        }
        for story in (forward, backward)
    ]
    differ = together[0] ^ together[1]
    assert len(differ) <= 0.05 * len(together[0] | together[1]), sorted(differ)


@pytest.mark.parametrize("seed", [1, 2])
def test_any_processing_order_meets_the_targets(make_app: Any, seed: int) -> None:
    shuffled = random.Random(seed).sample(RECORDS, len(RECORDS))
    story = stories(make_app(), shuffled)
    largest_event = max(Counter(r["event"] for r in RECORDS).values())
    assert max(Counter(story.values()).values()) <= largest_event
    precision, recall = pairwise(story)
    assert precision >= 0.95 and recall >= 0.85, (precision, recall)


def test_a_copy_follows_its_original_into_the_story(make_app: Any) -> None:
    copies = [r for r in RECORDS if r["kind"] == "copy"]
    assert copies
    story = stories(make_app(), sorted(RECORDS, key=lambda r: (r["published_at"], r["id"])))
    by_text = {r["text"]: r for r in RECORDS if r["kind"] == "report"}
    for c in copies:
        source = next((r for t, r in by_text.items() if t in c["text"]), None)
        if source is not None:
            assert story[c["id"]] == story[source["id"]], c["id"]
