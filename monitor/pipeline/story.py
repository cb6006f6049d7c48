"""Story keys and story clustering: what in a report's opening says which event it is
about (its terms), the tf-idf story vector over a window, background pieces, and average
linkage of a neighbourhood of reports into stories. Pure functions."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlsplit

import numpy as np

from monitor.models import DedupParams, EntityHit
from monitor.pipeline.normalize import fold

_WORD = re.compile(r"\w+")
_NAME = re.compile(r"(?<![.!?]\s)\b([A-Z][\w'’-]{3,})")
# A multi-word name: capitalised words, figures and the particles Arabic names join with.
_CAP_WORD = r"(?:[A-Z][\w'’]+|al-[A-Z][\w'’]+)"
_PHRASE = re.compile(
    rf"{_CAP_WORD}(?:[ -](?:(?:al|bin|ibn|el|of|de|the)[ -])?(?:{_CAP_WORD}|\d[\w,]*))*"
)
_FIGURE = re.compile(r"\b\d[\d,.]*\w*")
_STORY_STOP = frozenset(
    """this that these those there their they when where what which while
    with from into after before about since said says also however according
    other some many more most have been were will would could should officials
    official government monday tuesday wednesday thursday friday saturday sunday
    january february march april june july august september october november december
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def story_lead(title: str, text: str, p: DedupParams) -> str:
    """The part of an article that says what event it reports: title and opening paragraphs."""
    paras = [para for para in text.split("\n") if para.strip()]
    return f"{title}\n\n" + "\n".join(paras[: p.story_lead_paragraphs])[: p.story_lead_chars]


_WEEKDAYS = frozenset(
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
)
_TERM_STOP = _STORY_STOP | frozenset(
    """the and but for not nor was are has had his her its our out who whom whose why how
    than then them off over under very just only own same such both each few any all one two
    new told last first did does can may might must shall being been into onto upon per via
    reported reports report news""".split()  # noqa: SIM905 - a word list reads better as text
)


