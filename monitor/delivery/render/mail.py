"""The digest email's parts: subject, plain text and HTML (CSS inlined) with the actor chart
as a `cid:` image, and `inline_images` to make that HTML one self-contained page.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import css_inline

from monitor.delivery.chart import leading_trends, trend_chart_png
from monitor.delivery.render.filters import oneline
from monitor.delivery.render.templates import normalise_newlines, render_template
from monitor.delivery.render.view import digest_context, time_zone, utc_text
from monitor.models import DigestContent, RenderedDigest


def chart_cid(content: DigestContent) -> str:
    """The Content-ID of the digest's chart: derived from (watchlist, period), so stable."""
    key = "\n".join(
        (content.watchlist, utc_text(content.period_start), utc_text(content.period_end))
    )
    return f"actor-trends.{hashlib.sha256(key.encode()).hexdigest()[:16]}@monitor"


def digest_chart(content: DigestContent) -> bytes | None:
    """The PNG of daily mentions of the leading actors, or None (no trends, empty period)."""
    if not content.articles:
        return None
    return trend_chart_png(content.actor_trends, content.period_end, time_zone(content.timezone))


def _chart_alt(content: DigestContent) -> str:
    names = ", ".join(oneline(t.name) for t in leading_trends(content.actor_trends))
    days = max(len(t.daily) for t in content.actor_trends)
    return f"Chart: matched articles per day over {days} days for {names}"


def render_digest(content: DigestContent, *, templates_dir: Path | None = None) -> RenderedDigest:
    """The digest email's subject, plain text and HTML (CSS inlined for mail clients).

    With actor trends the HTML shows the chart as `<img src="cid:...">` and `images` holds
    its PNG under that Content-ID; `inline_images` turns it into a self-contained page.
    """
    context = digest_context(content)
    chart = digest_chart(content)
    images: dict[str, bytes] = {}
    if chart is not None:
        cid = chart_cid(content)
        images[cid] = chart
        context.update(chart_src=f"cid:{cid}", chart_alt=_chart_alt(content))
    html = render_template("digest.html.j2", context, templates_dir)
    html = css_inline.inline(html, load_remote_stylesheets=False, keep_at_rules=True)
    text = render_template("digest.txt.j2", context, templates_dir)
    return RenderedDigest(
        subject=context["subject"], text=normalise_newlines(text), html=html, images=images
    )


def inline_images(rendered: RenderedDigest) -> str:
    """The HTML with each `cid:` image as a data: URI: one self-contained file for reports."""
    html = rendered.html
    for cid, png in rendered.images.items():
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        # Our own attribute, quoted: escaped feed text can never contain `src="cid:`.
        html = html.replace(f'src="cid:{cid}"', f'src="{uri}"')
    return html
