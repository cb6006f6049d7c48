"""Work on stored articles: re-extraction from kept HTML, `monitor import`, backtests.

Reuses the processing steps, so imported and re-extracted articles are treated alike.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from monitor.errors import ExtractError
from monitor.models import BacktestHit, ExtractedText, PendingArticle
from monitor.pipeline import bounds, dedup
from monitor.pipeline.match import Query
from monitor.pipeline.runner.analysis import extract_one
from monitor.pipeline.runner.context import Context, ProcessReport
from monitor.pipeline.runner.process import (
    Outcome,
    extract_all,
    extracted_fields,
    record_batch,
    sync_entities,
)
from monitor.pipeline.runner.stories import reindex, settle_stories
from monitor.storage import articles

log = logging.getLogger("monitor.runner")


def reextract(ctx: Context, *, batch: int = 200) -> ProcessReport:
    """Redo extraction, tagging and matching of processed articles from their stored HTML,
    without refetching (after an extractor upgrade). Articles whose HTML has expired are left
    as they are; duplicate links and stories are kept, and an article whose text changed
    gets the dedup index rows of its new text (`stories.reindex`), so later articles are
    compared with what it now says. `processed` counts the redone ones."""
    sync_entities(ctx)
    report = ProcessReport()
    last_id = 0
    while True:
        with ctx.db.transaction() as tx:
            kept = articles.with_html(tx, last_id, batch)
        if not kept:
            return report
        last_id = kept[-1].pending.id
        stored = [
            Outcome(
                k.pending,
                html=gzip.decompress(k.html_gz).decode("utf-8", errors="replace"),
            )
            for k in kept
        ]
        for o in extract_all(ctx, stored):
            _rerecord(ctx, o, report)
        ctx.progress(f"  {len(report.failed) + report.processed} articles re-extracted")


def _rerecord(ctx: Context, o: Outcome, report: ProcessReport) -> None:
    """Store a re-extraction: text, mentions, new matches and, when the text changed, its
    dedup index rows; links and stories are kept."""
    with ctx.db.transaction() as tx:
        if o.extracted is None:
            report.failed[o.pending.url] = str(o.error)
            return
        a = o.analysis
        assert a is not None  # extract_all analyses every page it extracts
        header = articles.header(tx, o.pending.id)
        fields = extracted_fields(header, o.extracted, a.text_hash)
        before, after, original = articles.record_reextracted(tx, header.id, fields)
        if after.text != before.text or after.at != before.at:
            reindex(
                ctx.dedup,
                tx,
                after,
                before.text,
                original=original,
                sig=a.sig,
                keys=a.story_keys,
            )
        articles.store_mentions(tx, [(header.id, a.mentions)])
        report.matched += articles.store_matches(tx, [(header.id, a.found)], ctx.clock())
        report.processed += 1


# --- import -----------------------------------------------------------------------------

IMPORT_BATCH = 25  # records stored, then processed, per pair of transactions
IMPORT_PROGRESS_EVERY = 500  # records between two progress lines
# Imported publication times outside this are refused: archives reach back, but a year 1 or
# 9999 is a mistake, and story windows around it would fall off the calendar.
PUBLISHED_RANGE = (datetime(1900, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
_WEB_SCHEMES = ("http", "https")
_AGAIN = "stored, and processed again by the next import of it"


@dataclass(frozen=True)
class ImportRecord:
    """One article brought in by `monitor import`; `where` (file:line) names it in messages.
    `import_articles` makes it storable (`storable`) whoever built it."""

    url: str
    title: str = ""
    text: str = ""
    html: str = ""
    published_at: datetime | None = None
    source: str = ""
    where: str = ""


@dataclass
class ImportReport(ProcessReport):
    """What an import did: `records` read, `known` already stored (or repeated), `resumed`
    left unprocessed by an earlier import and done now, `refused` (label → why) not stored.
    `failed` (label → why) holds the records stored but not processed: a page that gave no
    text (for good), or an error that leaves the record to the next import."""

    records: int = 0
    known: int = 0
    resumed: int = 0
    refused: dict[str, str] = field(default_factory=dict)


def link_problem(url: str) -> str | None:
    """Why `url` cannot be an imported article's key (None when it can): every stage reads
    it as a web address."""
    problem = bounds.url_problem(url)
    if problem is not None:
        return problem
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError as exc:
        return f"a link that cannot be read ({exc})"
    if parts.scheme.lower() not in _WEB_SCHEMES or not parts.hostname:
        return "not an http(s) link with a host"
    return None


def publication_time(when: datetime) -> datetime:
    """`when` in UTC (no offset means UTC); ValueError when it is not within PUBLISHED_RANGE
    (9999-12-31T23:59:59-12:00 is not even a date in UTC: it is in year 10000)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        when = when.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{when.isoformat()} is out of range in UTC") from None
    earliest, latest = PUBLISHED_RANGE
    if not earliest <= when < latest:
        raise ValueError(
            f"{when.isoformat()} is not a publication date (from {earliest.year} "
            f"to {latest.year - 1})"
        )
    return when


