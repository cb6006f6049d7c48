"""Duplicate keys: canonical URLs, GUID keys, a text fingerprint, MinHash band keys, sketches.

Pure functions; the runner stores the keys, looks candidates up in storage and links copies.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
from courlan import normalize_url

from monitor.models import DedupParams as DedupParams  # its home is models; named here too
from monitor.pipeline.bounds import MAX_URL_CHARS
from monitor.pipeline.normalize import fold

_WORD = re.compile(r"\w+")
_MOBILE_HOSTS = ("amp.", "m.", "mobile.")
_AMP_QUERY = {"amp", "amp_js_v", "usqp", "outputtype"}
_AMP_CACHE = re.compile(r"^/[cv]/(?:s/)?([^/]+)(/.*)?$")
_PRIME = np.uint64(0x100000001B3)
# The 32-bit murmur3 finaliser, as datasketch's affine32 scheme premixes with it.
_FMIX_S1, _FMIX_S2 = np.uint32(16), np.uint32(13)
_FMIX_M1, _FMIX_M2 = np.uint32(0x85EBCA6B), np.uint32(0xC2B2AE35)
_U32_MAX = np.uint32(0xFFFFFFFF)
_LINE = "qzlinebreakqz"
LEAD_BAND_BASE = 1000  # lead-window bands share ids across windows, apart from full-text bands


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
    A URL that cannot be parsed (`http://[broken`) is returned stripped of its fragment only:
    any string has a canonical form.
    """
    try:
        return _canonical(url)
    except ValueError:
        return url.strip().split("#", 1)[0]


def storable_canonical_url(url: str) -> str | None:
    """`canonical_url`, when it fits the column (percent-encoding can make a 1,500-character
    link 9,000); else the URL itself when that fits; else None (the link cannot be stored)."""
    for candidate in (canonical_url(url), url):
        if len(candidate) <= MAX_URL_CHARS:
            return candidate
    return None


def _canonical(url: str) -> str:
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
    # datasketch (and the scipy it imports: most of a second) only when first signing
    from datasketch import MinHash  # type: ignore[import-untyped]

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