def _stem(word: str) -> str:
    """Plural and singular as one term (drones/drone, militias/militia), nothing cleverer."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def story_terms(lead: str) -> list[str]:
    """What says which event a report is about, with repeats (term frequency): the lead's
    content words (the title's twice); its multi-word names ("Jurf al-Sakhar", "Dar
    al-Sanabil", "Silver Crescent Logistics") and figures ("107mm", "148,000") three and
    two times over, as a shared place, firm or figure says more than a shared word; and
    each name of the lead joined with each weekday the lead names ("harir@monday"), so one
    base hit on two days gives two events."""
    title = lead.partition("\n\n")[0]
    folded = fold(lead)
    words = [_stem(w) for w in _WORD.findall(folded) if len(w) > 2 and w not in _TERM_STOP]
    words += [_stem(w) for w in _WORD.findall(fold(title)) if len(w) > 2 and w not in _TERM_STOP]
    phrases = [_fold_name(m.group(0)) for m in _PHRASE.finditer(lead)]
    phrases = [p for p in phrases if " " in p or "-" in p]
    figures = _FIGURE.findall(lead)
    days = sorted({w for w in _WORD.findall(folded) if w in _WEEKDAYS})
    names = sorted({_fold_name(m.group(1)) for m in _NAME.finditer(lead)} - _STORY_STOP)
    return (
        [f"w:{w}" for w in words]
        + [f"p:{p}" for p in phrases] * 3
        + [f"n:{n}" for n in figures] * 2
        + [f"x:{n}@{d}" for n in names for d in days]
    )


# How outlets label what is not a report of one event: explainers, analysis, profiles,
# opinion and roundups, in a headline's label ("Analysis: ...", "EXPLAINER - ...") or a
# section of the URL path (/analysis/, /explainers/, /weekly/).
_BACKGROUND_LABEL = re.compile(
    r"^\W*(?:explainer|explained|analysis|news analysis|profile|opinion|op-ed|comment"
    r"|commentary|editorial|factbox|fact box|q&a|timeline|in depth|in-depth|insight|interview"
    r"|podcast|newsletter|week in review|the week|weekly|column|تحليل|رأي|مقال|تحلیل|یادداشت)"
    r"\s*[:|\-\u2013\u2014]",
    re.IGNORECASE,
)
_BACKGROUND_TITLE = re.compile(
    r"^\W*(?:(?:the )?week in review\b|(?:what|who) (?:is|are|was|were)\b.*\?\s*$)",
    re.IGNORECASE,
)
_BACKGROUND_SECTIONS = frozenset(
    """explainer explainers explained analysis analyses opinion opinions comment commentary
    editorial editorials profile profiles factbox factboxes in-depth indepth longform
    insight insights weekly week-in-review podcast podcasts newsletter newsletters
    columns columnists""".split()  # noqa: SIM905 - a word list reads better as text
)


def is_background(title: str, url: str) -> bool:
    """Whether a piece labels itself as background rather than a report of one event: an
    explainer, analysis, profile, opinion piece or weekly roundup (by its headline's label
    or its URL's section). Such a piece names many events, so it is a story of its own:
    no report joins it, and it joins no report's story."""
    if _BACKGROUND_LABEL.match(title) or _BACKGROUND_TITLE.match(title):
        return True
    path = urlsplit(url).path.lower().split("/")[:-1]  # the sections, not the slug
    return any(part in _BACKGROUND_SECTIONS for part in path)


def article_story_keys(
    title: str, text: str, hits: Sequence[EntityHit], p: DedupParams
) -> tuple[int, ...]:
    """The story keys of an article, one per occurrence of a term (see `story_terms`), as
    signed 64-bit hashes. The first key is `ANY_KEY`, carried by every indexed article, so
    one lookup also counts the articles in a window. `hits` are not used: an actor's many
    spellings matter less than the words the reports of one event share."""
    del hits
    return (ANY_KEY, *(_term_key(t) for t in story_terms(story_lead(title, text, p))))


@lru_cache(maxsize=65536)
def _term_key(term: str) -> int:
    return _key(term)


@lru_cache(maxsize=16384)
def _fold_name(name: str) -> str:
    # Names recur from article to article, and folding a short string costs ~10 us.
    return fold(name)


StoryVector = dict[int, float]


def story_vector(
    tf: dict[int, int], df: dict[int, int], window_articles: int, p: DedupParams
) -> StoryVector:
    """The unit-length tf-idf vector of an article's story keys, idf over the story window:
    a key found in more than `story_max_key_share` of the window's articles ("Iraq", "US",
    the big militias in an Iraq watch) weighs nothing; the rarer a key, the more it weighs.
    The idf is smoothed (1 + log), so with no window to judge by, the keys weigh by their
    frequency alone, and a young database's few articles say how common a key is."""
    n = window_articles
    cap = rare_cap(n, p)
    weights = {
        k: (1.0 + math.log(c)) * (1.0 + math.log((n + 1) / (df.get(k, 0) + 1)))
        for k, c in tf.items()
        if k != ANY_KEY and df.get(k, 0) <= cap
    }
    norm = math.sqrt(sum(w * w for w in weights.values()))
    return {k: w / norm for k, w in weights.items() if w > 0} if norm else {}


def cosine(a: StoryVector, b: StoryVector) -> float:
    return sum(a[k] * b[k] for k in a.keys() & b.keys())


def pack_terms(tf: dict[int, int]) -> tuple[bytes, bytes]:
    """An article's story keys and their counts as stored: int64 keys, float32 counts."""
    return (
        np.fromiter(tf.keys(), dtype=np.int64, count=len(tf)).tobytes(),
        np.fromiter(tf.values(), dtype=np.float32, count=len(tf)).tobytes(),
    )


def unpack_terms(keys: bytes, counts: bytes) -> dict[int, int]:
    k, c = np.frombuffer(keys, dtype=np.int64), np.frombuffer(counts, dtype=np.float32)
    return dict(zip(k.tolist(), c.astype(np.int64).tolist(), strict=True))


def term_counts(keys: Sequence[int]) -> dict[int, int]:
    """How often each story key occurs (`article_story_keys` repeats a key per occurrence)."""
    return dict(Counter(k for k in keys if k != ANY_KEY))


def top_keys(vec: StoryVector, count: int) -> list[int]:
    """The heaviest keys, heaviest first (ties by key, the same in any order)."""
    return [k for _, k in sorted(((-w, k) for k, w in vec.items()))[:count]]


@dataclass(frozen=True)
class StoryMember:
    """An article in a story neighbourhood: its story (None for the new article), time,
    canonical URL (to order ties the same way in any processing order) and vector."""

    id: int
    story_id: int | None
    at: datetime
    url: str
    vector: StoryVector


def member_similarity(a: StoryMember, b: StoryMember, p: DedupParams) -> float:
    """Cosine of the vectors, fading with the time between the reports (halved every
    `story_decay` x ln 2): one base hit on two days is two events."""
    apart = abs((a.at - b.at).total_seconds()) / p.story_decay.total_seconds()
    return cosine(a.vector, b.vector) * math.exp(-apart)


def average_linkage(members: Sequence[StoryMember], p: DedupParams) -> list[list[StoryMember]]:
    """Clusters in which every report is, on average, close to every other: the closest
    pair of clusters merges while their mean similarity is at least `story_threshold`.
    Members are taken in (time, URL) order and ties broken by it, so the same members give
    the same clusters whatever order they were stored in."""
    items = sorted(members, key=lambda m: (m.at, m.url, m.id))
    n = len(items)
    # total[i][j]: the sum of similarities between clusters i and j (symmetric)
    total = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            total[i][j] = total[j][i] = member_similarity(items[i], items[j], p)
    clusters: list[list[int]] = [[i] for i in range(n)]
    while len(clusters) > 1:
        best, pair = p.story_threshold, None
        for i, a in enumerate(clusters):
            for j in range(i + 1, len(clusters)):
                mean = total[i][j] / (len(a) * len(clusters[j]))
                if mean >= best and (pair is None or mean > best):
                    best, pair = mean, (i, j)
        if pair is None:
            break
        i, j = pair
        clusters[i] += clusters.pop(j)
        for k in range(len(total)):
            total[i][k] += total[j][k]
            total[k][i] = total[i][k]
        total.pop(j)
        for row in total:
            row.pop(j)
    return [[items[i] for i in c] for c in clusters]


def assign_stories(
    clusters: Sequence[Sequence[StoryMember]],
) -> list[tuple[Sequence[StoryMember], int | None]]:
    """Each cluster with the story it continues: the one most of its members were in, the
    largest clusters choosing first (ties: lower story id); None where a cluster takes no
    existing story (it becomes a new one)."""
    order = sorted(clusters, key=lambda c: (-len(c), min((m.at, m.url) for m in c)))
    used: set[int] = set()
    out: list[tuple[Sequence[StoryMember], int | None]] = []
    for cluster in order:
        votes = Counter(m.story_id for m in cluster if m.story_id is not None)
        ranked = sorted(votes.items(), key=lambda v: (-v[1], v[0]))
        story = next((sid for sid, _ in ranked if sid not in used), None)
        if story is not None:
            used.add(story)
        out.append((cluster, story))
    return out


def rare_cap(window_articles: int, p: DedupParams) -> int:
    """The most articles in a window a key may be found in and still weigh anything."""
    return max(2, int(p.story_max_key_share * window_articles))


def _key(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


ANY_KEY = _key("*")
