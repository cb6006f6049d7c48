"""The watchlist's Atom feed: one entry per digest (stable ids from watchlist and period),
merged into the previous feed text, newest period first, XML-safe.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

from monitor.delivery.render.filters import oneline, plural, safe_url
from monitor.delivery.render.templates import normalise_newlines, render_template
from monitor.delivery.render.view import TABLE_ACTORS, digest_context, digest_subject, utc_text
from monitor.models import DigestContent

log = logging.getLogger("monitor.delivery.render")  # the name it had before the package split

FEED_ENTRIES = 50  # digests kept in a watchlist's Atom feed
_ATOM = "http://www.w3.org/2005/Atom"
# Characters XML 1.0 forbids even escaped (most C0 controls, surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: object) -> str:
    return _NOT_XML.sub("", oneline(value))


def feed_id(watchlist: str) -> str:
    """The Atom id of a watchlist's feed: the same for as long as the watchlist is named so."""
    return f"urn:monitor:watchlist:{quote(oneline(watchlist), safe='')}"


def digest_entry_id(content: DigestContent) -> str:
    """The Atom id of one digest, from (watchlist, period): a re-render replaces its entry."""
    name = quote(oneline(content.watchlist), safe="")
    start, end = (quote(utc_text(t), safe="") for t in (content.period_start, content.period_end))
    return f"urn:monitor:digest:{name}:{start}:{end}"


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _summary(context: dict[str, Any]) -> str:
    n = context["n_stories"]
    if not n:
        return f"Nothing new between {context['period_start']} and {context['period_end']}."
    line = f"{plural(n, 'story', 'stories')} · {plural(context['n_reports'], 'report')}"
    line += f" from {plural(context['n_outlets'], 'outlet')}."
    if context["rising"]:
        line += " Rising: " + ", ".join(context["rising"]) + "."
    return line


def _digest_entry(
    content: DigestContent, alternate_url: str | None, templates_dir: Path | None
) -> ET.Element:
    context = digest_context(content)
    entry = ET.Element("entry")
    _el(entry, "id", digest_entry_id(content))
    _el(entry, "title", _xml_text(digest_subject(content).removeprefix("[monitor] ")))
    _el(entry, "updated", utc_text(content.generated_at or content.period_end))
    _el(entry, "published", utc_text(content.period_end))
    href = safe_url(alternate_url) or quote(alternate_url or "", safe="/._-")
    if href:
        _el(entry, "link", rel="alternate", type="text/html", href=href)
    _el(entry, "summary", _xml_text(_summary(context)))
    chips = {c.id: c for a in content.articles for c in a.actors}
    for chip in list(chips.values())[:TABLE_ACTORS]:
        _el(entry, "category", term=_xml_text(chip.id), label=_xml_text(chip.name))
    html = render_template("digest.entry.html.j2", context, templates_dir)
    _el(entry, "content", _NOT_XML.sub("", normalise_newlines(html)), type="html")
    return entry


def _previous_entries(previous: str | None) -> list[ET.Element]:
    if not previous:
        return []
    try:
        root = ET.fromstring(previous)
    except ET.ParseError as exc:
        log.warning("the Atom feed could not be read (%s); it starts afresh", exc)
        return []
    if root.tag != f"{{{_ATOM}}}feed":
        log.warning("the Atom feed's root is %s, not an Atom feed; it starts afresh", root.tag)
        return []
    # Our elements are built unqualified under one xmlns (ElementTree's default_namespace
    # refuses plain attributes, and register_namespace would change a process-wide table).
    for el in root.iter():
        el.tag = el.tag.removeprefix(f"{{{_ATOM}}}")
    return root.findall("entry")


def render_atom(
    content: DigestContent,
    *,
    previous: str | None = None,
    self_url: str | None = None,
    alternate_url: str | None = None,
    limit: int = FEED_ENTRIES,
    templates_dir: Path | None = None,
) -> str:
    """The watchlist's Atom feed, one entry per digest, with this digest as an entry.

    `previous` is the feed's current text: its entries are kept, newest period first, at
    most `limit`, and one with this digest's id is replaced. `self_url` is where readers
    fetch the feed (rel=self); `alternate_url` the digest's HTML page (may be relative).
    """
    new = _digest_entry(content, alternate_url, templates_dir)
    new_id = new.findtext("id")
    kept = [e for e in _previous_entries(previous) if e.findtext("id") != new_id]
    entries = sorted([new, *kept], key=lambda e: e.findtext("published") or "", reverse=True)
    entries = entries[: max(limit, 1)]
    feed = ET.Element("feed", xmlns=_ATOM)
    _el(feed, "id", feed_id(content.watchlist))
    _el(feed, "title", f"monitor: {_xml_text(content.watchlist)}")
    _el(feed, "subtitle", _xml_text(content.query))
    if self_url:
        _el(feed, "link", rel="self", type="application/atom+xml", href=_xml_text(self_url))
    _el(feed, "updated", max(e.findtext("updated") or "" for e in entries))
    _el(_el(feed, "author"), "name", "monitor")
    _el(feed, "generator", "monitor")
    feed.extend(entries)
    ET.indent(feed)
    text = ET.tostring(feed, encoding="unicode", xml_declaration=True)
    return text + "\n"
