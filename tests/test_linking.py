"""The duplicate, original and story decisions (`monitor.pipeline.linking`), as a table of
cases: pure functions of the article, the candidates a lookup returns and the settings, so
no database is needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.models import DedupCandidate, GroupHead, LinkSubject
from monitor.pipeline import dedup, linking, story
from monitor.pipeline.story import StoryMember

P = dedup.DedupParams()
T0 = datetime(2026, 11, 16, 8, tzinfo=UTC)
H = timedelta(hours=1)

# Two texts long enough to sign: one, a copy of it with a line added, another story.
REPORT = " ".join(
    f"Rockets struck the base at dawn on day {i} and officials counted the damage to hangar "
    f"number {i * 7} while engineers cleared the runway for the next flight {i}."
    for i in range(30)
)
COPY = REPORT + " Reporting by a wire service; editing by its desk."
OTHER = " ".join(
    f"The parliament met for session {i} and postponed the vote on the budget law clause "
    f"{i * 3} after the speaker adjourned the hall in the evening {i}."
    for i in range(30)
)


def subject(text: str = REPORT, **kw: object) -> LinkSubject:
    values: dict[str, object] = {
        "id": 100,
        "url": "https://a.example/report",
        "canonical_url": "https://a.example/report",
        "guid": None,
        "title": "Rockets strike base",
        "text": text,
        "text_hash": dedup.text_fingerprint(text),
        "at": T0,
    }
    values.update(kw)
    return LinkSubject(**values)  # type: ignore[arg-type]


def candidate(cid: int, text: str | None, *, same: bool = False, **kw: object) -> DedupCandidate:
    sig = dedup.signature(text, P) if text else None
    values: dict[str, object] = {
        "id": cid,
        "text_hash": dedup.text_fingerprint(text) if text else None,
        "duplicate_of_id": None,
        "story_id": cid + 1000,
        "at": T0 - H,
        "same": same,
        "shingles": None if sig is None else sig.shingles,
        "sketch": None if sig is None else sig.sketch,
    }
    values.update(kw)
    return DedupCandidate(**values)  # type: ignore[arg-type]


def sig(text: str) -> dedup.Signature | None:
    return dedup.signature(text, P)


def decide(
    me: LinkSubject, signature: dedup.Signature | None, found: list[DedupCandidate]
) -> linking.Links:
    """The decision as the runner makes it: sketches compared, then decided."""
    return linking.decide(me, found, linking.sketch_similarities(me, signature, found, P), P)


# --- tiers 1-3 ------------------------------------------------------------------------------

CASES = [
    # (name, article text, candidates, copies, related, exact)
    ("nothing found", REPORT, [], set(), set(), False),
    ("same text by identity: exact", REPORT, [candidate(1, REPORT, same=True)], {1}, set(), True),
    (
        "same page, other text: a copy, not exact",
        REPORT,
        [candidate(1, OTHER, same=True)],
        {1},
        set(),
        False,
    ),
    ("a near copy by its sketch", COPY, [candidate(1, REPORT)], {1}, set(), False),
    ("an unrelated text in a shared bucket", REPORT, [candidate(1, OTHER)], set(), set(), False),
    ("no sketch stored: not compared", REPORT, [candidate(1, None)], set(), set(), False),
    (
        "an excerpt: the first paragraphs of the report",
        REPORT[: len(REPORT) // 2],
        [candidate(1, REPORT)],
        {1},
        set(),
        False,
    ),
]


@pytest.mark.parametrize(
    ("text", "found", "copies", "related", "exact"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_what_an_article_is_to_the_candidates(
    text: str,
    found: list[DedupCandidate],
    copies: set[int],
    related: set[int],
    exact: bool,
) -> None:
    links = decide(subject(text), sig(text), found)
    assert {c.id for c in links.copies} == copies
    assert {c.id for c in links.related} == related
    assert links.exact is exact


def test_a_text_too_short_to_sign_is_linked_by_identity_only() -> None:
    short = "Two rockets hit the base."
    me = subject(short)
    found = [candidate(1, REPORT, same=True), candidate(2, REPORT)]
    links = decide(me, None, found)
    assert {c.id for c in links.copies} == {1} and not links.related


def test_a_partial_copy_within_the_window_is_related_and_outside_it_is_not() -> None:
    # Half of the report's sentences, the rest new: more than story_similarity in common,
    # less than a duplicate.
    half = " ".join(REPORT.split(". ")[:15]) + ". " + OTHER
    near = candidate(1, REPORT, at=T0 - H)
    far = candidate(2, REPORT, at=T0 - P.story_window - H)
    links = decide(subject(half), sig(half), [near, far])
    assert {c.id for c in links.related} == {1} and not links.copies
    assert linking.related_stories(links) == {1001}


def test_an_undecided_sketch_is_settled_on_the_stored_text() -> None:
    """An edited excerpt of a long report: its sketch estimate is too rough to call, so
    `needs_text` names the candidate and `decide` goes by the stored text it is given."""
    long = " ".join(
        f"Rockets struck the base at dawn on day {i} and officials counted the damage to "
        f"hangar number {i * 7} while engineers cleared the runway for the next flight {i}"
        for i in range(150)
    )
    sentences = long.split(" Rockets")[:8]
    excerpt = " Rockets".join(
        s.replace("officials", "local officials") if j % 3 == 0 else s
        for j, s in enumerate(sentences)
    )
    me, found = subject(excerpt), [candidate(1, long)]
    sims = linking.sketch_similarities(me, sig(excerpt), found, P)
    assert linking.needs_text(sims, P) == [1]
    by_text = linking.decide(me, found, sims, P, {1: long})
    assert {c.id for c in by_text.copies} == {1}
    # the text decides, not the sketch: a stored text that is another story is no copy
    other = linking.decide(me, found, sims, P, {1: OTHER})
    assert not other.copies


@pytest.mark.parametrize(
    ("guid", "url", "expected"),
    [
        (None, "https://a.example/x", None),
        ("https://a.example/x", "https://a.example/x", "https://a.example/x"),  # permalink
        ("urn:uuid:0f8e4c2a-77d1-4e0b", "https://a.example/x", "urn:uuid:0f8e4c2a-77d1-4e0b"),
        ("12345", "https://a.example/x", None),  # unique inside one feed only
    ],
)
def test_the_key_a_guid_is_matched_by(guid: str | None, url: str, expected: str | None) -> None:
    me = subject(guid=guid, url=url, canonical_url=url)
    assert linking.guid_lookup_key(me) == expected


# --- the original of a group ----------------------------------------------------------------


def head(hid: int, at: datetime, url: str, dup: int | None = None) -> GroupHead:
    return GroupHead(at, url, hid, dup)


ORIGINAL_CASES = [
    ("alone: itself", [], 100),
    ("an earlier head: it", [head(1, T0 - H, "https://b.example/1")], 1),
    ("a later head: itself", [head(1, T0 + H, "https://b.example/1")], 100),
    ("same time: the lower URL", [head(1, T0, "https://0.example/1")], 1),
    ("same time, higher URL: itself", [head(1, T0, "https://z.example/1")], 100),
    (
        "two groups bridged: the earliest",
        [head(1, T0 - H, "https://b.example/1"), head(2, T0 - 2 * H, "https://c.example/2")],
        2,
    ),
]


@pytest.mark.parametrize(
    ("heads", "original"), [c[1:] for c in ORIGINAL_CASES], ids=[c[0] for c in ORIGINAL_CASES]
)
def test_the_original_is_the_earliest_then_the_lowest_url(
    heads: list[GroupHead], original: int
) -> None:
    assert linking.choose_original(subject(), heads) == original


def test_copies_follow_their_originals_group_and_story() -> None:
    copy_of_copy = candidate(3, REPORT, same=True, duplicate_of_id=1, story_id=7)
    links = decide(subject(), sig(REPORT), [copy_of_copy])
    assert linking.group_roots(links) == {1}
    assert linking.copy_stories(links) == {7}


# --- stories ----------------------------------------------------------------------------------


def member(mid: int, story: int | None, hours: float, vector: dict[int, float]) -> StoryMember:
    return StoryMember(mid, story, T0 + timedelta(hours=hours), f"https://s.example/{mid}", vector)


def test_weighing_counts_the_new_article_in_the_window_once() -> None:
    counts = {story.ANY_KEY: 10, 1: 1, 2: 8}
    new, _ = linking.weigh({1: 1, 2: 1}, {}, counts, P, stored=False, window_sample=2000)
    stored, _ = linking.weigh({1: 1, 2: 1}, {}, counts, P, stored=True, window_sample=2000)
    # New: key 2 in 9 of 11 articles, over the 0.8 share (8): weightless. Stored (counted
    # already): 8 of 10, not over it.
    assert set(new) == {1} and set(stored) == {1, 2}


REGROUP_CASES = [
    (
        "joins the story it is close to as a whole",
        [member(1, 5, -2, {1: 1.0}), member(2, 5, -1, {1: 1.0})],
        {1: 1.0},
        5,
    ),
    ("nothing close: a new story", [member(1, 5, -2, {9: 1.0})], {1: 1.0}, None),
    (
        "close to one member of a story that is far from it: stays apart",
        [
            member(1, 5, -2, {1: 0.25, 2: 0.97}),
            member(2, 5, -2, {2: 1.0}),
            member(3, 5, -2, {2: 1.0}),
        ],
        {1: 1.0},
        None,
    ),
    ("the same words three days apart fade", [member(1, 5, -72, {1: 1.0})], {1: 1.0}, None),
]


@pytest.mark.parametrize(
    ("neighbourhood", "vector", "story"),
    [c[1:] for c in REGROUP_CASES],
    ids=[c[0] for c in REGROUP_CASES],
)
def test_a_report_joins_a_story_only_when_close_to_it_as_a_whole(
    neighbourhood: list[StoryMember], vector: dict[int, float], story: int | None
) -> None:
    me = StoryMember(100, None, T0, "https://a.example/report", vector)
    _, got = linking.regroup(me, neighbourhood, P).story_of(100)
    assert got == story