def storable(rec: ImportRecord) -> ImportRecord:
    """`rec` as every database stores it: text without NUL, control characters and lone
    surrogates (`bounds.clean_text`), a bounded title and source name, the time in UTC.
    ValueError when a value cannot be made to fit: the link (`link_problem`), the time."""
    problem = link_problem(rec.url)
    if problem is not None:
        raise ValueError(f"url {_shown(rec.url)}: {problem}")
    when = rec.published_at
    if when is not None:
        try:
            when = publication_time(when)
        except ValueError as exc:
            raise ValueError(f"published_at {exc}") from None
    source = bounds.clean_line(rec.source)[: bounds.MAX_SOURCE_CHARS].rstrip()
    return replace(
        rec,
        title=bounds.title(rec.title),
        text=bounds.clean_text(rec.text),
        html=bounds.clean_text(rec.html),
        published_at=when,
        source=source,
    )


def _shown(value: str, limit: int = 80) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")


def import_articles(ctx: Context, records: Iterable[ImportRecord]) -> ImportReport:
    """Store and process imported articles, IMPORT_BATCH at a time; an already-known URL (the
    key) is skipped. A record is imported whole or not at all: it is stored as "importing",
    then processed; a record an earlier import left "importing" (killed, or its processing
    failed) is processed now. One record's error is reported on it; the others go on."""
    sync_entities(ctx)
    report = ImportReport()
    seen: set[str] = set()  # canonical URLs met in this import: a repeat is known
    clustered: dict[int, int] = {}
    batch: list[tuple[ImportRecord, str]] = []
    for rec in records:
        report.records += 1
        admitted = _admit(rec, seen, report)
        if admitted is not None:
            batch.append(admitted)
        if len(batch) >= IMPORT_BATCH:
            clustered |= _import_batch(ctx, batch, report)
            batch = []
        if report.records % IMPORT_PROGRESS_EVERY == 0:
            _progress(ctx, report)
    if batch:
        clustered |= _import_batch(ctx, batch, report)
    settle_stories(ctx, clustered)
    return report


def _admit(
    rec: ImportRecord, seen: set[str], report: ImportReport
) -> tuple[ImportRecord, str] | None:
    """The record made storable, with its canonical URL; None when refused or repeated."""
    try:
        rec = storable(rec)
    except ValueError as exc:
        report.refused[_label(rec)] = str(exc)
        return None
    # As the poll keys entries: the link itself when its canonical form is too long to store.
    canonical = dedup.storable_canonical_url(rec.url) or rec.url  # the link fits (storable)
    if canonical in seen:
        report.known += 1
        return None
    seen.add(canonical)
    return rec, canonical


def _progress(ctx: Context, report: ImportReport) -> None:
    ctx.progress(
        f"  {report.records} records: {report.processed} imported, {report.known} already "
        f"known, {len(report.failed) + len(report.refused)} not imported"
    )


def _label(rec: ImportRecord) -> str:
    return f"{rec.where}: {rec.url}" if rec.where else rec.url


