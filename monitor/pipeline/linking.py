"""The duplicate, original and story decisions, as pure functions of what the index holds:
the runner reads candidates from storage, decides here, and has storage apply it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitor.models import DedupCandidate, GroupHead, LinkSubject
from monitor.pipeline import dedup, story


def guid_lookup_key(subject: LinkSubject) -> str | None:
    """The key an article's GUID is matched by: its canonical URL when the GUID is the
    permalink (most feeds), else the GUID's own key (None: no usable GUID)."""
    guid, url = subject.guid, subject.url
    permalink = guid is not None and guid.strip() == url
    if permalink and url.lower().startswith(("http://", "https://")):
        return subject.canonical_url
    return dedup.guid_key(guid)


@dataclass(frozen=True)
class Links:
    """What an article is to the stored ones: copies of the same page or text (`copies`),
    partial copies that say it is the same story (`related`), and whether one of the copies
    has exactly its text (`exact`: that copy's original carries the index for both)."""

    copies: tuple[DedupCandidate, ...] = ()
    related: tuple[DedupCandidate, ...] = ()
    exact: bool = False


def sketch_similarities(
    subject: LinkSubject,
    sig: dedup.Signature | None,
    found: Sequence[DedupCandidate],
    p: dedup.DedupParams,
) -> dict[int, dedup.Similarity]:
    """Each candidate with a stored sketch, compared with the article's signature (none
    when it has no signature, or when an identity match has exactly its text)."""
    if sig is None or _exact(subject, found):
        return {}
    return {c.id: _sketch_similarity(sig, c, p) for c in found if c.sketch is not None}


def needs_text(sims: Mapping[int, dedup.Similarity], p: dedup.DedupParams) -> list[int]:
    """The candidates whose sketches leave the call open (rare: a bucket shared, yet no
    clear call): `decide` compares their stored texts, which the caller reads for it."""
    return [cid for cid, sim in sims.items() if dedup.undecided(sim, p)]


def decide(
    subject: LinkSubject,
    found: Sequence[DedupCandidate],
    sims: Mapping[int, dedup.Similarity],
    p: dedup.DedupParams,
    texts: Mapping[int, str] | None = None,
) -> Links:
    """Tiers 1-3: identity matches (`same`) are copies; the others are judged on their
    sketches' similarities `sims` (or, where `needs_text` named them, on `texts`): a
    near-duplicate is a copy, a partial one within the story window is related. An exact
    copy ends the search."""
    copies = {c.id: c for c in found if c.same}
    if _exact(subject, found):
        return Links(tuple(copies.values()), (), True)
    related: dict[int, DedupCandidate] = {}
    mine = None
    for c in found:
        sim = sims.get(c.id)
        if sim is None:
            continue
        if texts is not None and c.id in texts and dedup.undecided(sim, p):
            mine = dedup.text_shingles(subject.text, p) if mine is None else mine
            sim = dedup.exact_compare(mine, dedup.text_shingles(texts[c.id], p))
        if dedup.is_duplicate(sim, p):
            copies[c.id] = c
        elif sim.best >= p.story_similarity and abs(c.at - subject.at) <= p.story_window:
            related[c.id] = c
    related = {k: v for k, v in related.items() if k not in copies}
    return Links(tuple(copies.values()), tuple(related.values()), False)


def _exact(subject: LinkSubject, found: Sequence[DedupCandidate]) -> bool:
    return any(c.same and c.text_hash == subject.text_hash for c in found)


def _sketch_similarity(
    sig: dedup.Signature, c: DedupCandidate, p: dedup.DedupParams
) -> dedup.Similarity:
    assert c.sketch is not None and c.shingles is not None
    return dedup.compare(sig, dedup.Signature(c.shingles, c.sketch, ()), p.sketch_size)


def group_roots(links: Links) -> set[int]:
    """The originals of the groups an article's copies are in."""
    return {c.duplicate_of_id or c.id for c in links.copies}


def choose_original(subject: LinkSubject, heads: Sequence[GroupHead]) -> int:
    """The original of the group an article joins with `heads`: the earliest published,
    ties by canonical URL — the article itself if none is earlier."""
    mine = (subject.at, subject.canonical_url)
    earlier = [h for h in heads if (h.at, h.canonical_url) < mine]
    return min(earlier).id if earlier else subject.id


def copy_stories(links: Links) -> set[int]:
    """The stories of an article's copies: a copy is its text's story, whatever its words."""
    return {c.story_id for c in links.copies if c.story_id is not None}


def related_stories(links: Links) -> set[int]:
    return {c.story_id for c in links.related if c.story_id is not None}


@dataclass(frozen=True)
class Regroup:
    """The outcome of clustering a neighbourhood again: each cluster with the story it
    continues (None: a new one, titled by its earliest report)."""

    clusters: tuple[tuple[tuple[story.StoryMember, ...], int | None], ...]

    def story_of(self, article: int) -> tuple[tuple[story.StoryMember, ...], int | None]:
        return next((c, s) for c, s in self.clusters if any(m.id == article for m in c))


def weigh(
    tf: dict[int, int],
    others: Mapping[int, dict[int, int]],
    counts: Mapping[int, int],
    p: dedup.DedupParams,
    *,
    stored: bool,
    window_sample: int,
) -> tuple[story.StoryVector, dict[int, story.StoryVector]]:
    """The story vectors of an article (its term counts `tf`) and of `others`, tf-idf with
    the idf over one story window's `counts` (ANY_KEY: the articles in it, counted up to
    `window_sample`), with the article in the window (`stored`: counted already)."""
    new = not stored
    articles = min(counts[story.ANY_KEY], window_sample) + new
    keys = set(tf).union(*others.values())
    df = {k: counts.get(k, 0) + (new and k in tf) for k in keys}
    return (
        story.story_vector(tf, df, articles, p),
        {aid: story.story_vector(terms, df, articles, p) for aid, terms in others.items()},
    )


def regroup(
    me: story.StoryMember, neighbourhood: Sequence[story.StoryMember], p: dedup.DedupParams
) -> Regroup:
    """Cluster `me` with its neighbourhood again as a whole (average linkage) and say which
    story each cluster continues."""
    members = [*neighbourhood, me]
    assigned = story.assign_stories(story.average_linkage(members, p))
    return Regroup(tuple((tuple(c), s) for c, s in assigned))
