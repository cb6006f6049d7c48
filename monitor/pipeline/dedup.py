"""Duplicate and story keys: canonical URLs, a text fingerprint, MinHash band keys, sketches.

Pure functions; the runner stores the keys, looks candidates up in storage and links copies.
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import chain
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
from courlan import normalize_url
from datasketch import MinHash  # type: ignore[import-untyped]

from monitor.models import EntityHit
from monitor.pipeline.normalize import fold

_WORD = re.compile(r"\w+")
_NAME = re.compile(r"(?<![.!?]\s)\b([A-Z][\w'’-]{3,})")
# A multi-word name: capitalised words, figures and the particles Arabic names join with.
_CAP_WORD = r"(?:[A-Z][\w'’]+|al-[A-Z][\w'’]+)"
_PHRASE = re.compile(
    rf"{_CAP_WORD}(?:[ -](?:(?:al|bin|ibn|el|of|de|the)[ -])?(?:{_CAP_WORD}|\d[\w,]*))*"
)
_FIGURE = re.compile(r"\b\d[\d,.]*\w*")
_MOBILE_HOSTS = ("amp.", "m.", "mobile.")
_AMP_QUERY = {"amp", "amp_js_v", "usqp", "outputtype"}
_AMP_CACHE = re.compile(r"^/[cv]/(?:s/)?([^/]+)(/.*)?$")
_PRIME = np.uint64(0x100000001B3)
# The 32-bit murmur3 finaliser, as datasketch's affine32 scheme premixes with it.
_FMIX_S1, _FMIX_S2 = np.uint32(16), np.uint32(13)
_FMIX_M1, _FMIX_M2 = np.uint32(0x85EBCA6B), np.uint32(0xC2B2AE35)
_U32_MAX = np.uint32(0xFFFFFFFF)
_STORY_STOP = frozenset(
    """this that these those there their they when where what which while
    with from into after before about since said says also however according
    other some many more most have been were will would could should officials
    official government monday tuesday wednesday thursday friday saturday sunday
    january february march april june july august september october november december
    """.split()  # noqa: SIM905 - a word list reads better as text
)
_LINE = "qzlinebreakqz"
LEAD_BAND_BASE = 1000  # lead-window bands share ids across windows, apart from full-text bands


@dataclass(frozen=True)
class DedupParams:
    """Thresholds and sizes of the near-duplicate and story tiers (see `dedup:` in config)."""

    shingle_words: int = 5
    bands: int = 24
    rows_per_band: int = 4
    lead_bands: int = 6
    lead_shingles: int = 50
    lead_windows: int = 2
    sketch_size: int = 256
    min_shingles: int = 30
    duplicate_jaccard: float = 0.5
    duplicate_containment: float = 0.8
    story_similarity: float = 0.2
    story_threshold: float = 0.09
    story_top_keys: int = 16
    story_decay: timedelta = timedelta(days=1)
    story_max_key_share: float = 0.8
    story_lead_paragraphs: int = 3
    story_lead_chars: int = 2000
    story_link_window: timedelta = timedelta(days=2)
    story_window: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class Signature:
    """What near-duplicate search stores of one article's text.

    `sketch` holds the `sketch_size` smallest distinct 32-bit shingle hashes (a bottom-k
    sketch): it estimates Jaccard and, unlike MinHash, containment of an excerpt.
    `band_keys` are the LSH bucket keys (signed 64-bit) of the MinHash bands.
    """

    shingles: int
    sketch: bytes
    band_keys: tuple[int, ...]


@dataclass(frozen=True)
class Similarity:
    jaccard: float
    containment: float  # of the shorter text in the longer one

    @property
    def best(self) -> float:
        return max(self.jaccard, self.containment)


# --- tier 1: identity ------------------------------------------------------------------


def canonical_url(url: str) -> str:
    """The identity of a URL: lower-case host, no default port, fragment or tracking params.

    Query parameters are sorted; `utm_*`, `fbclid`, `gclid` and similar trackers go (courlan).
    AMP and mobile variants fold onto the main page: `amp.`/`m.`/`mobile.` host prefixes,
    an `/amp` path segment, `?amp=1`, and Google AMP cache URLs.
    A URL courlan cannot parse is returned stripped of its fragment only.
    """
    url = _unwrap_amp_cache(url.strip())
    try:
        normal = normalize_url(url, strict=False)
    except (ValueError, AttributeError):
        normal = url
    normal = str(normal)
    parts = urlsplit(normal)
    host = _main_host(parts.netloc.lower())
    path = _drop_amp_segment(parts.path or "/")
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k.lower() not in _AMP_QUERY
        ]
    )
    return urlunsplit((parts.scheme.lower(), host, path, query, ""))


def _unwrap_amp_cache(url: str) -> str:
    parts = urlsplit(url)
    if not parts.netloc.lower().endswith(".cdn.ampproject.org"):
        return url
    m = _AMP_CACHE.match(parts.path)
    if m is None:
        return url
    scheme = "https" if parts.path[2:5] == "/s/" else "http"
    return urlunsplit((scheme, str(m.group(1)), str(m.group(2) or "/"), parts.query, ""))


def _main_host(netloc: str) -> str:
    host, sep, port = netloc.partition(":")
    for prefix in _MOBILE_HOSTS:
        rest = host[len(prefix) :]
        # "m.example.org" -> "example.org", but never down to a bare TLD ("amp.dev").
        if host.startswith(prefix) and "." in rest:
            host = rest
            break
    return host + sep + port


def _drop_amp_segment(path: str) -> str:
    segments = path.split("/")
    kept = [s for s in segments if s.lower() != "amp"]
    if len(kept) == len(segments):
        return re.sub(r"\.amp(\.html?)$", r"\1", path, flags=re.IGNORECASE)
    joined = "/".join(kept)
    if path.endswith("/") and not joined.endswith("/"):
        joined += "/"
    return joined or "/"


def guid_key(guid: str | None) -> str | None:
    """A feed GUID usable across sources: a permalink's canonical URL, or a long opaque id.

    Short or numeric GUIDs ("12345") are only unique inside one feed, so they give None.
    """
    if not guid:
        return None
    guid = guid.strip()
    if re.match(r"^https?://", guid, flags=re.IGNORECASE):
        return canonical_url(guid)
    if len(guid) < 16 or guid.isdigit():
        return None
    return guid


# --- tier 2: exact text ------------------------------------------------------------------


def text_fingerprint(text: str) -> str:
    """SHA-256 of the folded words of `text`: equal for copies differing in case or spacing."""
    words = _WORD.findall(fold(text))
    return hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest()


# --- tier 3: near duplicates ------------------------------------------------------------


def shingle_hashes(words: list[str], k: int) -> np.ndarray:
    """Distinct, sorted 32-bit hashes of the `k`-word shingles of `words`."""
    return _shingles(_word_ids(words), k)


def _word_ids(words: list[str]) -> np.ndarray:
    ids = np.array([zlib.crc32(w.encode("utf-8")) for w in words], dtype=np.uint64)
    return (ids + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)


def _shingles(ids: np.ndarray, k: int) -> np.ndarray:
    """`shingle_hashes` of the words whose `_word_ids` are `ids`."""
    if len(ids) == 0:
        return np.zeros(0, dtype=np.uint32)
    k = min(k, len(ids))
    n = len(ids) - k + 1
    h = np.zeros(n, dtype=np.uint64)
    for j in range(k):
        h = h * _PRIME + ids[j : j + n]
    # splitmix64 finaliser: spread the polynomial hash before keeping the top 32 bits.
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return np.unique((h >> np.uint64(32)).astype(np.uint32))


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=int, scheme="affine32")
    a, b = m.permutations
    return np.asarray(a, dtype=np.uint32), np.asarray(b, dtype=np.uint32)


def _minhash(hashes: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """datasketch's `MinHash(scheme="affine32", hashfunc=int).update_batch(hashes)` values,
    computed in one vectorised step (no MinHash object, no Python list of the hashes).

    Bit for bit the same (a test checks it), so stored band keys stay valid: the murmur3
    finaliser premixes each hash once, then `a * h + b` wraps modulo 2**32 per permutation.
    """
    if len(hashes) == 0:
        return np.full(num_perm, _U32_MAX, dtype=np.uint32)
    a, b = _permutations(num_perm, seed)
    hv = hashes.astype(np.uint32, copy=False)
    hv = hv ^ (hv >> _FMIX_S1)
    hv = hv * _FMIX_M1
    hv = hv ^ (hv >> _FMIX_S2)
    hv = hv * _FMIX_M2
    hv = hv ^ (hv >> _FMIX_S1)
    values: np.ndarray = (hv[:, None] * a + b).min(axis=0)
    return values


def _band_keys(values: np.ndarray, rows: int, base: int) -> list[int]:
    keys = []
    for band in range(len(values) // rows):
        chunk = values[band * rows : (band + 1) * rows].tobytes()
        digest = hashlib.blake2b(chunk, digest_size=8, person=(base + band).to_bytes(16, "little"))
        keys.append(int.from_bytes(digest.digest(), "little", signed=True))
    return keys


def _lead_starts(raw: list[str], lines: list[list[str]], windows: int) -> list[int]:
    """Word offsets where the first `windows` long paragraphs begin (bylines, dates and
    link lines are skipped, so a copy without them still lines up)."""
    starts, offset = [], 0
    for line, words in zip(raw, lines, strict=False):
        if len(line.split()) >= 20:
            starts.append(offset)
            if len(starts) == windows:
                break
        offset += len(words)
    return starts or [0]


def _folded_lines(raw: list[str]) -> list[list[str]]:
    # One fold call for the whole text (it is the slow part); a marker word keeps the lines.
    words = _WORD.findall(fold(f" {_LINE} ".join(raw)))
    marks = [i for i, w in enumerate(words) if w == _LINE]
    return [words[a + 1 : b] for a, b in zip([-1, *marks], [*marks, len(words)], strict=True)]


def signature(text: str, p: DedupParams) -> Signature | None:
    """The near-duplicate signature of `text`, or None when it is too short to compare."""
    raw = text.splitlines()
    lines = _folded_lines(raw)
    ids = _word_ids(list(chain.from_iterable(lines)))
    hashes = _shingles(ids, p.shingle_words)
    if len(hashes) < p.min_shingles:
        return None
    keys = _band_keys(_minhash(hashes, p.bands * p.rows_per_band, 1), p.rows_per_band, 0)
    lead_len = p.lead_shingles + p.shingle_words - 1
    for start in _lead_starts(raw, lines, p.lead_windows):
        lead = _shingles(ids[start : start + lead_len], p.shingle_words)
        if len(lead) >= p.lead_shingles // 2:
            mh = _minhash(lead, p.lead_bands * p.rows_per_band, 2)
            keys += _band_keys(mh, p.rows_per_band, LEAD_BAND_BASE)
    return Signature(
        shingles=len(hashes),
        sketch=hashes[: p.sketch_size].tobytes(),
        band_keys=tuple(dict.fromkeys(keys)),
    )


def compare(a: Signature, b: Signature, sketch_size: int) -> Similarity:
    """Estimated Jaccard of two texts, and containment of the shorter in the longer."""
    sa = np.frombuffer(a.sketch, dtype=np.uint32)
    sb = np.frombuffer(b.sketch, dtype=np.uint32)
    union = np.union1d(sa, sb)[:sketch_size]
    both = np.intersect1d(sa, sb, assume_unique=True)
    jaccard = len(np.intersect1d(union, both, assume_unique=True)) / max(len(union), 1)
    small, large = (a, b) if a.shingles <= b.shingles else (b, a)
    return Similarity(jaccard, _containment(small, large, sketch_size))


def _containment(small: Signature, large: Signature, sketch_size: int) -> float:
    """Share of `small`'s shingles in `large`, on the hash range both sketches cover.

    Every shingle of `large` below its sketch's largest hash is in its sketch, so the
    shingles of `small` in that range are checked exactly: a true excerpt scores 1.0.
    """
    ss = np.frombuffer(small.sketch, dtype=np.uint32)
    sl = np.frombuffer(large.sketch, dtype=np.uint32)
    if len(ss) == 0 or len(sl) == 0:
        return 0.0
    if large.shingles > len(sl) or len(sl) >= sketch_size:
        ss = ss[ss <= sl[-1]]
    if len(ss) < 8:  # too few shared-range samples to say anything
        return 0.0
    return len(np.intersect1d(ss, sl, assume_unique=True)) / len(ss)


def text_shingles(text: str, p: DedupParams) -> np.ndarray:
    """All distinct shingle hashes of `text`, as `signature` computes them."""
    return shingle_hashes(
        list(chain.from_iterable(_folded_lines(text.splitlines()))), p.shingle_words
    )


def exact_compare(a: np.ndarray, b: np.ndarray) -> Similarity:
    """Jaccard and containment of two full shingle sets (from `text_shingles`)."""
    both = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - both
    return Similarity(both / max(union, 1), both / max(min(len(a), len(b)), 1))


def undecided(sim: Similarity, p: DedupParams) -> bool:
    """Whether a sketch estimate is too rough to call: the sketches of a short excerpt and a
    long article overlap on a few hashes only, so a possible copy is checked on full sets."""
    return sim.jaccard < p.duplicate_jaccard and (
        sim.containment == 0.0 or p.story_similarity <= sim.containment < 0.98
    )


def is_duplicate(sim: Similarity, p: DedupParams) -> bool:
    """A copy: most text shared, or the shorter text (an excerpt) almost wholly in the longer."""
    return sim.jaccard >= p.duplicate_jaccard or sim.containment >= p.duplicate_containment


# --- stories ------------------------------------------------------------------------------


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