def _import_batch(
    ctx: Context, batch: Sequence[tuple[ImportRecord, str]], report: ImportReport
) -> dict[int, int]:
    """Store a batch (one transaction), then process it (another). When either fails, each
    record is tried alone, so one record's error stops only that record."""
    try:
        slots = _store(ctx, batch, report)
    except Exception:  # the error boundary: one bad record must not stop the import
        slots = []
        for one in batch:
            try:
                slots += _store(ctx, [one], report)
            except Exception as exc:
                log.info("import: %s not stored", one[0].url, exc_info=True)
                report.refused[_label(one[0])] = f"not stored: {exc}"
    try:
        return _process(ctx, slots, report)
    except Exception:
        clustered: dict[int, int] = {}
        for slot in slots:
            try:
                clustered |= _process(ctx, [slot], report)
            except Exception as exc:
                log.info("import: %s not processed", slot[1].url, exc_info=True)
                report.failed[_label(slot[1])] = f"{exc}; {_AGAIN}"
        return clustered


def _store(
    ctx: Context, batch: Sequence[tuple[ImportRecord, str]], report: ImportReport
) -> list[tuple[int, ImportRecord]]:
    """Store the records not yet imported (state "importing"); the rows to process."""
    now = ctx.clock()
    with ctx.db.transaction() as tx:
        slots = [
            (
                rec,
                articles.add_imported(
                    tx,
                    url=rec.url,
                    canonical_url=canonical,
                    title=rec.title,
                    html=rec.html,
                    published_at=rec.published_at,
                    source=rec.source,
                    now=now,
                ),
            )
            for rec, canonical in batch
        ]
    # counted once committed
    report.known += sum(slot is None for _, slot in slots)
    report.resumed += sum(slot is not None and slot.resumed for _, slot in slots)
    return [(slot.id, rec) for rec, slot in slots if slot is not None]


def _process(
    ctx: Context, slots: Sequence[tuple[int, ImportRecord]], report: ImportReport
) -> dict[int, int]:
    """Extract (from the record's HTML, unless it brought its text), tag, match, link and
    store the stored records (one transaction); what `settle_stories` needs."""
    outcomes: list[Outcome] = []
    for article, rec in slots:
        # No page is fetched: no attempt made. The article a batch cannot store is then left
        # "importing" by `record_batch` (retried later), which for an import means: by the
        # next import of it.
        pending = PendingArticle(article, rec.url, rec.html, 0)
        if rec.text:
            ex = ExtractedText(title=rec.title, text=rec.text, method="import")
            outcomes.append(Outcome(pending, extracted=ex))
            continue
        r = extract_one(rec.html, rec.url, "")
        if isinstance(r, ExtractError):
            outcomes.append(Outcome(pending, error=r))
        else:
            outcomes.append(Outcome(pending, r, rec.html))
    part = ProcessReport()  # counted into `report` once committed
    clustered = record_batch(ctx, outcomes, part)
    labels = {rec.url: _label(rec) for _, rec in slots}
    part.failed = {labels.get(url, url): why for url, why in part.failed.items()}
    report.add(part)
    if part.retrying:
        with ctx.db.transaction() as tx:
            left = articles.unfinished_imports(tx, [article for article, _ in slots])
        for article, rec in slots:
            if article in left:
                report.failed[_label(rec)] = f"{left[article]}; {_AGAIN}"
    return clustered


# --- backtest -----------------------------------------------------------------------------


Hit = BacktestHit


def backtest(
    ctx: Context, query: Query, *, since: datetime | None = None, limit: int = 50
) -> list[BacktestHit]:
    """Run a query over stored articles, newest first, as if they had just been processed."""
    hits: list[BacktestHit] = []
    with ctx.db.transaction() as tx:
        for chunk in articles.processed_newest_first(tx, since):
            for head, processed_at, doc in chunk:
                m = query.match(doc)
                if m is None:
                    continue
                hits.append(
                    BacktestHit(head.id, head.url, head.title, head.source, processed_at, m.terms)
                )
                if len(hits) >= limit:
                    return hits
    return hits
