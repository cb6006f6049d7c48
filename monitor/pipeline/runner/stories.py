"""Linking a stored article: its duplicate group, its story, its index rows. Reads from
the dedup index, decides in `monitor.pipeline.linking`, has storage apply the decision."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from monitor.models import LinkSubject
from monitor.pipeline import dedup, linking, story
from monitor.pipeline.runner.context import Context
from monitor.storage import dedup_index as index
from monitor.storage.engine import Tx

SETTLE_BATCH = 50  # originals settled per transaction
SETTLE_GROWTH = 1.25  # a story window grown by more than this since: clustered again


def link(
    p: dedup.DedupParams,
    tx: Tx,
    subject: LinkSubject,
    now: datetime,
    *,
    sig: dedup.Signature | None,
    keys: tuple[int, ...],
) -> int | None:
    """Link a copy to its group's original (tiers 1-3), put the article in a story, index it.

    `sig` is `dedup.signature` of the text and `keys` `story.article_story_keys` of the
    title and text, computed in an extraction worker. Groups and stories are the
    connected parts of a symmetric relation and the original is the earliest published
    member, so the outcome does not depend on processing order. Returns, for an original
    clustered by its words, the size of the story window it was weighed in (what
    `settle_stories` needs), else None.
    """
    index.set_page(tx, subject.id, subject.page_canonical_url)
    found = index.candidates(
        tx,
        subject.id,
        text_hash=subject.text_hash,
        canonical_url=subject.canonical_url,
        page=subject.page_canonical_url,
        guid=subject.guid,
        guid_key=linking.guid_lookup_key(subject),
        band_keys=() if sig is None else sig.band_keys,
    )
    sims = linking.sketch_similarities(subject, sig, found, p)
    texts = {aid: index.text_of(tx, aid) for aid in linking.needs_text(sims, p)}
    links = linking.decide(subject, found, sims, p, texts)
    if links.exact:
        sig, keys = None, ()
    original = _join_group(tx, subject, links)
    background = story.is_background(subject.title, subject.url)
    # Only originals are clustered: a copy's terms would never be read. A background
    # piece stores none either: no report joins its story, it joins none.
    tf = story.term_counts(keys) if original == subject.id and not background else {}
    seen = None
    if copied := linking.copy_stories(links):
        index.join_story(tx, subject.id, copied, now)
    elif background:
        index.join_story(tx, subject.id, set(), now)
    else:
        me = story.StoryMember(subject.id, None, subject.at, subject.canonical_url, {})
        joined = _regroup(p, tx, me, tf, linking.related_stories(links), now, stored=False)
        index.join_story(tx, subject.id, set() if joined is None else {joined}, now)
        seen = index.window_key_counts(tx, (), subject.at, p)[story.ANY_KEY]
    index.index(tx, subject.id, sig, keys, tf, subject.at, p)
    return seen


def _join_group(tx: Tx, subject: LinkSubject, links: linking.Links) -> int:
    """Merge the article and its copies' groups; the earliest becomes original (returned)."""
    roots = linking.group_roots(links)
    heads = index.group_heads(tx, roots)
    original = linking.choose_original(subject, heads)
    index.merge_groups(tx, subject.id, heads, original)
    return original


