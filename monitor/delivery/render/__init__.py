"""Turn a `DigestContent` into the digest's email parts (chart PNG included) and report formats
(pure, no I/O but reading templates). HTML is autoescaped, links allow-listed, CSS inlined.
"""

from monitor.delivery.render.atom import FEED_ENTRIES, digest_entry_id, feed_id, render_atom
from monitor.delivery.render.exports import CSV_COLUMNS, render_csv, render_json, render_markdown
from monitor.delivery.render.filters import (
    chip_class,
    highlight_html,
    highlight_markdown,
    markdown_escape,
    markdown_url,
    oneline,
    plural,
    safe_url,
    term_spans,
)
from monitor.delivery.render.mail import chart_cid, digest_chart, inline_images, render_digest
from monitor.delivery.render.templates import default_templates_dir
from monitor.delivery.render.view import (
    MATCHED_NAMES,
    SUBJECT_MAX,
    TABLE_ACTORS,
    TYPE_LABELS,
    chip_legend,
    digest_subject,
    matched_labels,
    period_ends,
    period_label,
    snippet_without_title,
    top_actors,
)

__all__ = [
    "CSV_COLUMNS",
    "FEED_ENTRIES",
    "MATCHED_NAMES",
    "SUBJECT_MAX",
    "TABLE_ACTORS",
    "TYPE_LABELS",
    "chart_cid",
    "chip_class",
    "chip_legend",
    "default_templates_dir",
    "digest_chart",
    "digest_entry_id",
    "digest_subject",
    "feed_id",
    "highlight_html",
    "highlight_markdown",
    "inline_images",
    "markdown_escape",
    "markdown_url",
    "matched_labels",
    "oneline",
    "period_ends",
    "period_label",
    "plural",
    "render_atom",
    "render_csv",
    "render_digest",
    "render_json",
    "render_markdown",
    "safe_url",
    "snippet_without_title",
    "term_spans",
    "top_actors",
]
