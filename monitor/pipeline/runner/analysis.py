"""What the pool workers make of a page: extraction, then tags, watchlist and alert
matches, the text hash, the dedup signature and story keys, compressed HTML. Pure work:
each worker holds the compiled stages (`Stages`) and returns an `Analysis`."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.errors import ExtractError
from monitor.models import EntityHit, ExtractedText, MatchDoc, MentionRecord, WatchlistHit
from monitor.pipeline import dedup, extract, story
from monitor.pipeline.match import prepare
from monitor.pipeline.runner.context import Context, WatchlistSpec, describe
from monitor.pipeline.tag import Tagger

HTML_GZIP_LEVEL = 1  # kept HTML: level 6 costs 2.4x the CPU for ~12 % less space
WORKER_NICENESS = 5  # pool workers yield the CPU to the process that fetches and stores


@dataclass(frozen=True)
class Stages:
    """Everything but storage, built once per worker: the compiled entity list and queries,
    the dedup parameters, and whether raw HTML is kept (compressed) for re-extraction."""

    tagger: Tagger
    watchlists: tuple[WatchlistSpec, ...]
    dedup: dedup.DedupParams
    keep_html: bool


def stages_for(ctx: Context) -> Stages:
    return Stages(
        ctx.tagger,
        tuple(ctx.watchlists),
        ctx.dedup,
        ctx.keep_html and ctx.keep_html_days > 0,
    )


@dataclass(frozen=True)
class Analysis:
    """What the stages make of an extracted article; only storing it is left."""

    mentions: tuple[MentionRecord, ...]
    found: tuple[WatchlistHit, ...]
    text_hash: str
    sig: dedup.Signature | None  # None: too short to compare
    story_keys: tuple[int, ...]
    page: str | None  # the page's own canonical link, canonicalised
    html_gz: bytes | None = None


@dataclass(frozen=True)
class Job:
    """A page to analyse: its HTML, URL, the feed's HTML to fall back on, the feed's title
    and the source's name."""

    html: str
    url: str
    fallback: str
    title: str
    source: str


_STAGES: Stages | None = None


def init_worker(stages: Stages) -> None:
    """Process-pool initializer: the compiled entity list, queries and parameters, once per
    worker, so all the per-article CPU work runs on every core. Workers run at a lower
    priority: the storing process is the one serial step, and when it waits for a core every
    worker soon waits for it; at a lower priority they take whatever CPU it leaves."""
    global _STAGES
    _STAGES = stages
    with contextlib.suppress(OSError, AttributeError):  # not permitted, or not POSIX
        os.nice(WORKER_NICENESS)


def analyse_in_worker(job: Job) -> tuple[ExtractedText, Analysis] | ExtractError:
    """Run in a pool worker: extract, then analyse (the worker must have been initialised)."""
    if _STAGES is None:
        raise RuntimeError("pool worker started without init_worker")
    return analyse(job, _STAGES)


def analyse(job: Job, stages: Stages) -> tuple[ExtractedText, Analysis] | ExtractError:
    """A page's extraction and analysis, or the ExtractError that stopped it. Anything else
    that goes wrong on this page (hostile markup deep in a library, a bug) is this page's
    error too: it is recorded on the article and the rest of the pass goes on."""
    try:
        r = extract_one(job.html, job.url, job.fallback)
        if isinstance(r, ExtractError):
            return r
        return r, derive(stages, job.title or r.title, job.source, r, job.html)
    except Exception as exc:  # one poisoned page never stops the pass
        return ExtractError(f"{job.url}: analysis failed: {describe(exc)}")


def extract_one(html: str, url: str, fallback: str) -> ExtractedText | ExtractError:
    try:
        return extract.extract(html, url=url, fallback_html=fallback)
    except ExtractError as exc:
        return exc


def derive(stages: Stages, title: str, source: str, ex: ExtractedText, html: str) -> Analysis:
    """Tags, watchlist and alert matches, text hash, dedup signature, story keys, the page's
    canonical URL, compressed HTML."""
    hits = tuple(stages.tagger.tag(document_text(title, ex.text)))
    keep = stages.keep_html and bool(html)
    return Analysis(
        mention_records(hits),
        match_all(stages.watchlists, title, ex.text, source, hits),
        dedup.text_fingerprint(ex.text),
        dedup.signature(ex.text, stages.dedup),
        story.article_story_keys(title, ex.text, hits, stages.dedup),
        dedup.storable_canonical_url(ex.canonical_url) if ex.canonical_url else None,
        gzip.compress(html.encode("utf-8", "replace"), HTML_GZIP_LEVEL) if keep else None,
    )


def document_text(title: str, text: str) -> str:
    """The string tagged for an article: mention offsets count from the title's first char."""
    return f"{title}\n\n{text}" if title else text


def mention_records(hits: Sequence[EntityHit]) -> tuple[MentionRecord, ...]:
    """The `mentions` rows of one article's hits, evidence (offsets, surface) as JSON, encoded
    in the worker: the storing process, the one serial step, encodes nothing."""
    dumps = json.dumps
    return tuple(
        MentionRecord(
            h.id,
            h.count,
            dumps([{"start": m.start, "end": m.end, "text": m.text} for m in h.mentions]),
        )
        for h in hits
    )


def match_all(
    watchlists: Sequence[WatchlistSpec],
    title: str,
    text: str,
    source: str,
    hits: Sequence[EntityHit],
) -> tuple[WatchlistHit, ...]:
    """Every watchlist covering `source` that matches, with its alert verdict: whether the
    watchlist's alert query matches too."""
    doc = prepare(  # tokenised once for every watchlist
        MatchDoc(
            title=title,
            text=text,
            source=source,
            entity_ids=frozenset(h.id for h in hits),
            entity_types=frozenset(h.type for h in hits),
        )
    )
    found = []
    for w in watchlists:
        if w.sources is not None and source not in w.sources:
            continue
        m = w.query.match_prepared(doc)
        if m is not None:
            verdict = None if w.alert is None else w.alert.match_prepared(doc) is not None
            found.append(WatchlistHit(w.name, m.terms, verdict))
    return tuple(found)