def _regroup(
    p: dedup.DedupParams,
    tx: Tx,
    me: story.StoryMember,
    tf: dict[int, int],
    near: set[int],
    now: datetime,
    *,
    stored: bool,
) -> int | None:
    """Cluster the reports around `me` (term counts `tf`) again and store the outcome; the
    story `me` is in (None: none yet, for an article not stored yet: its caller opens one).

    The neighbourhood is the stories of the articles sharing one of its heaviest keys in
    the link window, and `near` (partial copies). Its reports are clustered again as a
    whole (average linkage), so a report joins the story it is close to as a whole, and a
    late report can also split or join stories as the evidence now says, not as it said in
    arrival order. Terms are weighed now, with the story window as it stands, not when each
    report was stored, so a neighbourhood's reports weigh their words alike whatever order
    they came in."""
    at = me.at
    lo, hi = at - p.story_link_window, at + p.story_link_window
    counts = index.window_key_counts(tx, tf, at, p)
    vector, _ = linking.weigh(
        tf, {}, counts, p, stored=stored, window_sample=index.STORY_WINDOW_SAMPLE
    )
    top = story.top_keys(vector, p.story_top_keys)
    stories = near | index.stories_near(tx, top, lo, hi, me.id)
    if me.story_id is not None:
        stories.add(me.story_id)
    if not stories:
        return None
    members = index.story_members(tx, stories, at - p.story_window, at + p.story_window, me.id)
    terms = index.story_terms(tx, [m.id for m in members])
    counts = index.window_key_counts(tx, set().union(*terms.values()), at, p)
    # One window, counted once: the article's own vector is the one weighed above.
    _, vectors = linking.weigh(
        tf, terms, counts, p, stored=stored, window_sample=index.STORY_WINDOW_SAMPLE
    )
    neighbourhood = [
        story.StoryMember(m.id, m.story_id, m.at, m.canonical_url, vectors.get(m.id, {}))
        for m in members
    ]
    outcome = linking.regroup(replace(me, vector=vector), neighbourhood, p)
    kept: set[int] = set()
    mine: int | None = None
    for cluster, continued in outcome.clusters:
        sid = continued
        if sid is None:
            earliest = min(cluster, key=lambda m: (m.at, m.url)).id
            sid = index.new_story(tx, index.title_of(tx, earliest), now)
        kept.add(sid)
        if any(m.id == me.id for m in cluster):
            mine = sid
        moved = [m.id for m in cluster if m.story_id != sid and (stored or m.id != me.id)]
        index.move_to_story(tx, moved, sid)
    # A story no cluster continues may still hold reports outside the neighbourhood.
    index.drop_empty_stories(tx, stories - kept)
    return mine


def settle_stories(ctx: Context, clustered: dict[int, int]) -> None:
    """Cluster again, once a pass is stored, around each original it clustered in a story
    window that has grown by more than SETTLE_GROWTH since, in publication order. Each was
    clustered with the window as it stood when it came: in a backfill or a first import
    (newest first, or all at once) the early ones met a nearly empty window, which weighs
    every word as rare. After this, stories are what the stored reports say, whatever
    order they came in; a daemon's pass, which grows a week's window by little, settles
    little."""
    p = ctx.dedup
    ids = sorted(clustered)
    now = ctx.clock()
    for start in range(0, len(ids), SETTLE_BATCH):
        with ctx.db.transaction() as tx:
            chunk = ids[start : start + SETTLE_BATCH]
            terms = index.story_terms(tx, chunk)
            originals = index.originals_among(tx, chunk)
            for aid, at, url in sorted(originals, key=lambda r: (r[1], r[2], r[0])):
                window = index.window_key_counts(tx, (), at, p)[story.ANY_KEY]
                if aid not in terms or window <= clustered[aid] * SETTLE_GROWTH:
                    continue
                me = story.StoryMember(aid, index.story_of(tx, aid), at, url, {})
                _regroup(p, tx, me, terms[aid], set(), now, stored=True)


def reindex(
    p: dedup.DedupParams,
    tx: Tx,
    subject: LinkSubject,
    old_text: str,
    *,
    original: bool,
    sig: dedup.Signature | None,
    keys: tuple[int, ...],
) -> None:
    """Replace the index rows of an article whose text (or time) re-extraction changed.

    `old_text` is its text before. Its story keys and terms go; when the text changed, so
    do the sketch and LSH buckets the old text made (recomputed with the current dedup
    code). When only the time changed, the sketch and buckets stay and the keys are stored
    again at the new time, if the article had them: an exact copy's group relies on its
    original's rows. When the text changed, `sig` and `keys` of the new text come in,
    unless another article has the same text (its group's original carries the index, as
    when it was first stored). Links and stories are kept (`reextract`'s rule)."""
    had_keys = index.unindex_keys(tx, subject.id)
    tf = story.term_counts(keys) if original else {}
    if subject.text == old_text:  # the time alone moved: sketch and buckets stay, keys follow
        if had_keys:
            index.index(tx, subject.id, None, keys, tf, subject.at, p)
        return
    index.unindex_text(tx, subject.id, dedup.signature(old_text, p) if old_text else None)
    if not index.text_shared(tx, subject.id, subject.text_hash):
        index.index(tx, subject.id, sig, keys, tf, subject.at, p)
