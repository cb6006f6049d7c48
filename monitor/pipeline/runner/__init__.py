"""The only pipeline package that works with storage: it loads due work, runs the pure
stages and has storage record the outcome. `context` (inputs, reports), `poll` (feeds),
`analysis` (what pool workers make of a page), `process` (pages → stored articles),
`stories` (duplicate groups and stories), `stored` (re-extraction, import, backtest).
"""

from monitor.pipeline.runner.analysis import (
    Analysis,
    Job,
    Stages,
    analyse,
    document_text,
    extract_one,
    init_worker,
    stages_for,
)
from monitor.pipeline.runner.context import (
    MAX_PAGE_ATTEMPTS,
    Context,
    PollReport,
    ProcessReport,
    SourceSpec,
    WatchlistSpec,
)
from monitor.pipeline.runner.poll import poll, sync_sources
from monitor.pipeline.runner.process import (
    RECORD_BATCH,
    Outcome,
    expire_html,
    process,
    record_batch,
    sync_entities,
)
from monitor.pipeline.runner.stored import Hit, ImportRecord, backtest, import_articles, reextract
from monitor.pipeline.runner.stories import link, settle_stories

__all__ = [
    "MAX_PAGE_ATTEMPTS",
    "RECORD_BATCH",
    "Analysis",
    "Context",
    "Hit",
    "ImportRecord",
    "Job",
    "Outcome",
    "PollReport",
    "ProcessReport",
    "SourceSpec",
    "Stages",
    "WatchlistSpec",
    "analyse",
    "backtest",
    "document_text",
    "expire_html",
    "extract_one",
    "import_articles",
    "init_worker",
    "link",
    "poll",
    "process",
    "record_batch",
    "reextract",
    "settle_stories",
    "stages_for",
    "sync_entities",
    "sync_sources",
]
