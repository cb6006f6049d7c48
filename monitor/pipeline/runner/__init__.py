"""The only pipeline package that touches storage: polls due sources, processes pending articles.

Stages stay pure; the runner loads their inputs, calls them in order and records outcomes.
`context` (inputs, reports), `poll` (feeds), `process` (pages → stored, tagged, matched
articles), `stories` (duplicates and stories), `stored` (re-extraction, import, backtest).
"""

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
    _extract_one,
    document_text,
    expire_html,
    init_worker,
    process,
    stages_for,
    sync_entities,
)
from monitor.pipeline.runner.stored import Hit, ImportRecord, backtest, import_articles, reextract
from monitor.pipeline.runner.stories import STORY_WINDOW_SAMPLE, _link_duplicate

__all__ = [
    "MAX_PAGE_ATTEMPTS",
    "STORY_WINDOW_SAMPLE",
    "Context",
    "Hit",
    "ImportRecord",
    "PollReport",
    "ProcessReport",
    "SourceSpec",
    "WatchlistSpec",
    "_extract_one",
    "_link_duplicate",
    "backtest",
    "document_text",
    "expire_html",
    "import_articles",
    "init_worker",
    "poll",
    "process",
    "reextract",
    "stages_for",
    "sync_entities",
    "sync_sources",
]
