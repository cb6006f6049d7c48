#!/usr/bin/env python3
# ruff: noqa: E501 -- the page templates below are HTML, one element per line
"""Build the bundled demo corpus (`monitor/demo/corpus/`) from the articles in `scripts/demo_articles/`.

    python scripts/build_demo_corpus.py [--out DIR]

The five articles are invented news and analysis about Iraq's militias and US-Iran tensions,
written for this demo (names, places and past events are real; the events reported, the
quotations and the people quoted are not). Each one is a plain-text file in
`scripts/demo_articles/`: paragraphs separated by blank lines (a paragraph may wrap over
several lines), and a little markup --

    ## Subhead                           an <h2>
    [figure] Caption text || Credit      a figure with its caption (the credit is optional)
    [note] Text                          an italic note (editor's note, correction, bio)
    [anchor text](URL)                   an inline link; a URL starting with / is in the corpus

Each article is wrapped in a realistic news page from one of three fictional outlets, each with
its own markup: site header and menu, a cookie-consent banner, breadcrumbs, the headline in
<h1>, byline and <time>, the paragraphs inside <article>, related stories, reader comments and
a footer -- the boilerplate a real extractor has to strip. One article is published a second
time by another outlet (same text, different boilerplate, a syndication note) so the
pipeline's duplicate detection has a copy to link. Titles, deks, bylines, related links and
comments are in SPECS below.

Two feeds list the six pages: `feeds/world.xml` (RSS 2.0) and `feeds/analysis.xml` (Atom).
Every absolute link to the corpus itself is written `{{BASE_URL}}/...`; the demo server
(`monitor.demo.server.CorpusServer`) substitutes its real `http://127.0.0.1:PORT` at serve
time. `manifest.json` records each page's slug, title, outlet, feed, source text and
duplicate relation.

The output is deterministic: re-running on the same articles rewrites identical files.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARTICLES = Path(__file__).resolve().parent / "demo_articles"
DEFAULT_OUT = REPO / "monitor" / "demo" / "corpus"
BASE = "{{BASE_URL}}"


# --- what each page is ------------------------------------------------------------------------


@dataclass(frozen=True)
class Comment:
    author: str
    when: str  # ISO 8601
    text: str  # paragraphs separated by blank lines
    replies: tuple[Comment, ...] = ()


@dataclass(frozen=True)
class Link:
    title: str
    href: str
    note: str = ""


@dataclass(frozen=True)
class Spec:
    """One page: which article text, and how and where it is published."""

    slug: str
    text: str  # file name in scripts/demo_articles/
    outlet: str
    feed: str  # "world" (RSS) or "analysis" (Atom)
    guid: str
    title: str
    author: str
    published: str  # ISO 8601 with offset
    section: str
    dek: str = ""
    related: tuple[Link, ...] = ()
    comments: tuple[Comment, ...] = ()
    comments_closed: bool = False
    tags: tuple[str, ...] = ()
    duplicate_of: str | None = None
    syndication_note: str = ""


def page_url(slug: str) -> str:
    return f"{BASE}/pages/{slug}.html"


SLUG_ERBIL = "erbil-drone-attack-tests-final-phase-of-us-drawdown"
SLUG_AFTER = "how-iraqs-militias-learned-to-live-without-soleimani"
SLUG_LAW = "iraq-militia-law-vote-delayed-as-us-weighs-sanctions"
SLUG_FUTURES = "three-futures-for-iraqs-armed-factions"
SLUG_BORDER = "iraqs-western-border-militias-guard-corridor-to-nowhere"
SLUG_BORDER_COPY = "republished-iraqs-western-border-militias-guard-corridor"

TITLE_BORDER = "On Iraq's Western Border, Militias Guard a Corridor to Nowhere"

SPECS: tuple[Spec, ...] = (
    Spec(
        slug=SLUG_ERBIL,
        text=f"{SLUG_ERBIL}.txt",
        outlet="meridian",
        feed="world",
        guid="meridian-post:world:2026-10-14:erbil-drone-attack",
        title="Drone attack near Erbil tests final phase of U.S. drawdown in Iraq",
        author="Clara Whitfield",
        published="2026-10-14T16:25:00-04:00",
        section="Middle East",
        dek="No one was hurt when a drone hit a compound used by American advisers, but officials "
        "suspect Iran-aligned factions are testing how Washington will respond as its last "
        "troops prepare to leave.",
        related=(
            Link(
                "How Iraq's militias learned to live without Soleimani",
                page_url(SLUG_AFTER),
                "Levant Ledger",
            ),
            Link(
                "Kurdish region braces for the end of the coalition mission",
                f"{BASE}/meridian/world/kurdish-region-coalition-mission-ends.html",
            ),
            Link(
                "Explainer: who is still in Iraq, and until when?",
                f"{BASE}/meridian/world/explainer-us-troops-iraq-timeline.html",
            ),
        ),
        comments=(
            Comment(
                "G. Aldana",
                "2026-10-14T18:02:00-04:00",
                "An empty warehouse, no claim, a blurry launch video. Everyone involved seems "
                "to want deniability more than damage.",
            ),
            Comment(
                "northern_reader",
                "2026-10-14T19:40:00-04:00",
                "Erbil gets hit every time someone in Baghdad or Tehran wants to send a signal. "
                "The city deserves better air defense than a departing garrison.",
                replies=(
                    Comment(
                        "Meridian reader",
                        "2026-10-15T06:15:00-04:00",
                        "The Kurdish government has been asking for exactly that for years.",
                    ),
                ),
            ),
            Comment(
                "P. Lindgren",
                "2026-10-15T08:31:00-04:00",
                "Worth remembering how close things came after the Jordan attack in 2024.",
            ),
        ),
        tags=("Iraq", "Erbil", "Kataib Hezbollah", "Drones", "Pentagon"),
    ),
    Spec(
        slug=SLUG_AFTER,
        text=f"{SLUG_AFTER}.txt",
        outlet="ledger",
        feed="analysis",
        guid="tag:levantledger.example,2026-09-22:/analysis/militias-after-soleimani",
        title="How Iraq's militias learned to live without Soleimani",
        author="Tariq Nasser",
        published="2026-09-22T09:30:00+00:00",
        section="Analysis",
        dek="The 2020 strike that killed Qasem Soleimani and Abu Mahdi al-Muhandis was meant to "
        "break Iran's network in Iraq. The factions it left behind are richer, more divided and "
        "harder to steer.",
        related=(
            Link(
                "Jurf al-Sakhar: the town Iraq's government cannot enter",
                f"{BASE}/ledger/security/jurf-al-sakhar-closed-town.html",
            ),
            Link(
                "Who pays the Popular Mobilization Forces?",
                f"{BASE}/ledger/analysis/who-pays-the-pmf.html",
            ),
            Link(
                "Three Futures for Iraq's Armed Factions After the Coalition Leaves",
                page_url(SLUG_FUTURES),
            ),
        ),
        comments=(
            Comment(
                "Hussein A.",
                "2026-09-22T11:05:00+00:00",
                "The line about the referee is right. Nobody in Baghdad has that role now, "
                "not even the Iranians.",
            ),
            Comment(
                "m.keane",
                "2026-09-22T14:48:00+00:00",
                "A company named after al-Muhandis winning state contracts tells you most of "
                "what you need to know about where the PMF is heading.",
            ),
        ),
        tags=("Iraq", "Iran", "Popular Mobilization Forces", "Quds Force"),
    ),
    Spec(
        slug=SLUG_LAW,
        text=f"{SLUG_LAW}.txt",
        outlet="meridian",
        feed="world",
        guid="meridian-post:world:2026-11-03:pmf-law-vote-delayed",
        title="Iraqi vote on militia law delayed as Washington weighs new sanctions",
        author="Meridian Post staff",
        published="2026-11-03T12:10:00-05:00",
        section="World",
        dek="Lawmakers shelved a bill on the future of the Popular Mobilization Forces for the "
        "third time this year after U.S. officials warned of consequences for Iraq's banks.",
        related=(
            Link(
                "Drone attack near Erbil tests final phase of U.S. drawdown in Iraq",
                page_url(SLUG_ERBIL),
            ),
            Link(
                "Iraq's dollar squeeze, explained in four charts",
                f"{BASE}/meridian/business/iraq-dollar-squeeze-charts.html",
            ),
            Link(
                "Treasury adds Iraqi exchange houses to sanctions list",
                f"{BASE}/meridian/national-security/treasury-iraqi-exchange-houses.html",
                "From the archive",
            ),
        ),
        comments=(
            Comment(
                "S. Demir",
                "2026-11-03T14:22:00-05:00",
                "Third delay this year. At some point postponing is the policy.",
            ),
            Comment(
                "oilman_tx",
                "2026-11-03T16:09:00-05:00",
                "The New York Fed account is the only lever that ever seems to move Baghdad. "
                "Odd that it gets so little attention here.",
            ),
        ),
        tags=("Iraq", "Popular Mobilization Forces", "Sanctions", "State Department"),
    ),
    Spec(
        slug=SLUG_FUTURES,
        text=f"{SLUG_FUTURES}.txt",
        outlet="frontline",
        feed="analysis",
        guid="tag:frontlinepolicy.example,2026-10-28:/2026/10/three-futures-armed-factions",
        title="Three Futures for Iraq's Armed Factions After the Coalition Leaves",
        author="Amira Salloum",
        published="2026-10-28T21:00:00+00:00",
        section="Analysis",
        dek="Absorption, attrition or spillover: what to watch once the last U.S. advisers are "
        "gone.",
        related=(
            Link(TITLE_BORDER, page_url(SLUG_BORDER_COPY)),
            Link(
                "The PMF law, clause by clause",
                f"{BASE}/frontline/2026/09/pmf-law-clause-by-clause/",
            ),
            Link(
                "Najaf's quiet veto",
                f"{BASE}/frontline/2026/06/najaf-quiet-veto/",
            ),
        ),
        comments=(
            Comment(
                "Rashid",
                "2026-10-29T06:40:00+00:00",
                "Scenario one is already here in all but name. The law would only make it "
                "official.",
            ),
            Comment(
                "policy_student",
                "2026-10-29T10:12:00+00:00",
                "The point about younger commanders growing up inside the PMF bureaucracy "
                "deserves its own essay.",
            ),
            Comment(
                "E. Varga",
                "2026-10-30T08:55:00+00:00",
                "I would give scenario three more weight than the author does. The factions "
                "bargain, yes, but they have never refused Tehran outright.",
            ),
        ),
        tags=("Iraq", "Iran", "Kataib Hezbollah", "Asaib Ahl al-Haq", "Scenarios"),
    ),
    Spec(
        slug=SLUG_BORDER,
        text=f"{SLUG_BORDER}.txt",
        outlet="ledger",
        feed="world",
        guid="tag:levantledger.example,2026-11-18:/world/al-qaim-corridor",
        title=TITLE_BORDER,
        author="Elias Marouf",
        published="2026-11-18T07:45:00+00:00",
        section="World",
        dek="Since the fall of Bashar al-Assad, the desert route that carried Iranian supplies "
        "into Syria has gone quiet. The armed groups posted along it have not left.",
        related=(
            Link(
                "How Iraq's militias learned to live without Soleimani",
                page_url(SLUG_AFTER),
            ),
            Link(
                "Albu Kamal after Assad: a border town changes hands",
                f"{BASE}/ledger/world/albu-kamal-after-assad.html",
            ),
            Link(
                "Islamic State cells regroup in the Anbar desert, officials say",
                f"{BASE}/ledger/security/islamic-state-anbar-desert.html",
            ),
        ),
        comments=(
            Comment(
                "Noor H.",
                "2026-11-18T10:30:00+00:00",
                "My family is from the valley. The part about the fees at the checkpoints is "
                "exactly right, and nobody in Baghdad wants to hear it.",
            ),
            Comment(
                "J. Brandt",
                "2026-11-18T13:02:00+00:00",
                "The mural detail is wonderful. Spelling aside, it says everything about who "
                "the town is supposed to remember.",
            ),
        ),
        tags=("Iraq", "Syria", "Anbar", "Popular Mobilization Forces", "Islamic State"),
    ),
    Spec(
        slug=SLUG_BORDER_COPY,
        text=f"{SLUG_BORDER}.txt",
        outlet="frontline",
        feed="analysis",
        guid="tag:frontlinepolicy.example,2026-11-19:/2026/11/corridor-to-nowhere",
        title=TITLE_BORDER,
        author="Elias Marouf",
        published="2026-11-19T10:30:00+00:00",
        section="Guest Analysis",
        related=(
            Link(
                "Three Futures for Iraq's Armed Factions After the Coalition Leaves",
                page_url(SLUG_FUTURES),
            ),
            Link(
                "Photo essay: the Euphrates valley from Hit to Al-Qaim",
                f"{BASE}/frontline/2026/08/photo-essay-euphrates-valley/",
            ),
        ),
        comments=(
            Comment(
                "Dan Whitaker",
                "2026-11-19T12:14:00+00:00",
                "Good to see this reporting picked up here. The plans to hand the crossings "
                "back to the border police are the real news, and nobody seems willing to "
                "say why they are stuck.",
            ),
            Comment(
                "reader_in_amman",
                "2026-11-19T15:37:00+00:00",
                "The last line is perfect. Everyone in that valley quotes the law when it "
                "suits them.",
                replies=(
                    Comment(
                        "Observer",
                        "2026-11-19T18:03:00+00:00",
                        "That is true of most of the region, not only the valley.",
                    ),
                ),
            ),
        ),
        comments_closed=True,
        tags=("Iraq", "Syria", "Popular Mobilization Forces"),
        duplicate_of=SLUG_BORDER,
        syndication_note="This article first appeared in the Levant Ledger and is republished "
        "with permission. Mirrored from the Levant Ledger.",
    ),
)


# --- outlets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outlet:
    key: str
    name: str
    tagline: str
    nav: tuple[str, ...]


OUTLETS = {
    "meridian": Outlet(
        "meridian",
        "The Meridian Post",
        "Independent journalism since 1921",
        ("World", "Middle East", "National Security", "Politics", "Business", "Opinion", "Video"),
    ),
    "ledger": Outlet(
        "ledger",
        "Levant Ledger",
        "News and analysis from the Levant and the Gulf",
        ("World", "Security", "Energy", "Analysis", "Podcasts", "Newsletters"),
    ),
    "frontline": Outlet(
        "frontline",
        "Frontline Policy Review",
        "Conflict, diplomacy and the Middle East",
        ("Home", "Analysis", "Guest Analysis", "Iraq", "Iran", "About", "Donate"),
    ),
}


# --- reading the articles ---------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    kind: str  # p | h2 | figure | note
    text: str  # may hold [anchor](url) links
    credit: str = ""


_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def read_blocks(path: Path) -> list[Block]:
    """The article's blocks in order: blank lines separate them, wrapped lines are joined."""
    blocks: list[Block] = []
    chunks = re.split(r"\n\s*\n", path.read_text(encoding="utf-8"))
    for chunk in chunks:
        text = " ".join(line.strip() for line in chunk.strip().splitlines())
        if not text:
            continue
        if text.startswith("## "):
            blocks.append(Block("h2", text[3:].strip()))
        elif text.startswith("[figure] "):
            caption, _, credit = text.removeprefix("[figure] ").partition("||")
            blocks.append(Block("figure", caption.strip(), credit.strip()))
        elif text.startswith("[note] "):
            blocks.append(Block("note", text.removeprefix("[note] ").strip()))
        else:
            blocks.append(Block("p", text))
    if not any(b.kind == "p" for b in blocks):
        raise ValueError(f"{path}: no paragraphs")
    return blocks


# --- html helpers -----------------------------------------------------------------------------


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def attr(text: str) -> str:
    return html.escape(text, quote=True)


def linkify(text: str) -> str:
    """Escape `text`; turn `[anchor](url)` into <a href=url>anchor</a> (a leading / is the corpus)."""
    out: list[str] = []
    pos = 0
    for m in _LINK.finditer(text):
        href = m.group(2)
        if href.startswith("/"):
            href = BASE + href
        out.append(esc(text[pos : m.start()]))
        out.append(f'<a href="{attr(href)}">{esc(m.group(1))}</a>')
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def plain(text: str) -> str:
    """`text` without link markup: the anchor text stays."""
    return _LINK.sub(r"\1", text)


def human_date(iso: str) -> str:
    d = datetime.fromisoformat(iso)
    return f"{d:%B} {d.day}, {d.year}"


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line.strip() else "" for line in text.splitlines())


def first_paragraph(blocks: Iterable[Block]) -> str:
    return plain(next(b.text for b in blocks if b.kind == "p"))


def body_html(blocks: Sequence[Block], *, fig_class: str, ad_every: int, ad_html: str) -> str:
    """The article body; an in-article ad or promo after every `ad_every` paragraphs."""
    parts: list[str] = []
    paragraphs = 0
    for b in blocks:
        if b.kind == "p":
            parts.append(f"<p>{linkify(b.text)}</p>")
            paragraphs += 1
            if ad_every and paragraphs % ad_every == 0 and paragraphs < len(blocks) - 2:
                parts.append(ad_html)
        elif b.kind == "note":
            parts.append(f"<p><em>{linkify(b.text)}</em></p>")
        elif b.kind == "h2":
            parts.append(f"<h2>{esc(b.text)}</h2>")
        elif b.kind == "figure":
            credit = f' <span class="credit">{esc(b.credit)}</span>' if b.credit else ""
            parts.append(
                f'<figure class="{fig_class}">\n'
                f'  <img src="{BASE}/static/img/placeholder.jpg" alt="{attr(b.text)}" '
                f'width="1200" height="675" loading="lazy">\n'
                f"  <figcaption>{esc(b.text)}{credit}</figcaption>\n</figure>"
            )
    return "\n".join(parts)


def comment_paras(text: str) -> str:
    return "".join(f"<p>{esc(p.strip())}</p>" for p in text.split("\n\n"))


# --- template A: The Meridian Post (semantic newspaper, JSON-LD, top cookie banner) ----------


def render_meridian(spec: Spec, blocks: Sequence[Block]) -> str:
    o = OUTLETS["meridian"]
    url = page_url(spec.slug)
    summary = first_paragraph(blocks)
    ld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": spec.title,
        "datePublished": spec.published,
        "dateModified": spec.published,
        "author": [{"@type": "Person", "name": spec.author}],
        "publisher": {"@type": "Organization", "name": o.name},
        "mainEntityOfPage": url,
        "articleSection": spec.section,
        "keywords": list(spec.tags),
    }
    current = ' aria-current="page"'
    nav = "\n".join(
        f'        <li><a href="{BASE}/meridian/{slugify(n)}/"'
        f"{current if n == spec.section else ''}>{esc(n)}</a></li>"
        for n in o.nav
    )
    ad = (
        '<aside class="ad-slot ad-inarticle" aria-label="Advertisement">\n'
        '  <span class="ad-label">Advertisement</span>\n'
        '  <div id="div-gpt-ad-inarticle" data-ad-unit="/meridian/world/inarticle"></div>\n'
        "</aside>"
    )
    body = body_html(blocks, fig_class="article-figure", ad_every=6, ad_html=ad)
    related = "\n".join(
        f'        <li><a href="{attr(r.href)}">{esc(r.title)}</a>'
        + (f' <span class="related-note">{esc(r.note)}</span>' if r.note else "")
        + "</li>"
        for r in spec.related
    )
    comments = "\n".join(_meridian_comment(c) for c in spec.comments)
    tags = "\n".join(
        f'        <li><a href="{BASE}/meridian/topics/{slugify(t)}/" rel="tag">{esc(t)}</a></li>'
        for t in spec.tags
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{esc(spec.title)} - {esc(o.name)}</title>
  <meta name="description" content="{attr(summary)}">
  <link rel="canonical" href="{url}">
  <meta property="og:type" content="article">
  <meta property="og:title" content="{attr(spec.title)}">
  <meta property="og:description" content="{attr(spec.dek or summary)}">
  <meta property="og:url" content="{url}">
  <meta property="og:site_name" content="{attr(o.name)}">
  <meta property="og:image" content="{BASE}/static/img/placeholder.jpg">
  <meta property="article:published_time" content="{spec.published}">
  <meta property="article:section" content="{attr(spec.section)}">
  <meta property="article:author" content="{attr(spec.author)}">
  <meta name="author" content="{attr(spec.author)}">
  <meta name="twitter:card" content="summary_large_image">
  <link rel="stylesheet" href="{BASE}/static/meridian.css">
  <script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>
  <script>window.dataLayer=window.dataLayer||[];dataLayer.push({{"section":"{attr(spec.section)}","contentType":"article"}});</script>
</head>
<body class="article-page section-{slugify(spec.section)}">
  <div id="cookie-consent" class="cookie-banner" role="dialog" aria-live="polite" aria-label="Cookie consent">
    <p>We use cookies and similar technologies to improve your experience, measure audiences and
      show you relevant advertising. You can accept all cookies or manage your preferences at any
      time. See our <a href="{BASE}/meridian/cookie-policy/">Cookie Policy</a>.</p>
    <button type="button" class="cookie-accept">Accept all</button>
    <button type="button" class="cookie-manage">Manage preferences</button>
  </div>
  <header class="site-header">
    <div class="masthead">
      <a class="logo" href="{BASE}/meridian/">{esc(o.name)}</a>
      <p class="tagline">{esc(o.tagline)}</p>
      <a class="subscribe" href="{BASE}/meridian/subscribe/">Subscribe</a>
      <a class="sign-in" href="{BASE}/meridian/account/">Sign in</a>
    </div>
    <nav class="primary-nav" aria-label="Sections">
      <ul>
{nav}
      </ul>
    </nav>
  </header>
  <nav class="breadcrumb" aria-label="Breadcrumb">
    <ol>
      <li><a href="{BASE}/meridian/">Home</a></li>
      <li><a href="{BASE}/meridian/world/">World</a></li>
      <li><a href="{BASE}/meridian/{slugify(spec.section)}/">{esc(spec.section)}</a></li>
    </ol>
  </nav>
  <main id="main-content">
    <article class="story">
      <header class="story-header">
        <p class="kicker"><a href="{BASE}/meridian/{slugify(spec.section)}/">{esc(spec.section)}</a></p>
        <h1>{esc(spec.title)}</h1>
        <p class="standfirst">{esc(spec.dek)}</p>
        <div class="story-meta">
          <p class="byline">By <a rel="author" href="{BASE}/meridian/people/{slugify(spec.author)}/">{esc(spec.author)}</a></p>
          <time datetime="{spec.published}" class="published">{human_date(spec.published)}</time>
        </div>
        <ul class="share-tools" aria-label="Share this story">
          <li><a href="https://twitter.com/intent/tweet?url={url}">Share on X</a></li>
          <li><a href="https://www.facebook.com/sharer/sharer.php?u={url}">Share on Facebook</a></li>
          <li><a href="mailto:?subject={attr(spec.title)}&amp;body={url}">Email</a></li>
          <li><button type="button" class="save-story">Save</button></li>
        </ul>
      </header>
      <div class="article-body">
{indent(body, 8)}
      </div>
      <footer class="story-footer">
        <ul class="topics" aria-label="Topics">
{tags}
        </ul>
      </footer>
    </article>
    <aside class="newsletter-promo">
      <h2>The Middle East Brief</h2>
      <p>Our reporters' best work on the region, in your inbox every weekday morning.</p>
      <form action="{BASE}/meridian/newsletters/signup" method="post">
        <label>Email address <input type="email" name="email" required></label>
        <button type="submit">Sign up</button>
      </form>
    </aside>
    <section class="related-stories" aria-labelledby="related-heading">
      <h2 id="related-heading">Related stories</h2>
      <ul>
{related}
      </ul>
    </section>
    <section id="comments" class="comments" aria-labelledby="comments-heading">
      <h2 id="comments-heading">Comments ({_count(spec.comments)})</h2>
      <p class="comments-policy">Comments are moderated. Please read our <a href="{BASE}/meridian/community-rules/">community rules</a>.</p>
      <ol class="comment-list">
{indent(comments, 8)}
      </ol>
    </section>
  </main>
  <footer class="site-footer">
    <nav aria-label="Footer">
      <ul>
        <li><a href="{BASE}/meridian/about/">About us</a></li>
        <li><a href="{BASE}/meridian/contact/">Contact</a></li>
        <li><a href="{BASE}/meridian/careers/">Careers</a></li>
        <li><a href="{BASE}/meridian/terms/">Terms of use</a></li>
        <li><a href="{BASE}/meridian/privacy/">Privacy policy</a></li>
        <li><a href="{BASE}/meridian/cookie-policy/">Cookie settings</a></li>
        <li><a href="{BASE}/feeds/world.xml">RSS</a></li>
      </ul>
    </nav>
    <p class="copyright">&copy; {datetime.fromisoformat(spec.published).year} {esc(o.name)}. All rights reserved.</p>
  </footer>
  <script src="{BASE}/static/meridian.js" defer></script>
</body>
</html>
"""


def _count(comments: Sequence[Comment]) -> int:
    return sum(1 + len(c.replies) for c in comments)


def _meridian_comment(c: Comment) -> str:
    replies = ""
    if c.replies:
        inner = "\n".join(_meridian_comment(r) for r in c.replies)
        replies = f'\n  <ol class="replies">\n{indent(inner, 4)}\n  </ol>'
    return (
        f'<li class="comment">\n'
        f'  <p class="comment-author">{esc(c.author)} '
        f'<time datetime="{c.when}">{human_date(c.when)}</time></p>\n'
        f'  <div class="comment-text">{comment_paras(c.text)}</div>\n'
        f'  <button type="button" class="reply">Reply</button> '
        f'<button type="button" class="report">Report</button>{replies}\n'
        f"</li>"
    )


# --- template B: Levant Ledger (div soup, bottom cookie bar, related inside article) ---------


def render_ledger(spec: Spec, blocks: Sequence[Block]) -> str:
    o = OUTLETS["ledger"]
    url = page_url(spec.slug)
    summary = first_paragraph(blocks)
    nav = "\n".join(
        f'          <li class="menu-item"><a href="{BASE}/ledger/{slugify(n)}/">{esc(n)}</a></li>'
        for n in o.nav
    )
    promo = (
        '<div class="inline-promo">\n'
        "  <strong>Get the Ledger Daily.</strong> Security, energy and politics across the "
        f'region. <a href="{BASE}/ledger/newsletters/">Subscribe free</a>\n'
        "</div>"
    )
    body = body_html(blocks, fig_class="story__image", ad_every=8, ad_html=promo)
    related = "\n".join(
        f'            <li class="read-more__item"><a href="{attr(r.href)}">{esc(r.title)}</a></li>'
        for r in spec.related
    )
    most_read = "\n".join(
        f'          <li><a href="{BASE}/ledger/{p}.html">{esc(t)}</a></li>'
        for p, t in (
            ("energy/oil-prices-gulf-producers", "Gulf producers brace for another oil slump"),
            ("world/lebanon-cabinet-talks", "Lebanon's cabinet talks stall again"),
            ("security/drone-strikes-explained", "Explainer: who flies the drones over Iraq?"),
        )
    )
    comments = "\n".join(_ledger_comment(c) for c in spec.comments)
    return f"""<!DOCTYPE html>
<html lang="en" class="no-js">
<head>
<meta charset="utf-8">
<title>{esc(spec.title)} | {esc(o.name)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="canonical" href="{url}">
<meta name="description" content="{attr(spec.dek or summary)}">
<meta property="og:site_name" content="{attr(o.name)}">
<meta property="og:type" content="article">
<meta property="og:title" content="{attr(spec.title)}">
<meta property="og:url" content="{url}">
<meta property="og:description" content="{attr(spec.dek or summary)}">
<meta property="article:published_time" content="{spec.published}">
<meta property="article:modified_time" content="{spec.published}">
<meta property="article:section" content="{attr(spec.section)}">
<meta name="parsely-pub-date" content="{spec.published}">
<style>.cc-window{{position:fixed;bottom:0;left:0;right:0}}.story__body p{{line-height:1.6}}</style>
<script async src="{BASE}/static/ledger-analytics.js"></script>
</head>
<body class="single single-story">
<div class="page-wrap">
  <div class="site-header">
    <div class="site-header__top">
      <div class="site-header__date">Levant Ledger &middot; Beirut &middot; Dubai &middot; London</div>
      <div class="site-header__account"><a href="{BASE}/ledger/login/">Log in</a> | <a href="{BASE}/ledger/register/">Register</a></div>
    </div>
    <div class="site-header__brand"><a href="{BASE}/ledger/" class="brand">{esc(o.name)}</a> <span class="brand__strap">{esc(o.tagline)}</span></div>
    <div class="site-header__nav">
      <div class="menu-main-container">
        <ul id="menu-main" class="menu">
{nav}
        </ul>
      </div>
      <form class="search-form" action="{BASE}/ledger/search/"><input type="search" name="q" placeholder="Search"></form>
    </div>
  </div>
  <div class="breadcrumbs" typeof="BreadcrumbList" vocab="https://schema.org/">
    <span property="itemListElement" typeof="ListItem"><a property="item" typeof="WebPage" href="{BASE}/ledger/"><span property="name">Home</span></a></span> &rsaquo;
    <span property="itemListElement" typeof="ListItem"><a property="item" typeof="WebPage" href="{BASE}/ledger/{slugify(spec.section)}/"><span property="name">{esc(spec.section)}</span></a></span> &rsaquo;
    <span class="breadcrumbs__current">{esc(spec.title)}</span>
  </div>
  <div class="layout">
    <div class="layout__main">
      <article class="story" id="story-{slugify(spec.slug)[:24]}" itemscope itemtype="https://schema.org/NewsArticle">
        <header class="story__header">
          <div class="story__section"><a href="{BASE}/ledger/{slugify(spec.section)}/">{esc(spec.section)}</a></div>
          <h1 class="story__title">{esc(spec.title)}</h1>
          <div class="story__dek">{esc(spec.dek)}</div>
          <div class="story__meta">
            <span class="story__author">By <a href="{BASE}/ledger/author/{slugify(spec.author)}/" rel="author">{esc(spec.author)}</a></span>
            <span class="story__sep">&bull;</span>
            <time class="story__date" datetime="{spec.published}">{human_date(spec.published)}</time>
          </div>
          <div class="social-share">
            <a class="social-share__x" href="https://twitter.com/share?url={url}">Tweet</a>
            <a class="social-share__li" href="https://www.linkedin.com/shareArticle?url={url}">LinkedIn</a>
            <a class="social-share__wa" href="https://wa.me/?text={url}">WhatsApp</a>
          </div>
        </header>
        <div class="story__body" itemprop="articleBody">
{indent(body, 10)}
        </div>
        <section class="story__related read-more">
          <h3 class="read-more__title">Related stories</h3>
          <ul class="read-more__list">
{related}
          </ul>
        </section>
      </article>
      <div class="comments-wrap" id="comments">
        <h3 class="comments-wrap__title">{_count(spec.comments)} Comments</h3>
        <div class="comments-wrap__sort">Sort by: <a href="#comments">Newest</a> | <a href="#comments">Oldest</a></div>
        <ul class="comment-thread">
{indent(comments, 10)}
        </ul>
        <div class="comments-wrap__cta"><a href="{BASE}/ledger/login/">Log in to comment</a></div>
      </div>
    </div>
    <div class="layout__sidebar">
      <div class="widget widget--most-read">
        <h4 class="widget__title">Most read</h4>
        <ol>
{most_read}
        </ol>
      </div>
      <div class="widget widget--ad"><div class="ad-container" data-slot="sidebar-mpu">Advertisement</div></div>
    </div>
  </div>
  <div class="site-footer">
    <div class="site-footer__links">
      <a href="{BASE}/ledger/about/">About</a>
      <a href="{BASE}/ledger/advertise/">Advertise</a>
      <a href="{BASE}/ledger/corrections/">Corrections</a>
      <a href="{BASE}/ledger/privacy/">Privacy</a>
      <a href="{BASE}/ledger/terms/">Terms</a>
      <a href="{BASE}/feeds/world.xml">RSS feeds</a>
    </div>
    <div class="site-footer__legal">&copy; {esc(o.name)} Media Ltd. Registered in England and Wales.</div>
  </div>
</div>
<div class="cc-window cc-banner" role="dialog" aria-label="cookieconsent">
  <span class="cc-message">We use cookies to keep this site running, remember your settings and count how our pages are read. <a class="cc-link" href="{BASE}/ledger/privacy/">Learn more</a></span>
  <div class="cc-compliance"><a class="cc-btn cc-allow" role="button" tabindex="0">Accept Cookies</a> <a class="cc-btn cc-settings" role="button" tabindex="0">Cookie Preferences</a></div>
</div>
<script>document.documentElement.className=document.documentElement.className.replace("no-js","js");</script>
</body>
</html>
"""


def _ledger_comment(c: Comment) -> str:
    replies = ""
    if c.replies:
        inner = "\n".join(_ledger_comment(r) for r in c.replies)
        replies = (
            f'\n  <ul class="comment-thread comment-thread--replies">\n{indent(inner, 4)}\n  </ul>'
        )
    return (
        f'<li class="comment-item">\n'
        f'  <div class="comment-item__head"><span class="comment-item__user">{esc(c.author)}</span> '
        f'<span class="comment-item__time" title="{c.when}">{human_date(c.when)}</span></div>\n'
        f'  <div class="comment-item__body">{comment_paras(c.text)}</div>\n'
        f'  <div class="comment-item__actions"><a href="#comments">Like</a> '
        f'<a href="#comments">Reply</a></div>{replies}\n'
        f"</li>"
    )


# --- template C: Frontline Policy Review (WordPress blog: entry-content, comment-list) -------


def render_frontline(spec: Spec, blocks: Sequence[Block]) -> str:
    o = OUTLETS["frontline"]
    url = page_url(spec.slug)
    summary = first_paragraph(blocks)
    nav = "\n".join(
        f'        <li class="menu-item"><a href="{BASE}/frontline/{slugify(n)}/">{esc(n)}</a></li>'
        for n in o.nav
    )
    body = body_html(blocks, fig_class="wp-block-image", ad_every=0, ad_html="")
    related = "\n".join(
        f'        <div class="jp-relatedposts-post"><h4 class="jp-relatedposts-post-title">'
        f'<a href="{attr(r.href)}">{esc(r.title)}</a></h4></div>'
        for r in spec.related
    )
    comments = "\n".join(_frontline_comment(c, i) for i, c in enumerate(spec.comments, 1))
    cats = ", ".join(
        f'<a href="{BASE}/frontline/tag/{slugify(t)}/" rel="tag">{esc(t)}</a>' for t in spec.tags
    )
    syndication = ""
    if spec.syndication_note:
        syndication = (
            '    <aside class="syndication-notice">\n'
            f"      <p>{esc(spec.syndication_note)}</p>\n"
            "    </aside>\n"
        )
    respond = (
        '<p class="no-comments">Comments are closed.</p>'
        if spec.comments_closed
        else f"""<div id="respond" class="comment-respond">
        <h3 id="reply-title" class="comment-reply-title">Leave a Reply</h3>
        <form action="{BASE}/frontline/wp-comments-post.php" method="post" id="commentform" class="comment-form">
          <p class="comment-notes">Your email address stays private. Fields marked * must be filled in.</p>
          <p class="comment-form-comment"><label for="comment">Comment</label> <textarea id="comment" name="comment" cols="45" rows="8" required></textarea></p>
          <p class="comment-form-author"><label for="author">Name *</label> <input id="author" name="author" type="text" required></p>
          <p class="comment-form-email"><label for="email">Email *</label> <input id="email" name="email" type="email" required></p>
          <p class="form-submit"><input name="submit" type="submit" id="submit" class="submit" value="Post Comment"></p>
        </form>
      </div>"""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="profile" href="https://gmpg.org/xfn/11">
<title>{esc(spec.title)} &#8211; {esc(o.name)}</title>
<meta name="robots" content="max-image-preview:large">
<link rel="canonical" href="{url}">
<meta property="og:locale" content="en_US">
<meta property="og:type" content="article">
<meta property="og:title" content="{attr(spec.title)}">
<meta property="og:description" content="{attr(summary)}">
<meta property="og:url" content="{url}">
<meta property="og:site_name" content="{attr(o.name)}">
<meta property="article:published_time" content="{spec.published}">
<meta name="author" content="{attr(spec.author)}">
<link rel="alternate" type="application/atom+xml" title="{attr(o.name)} &raquo; Feed" href="{BASE}/feeds/analysis.xml">
<link rel="stylesheet" id="frontline-style-css" href="{BASE}/frontline/wp-content/themes/frontline/style.css" media="all">
<script src="{BASE}/frontline/wp-includes/js/jquery/jquery.min.js" id="jquery-core-js"></script>
</head>
<body class="post-template-default single single-post single-format-standard">
<div id="page" class="site">
  <a class="skip-link screen-reader-text" href="#content">Press "Enter" to skip to content</a>
  <header id="masthead" class="site-header">
    <div class="site-branding">
      <p class="site-title"><a href="{BASE}/frontline/" rel="home">{esc(o.name)}</a></p>
      <p class="site-description">{esc(o.tagline)}</p>
    </div>
    <nav id="site-navigation" class="main-navigation" aria-label="Primary Menu">
      <button class="menu-toggle" aria-controls="primary-menu" aria-expanded="false">Menu</button>
      <ul id="primary-menu" class="menu">
{nav}
      </ul>
    </nav>
  </header>
  <div id="content" class="site-content">
    <p id="breadcrumbs"><span><span><a href="{BASE}/frontline/">Home</a></span> &raquo; <span><a href="{BASE}/frontline/{slugify(spec.section)}/">{esc(spec.section)}</a></span> &raquo; <span class="breadcrumb_last" aria-current="page">{esc(spec.title)}</span></span></p>
    <div id="primary" class="content-area">
      <main id="main" class="site-main">
        <article id="post-{len(spec.slug) * 97}" class="post type-post status-publish format-standard hentry">
          <header class="entry-header">
            <h1 class="entry-title">{esc(spec.title)}</h1>
            <div class="entry-meta">
              <span class="posted-on">Posted on <a href="{url}" rel="bookmark"><time class="entry-date published" datetime="{spec.published}">{human_date(spec.published)}</time></a></span>
              <span class="byline"> by <span class="author vcard"><a class="url fn n" href="{BASE}/frontline/author/{slugify(spec.author)}/">{esc(spec.author)}</a></span></span>
            </div>
          </header>
          <div class="entry-content">
{indent(body, 12)}
          </div>
          <footer class="entry-footer">
            <span class="tags-links">Tagged {cats}</span>
          </footer>
        </article>
{syndication}        <nav class="navigation post-navigation" aria-label="Posts">
          <h2 class="screen-reader-text">Post navigation</h2>
          <div class="nav-links">
            <div class="nav-previous"><a href="{BASE}/frontline/previous/" rel="prev">Previous post: Najaf's quiet veto</a></div>
            <div class="nav-next"><a href="{BASE}/frontline/next/" rel="next">Next post: Sanctions and the Iraqi electricity grid, one summer later</a></div>
          </div>
        </nav>
        <div id="jp-relatedposts" class="jp-relatedposts">
          <h3 class="jp-relatedposts-headline"><em>Related stories</em></h3>
{related}
        </div>
        <div id="comments" class="comments-area">
          <h2 class="comments-title">{_count(spec.comments)} Responses</h2>
          <ol class="comment-list">
{indent(comments, 12)}
          </ol>
          {respond}
        </div>
      </main>
    </div>
    <aside id="secondary" class="widget-area">
      <section class="widget widget_search"><form role="search" method="get" class="search-form" action="{BASE}/frontline/"><label><span class="screen-reader-text">Search for:</span><input type="search" class="search-field" name="s"></label><input type="submit" class="search-submit" value="Search"></form></section>
      <section class="widget widget_recent_entries"><h2 class="widget-title">Recent Posts</h2>
        <ul>
          <li><a href="{BASE}/frontline/2026/11/basra-water-protests/">Basra's water protests, a season on</a></li>
          <li><a href="{BASE}/frontline/2026/10/iraq-electricity/">Sanctions and the Iraqi electricity grid, one summer later</a></li>
          <li><a href="{BASE}/frontline/2026/09/pmf-law-clause-by-clause/">The PMF law, clause by clause</a></li>
        </ul>
      </section>
    </aside>
  </div>
  <footer id="colophon" class="site-footer">
    <div class="site-info">
      <a href="{BASE}/frontline/about/">About</a> | <a href="{BASE}/frontline/contact/">Contact</a> | <a href="{BASE}/frontline/privacy-policy/">Privacy Policy</a> | <a href="{BASE}/feeds/analysis.xml">Feed</a>
      <p>Proudly powered by WordPress &middot; Theme: Frontline by Example Themes.</p>
    </div>
  </footer>
</div>
<div id="cookie-notice" role="dialog" class="cookie-notice-hidden cookie-revoke-hidden cn-position-bottom" aria-label="Cookie Notice">
  <div class="cookie-notice-container">
    <span id="cn-notice-text" class="cn-text-container">We use cookies to ensure that we give you the best experience on our website. If you continue to use this site we will assume that you are happy with it.</span>
    <span id="cn-notice-buttons" class="cn-buttons-container"><a href="#" id="cn-accept-cookie" class="cn-set-cookie cn-button">Ok</a> <a href="{BASE}/frontline/privacy-policy/" class="cn-privacy-policy-link cn-button">Privacy policy</a></span>
  </div>
</div>
</body>
</html>
"""


def _frontline_comment(c: Comment, number: int, depth: int = 1) -> str:
    replies = ""
    if c.replies:
        inner = "\n".join(
            _frontline_comment(r, number * 10 + i, depth + 1) for i, r in enumerate(c.replies, 1)
        )
        replies = f'\n  <ol class="children">\n{indent(inner, 4)}\n  </ol>'
    return (
        f'<li id="comment-{number}" class="comment depth-{depth}">\n'
        f'  <article id="div-comment-{number}" class="comment-body">\n'
        f'    <footer class="comment-meta"><div class="comment-author vcard">'
        f'<b class="fn">{esc(c.author)}</b> <span class="says">says:</span></div>'
        f'<div class="comment-metadata"><time datetime="{c.when}">{human_date(c.when)}</time>'
        f"</div></footer>\n"
        f'    <div class="comment-content">{comment_paras(c.text)}</div>\n'
        f"  </article>{replies}\n"
        f"</li>"
    )


RENDERERS = {"meridian": render_meridian, "ledger": render_ledger, "frontline": render_frontline}


# --- feeds ------------------------------------------------------------------------------------


def _xml(text: str) -> str:
    return html.escape(text, quote=True)


def rss_feed(items: Sequence[tuple[Spec, str]]) -> str:
    newest = max(datetime.fromisoformat(s.published) for s, _ in items)
    entries = []
    for spec, summary in items:
        when = format_datetime(datetime.fromisoformat(spec.published))
        cats = "".join(f"\n      <category>{_xml(t)}</category>" for t in spec.tags[:3])
        entries.append(f"""    <item>
      <title>{_xml(spec.title)}</title>
      <link>{page_url(spec.slug)}</link>
      <guid isPermaLink="false">{_xml(spec.guid)}</guid>
      <pubDate>{when}</pubDate>
      <dc:creator>{_xml(spec.author)}</dc:creator>{cats}
      <description>{_xml(summary)}</description>
    </item>""")
    body = "\n".join(entries)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>Demo World Wire</title>
    <link>{BASE}/</link>
    <description>World news on Iraq, Iran and the region from the Meridian Post and the Levant Ledger (bundled demo corpus).</description>
    <language>en</language>
    <lastBuildDate>{format_datetime(newest)}</lastBuildDate>
    <ttl>15</ttl>
    <atom:link href="{BASE}/feeds/world.xml" rel="self" type="application/rss+xml"/>
{body}
  </channel>
</rss>
"""


def atom_feed(items: Sequence[tuple[Spec, str]]) -> str:
    newest = max(s.published for s, _ in items)
    entries = []
    for spec, summary in items:
        cats = "".join(f'\n    <category term="{_xml(t)}"/>' for t in spec.tags[:3])
        entries.append(f"""  <entry>
    <title>{_xml(spec.title)}</title>
    <link rel="alternate" type="text/html" href="{page_url(spec.slug)}"/>
    <id>{_xml(spec.guid)}</id>
    <published>{spec.published}</published>
    <updated>{spec.published}</updated>
    <author><name>{_xml(spec.author)}</name></author>{cats}
    <summary type="text">{_xml(summary)}</summary>
  </entry>""")
    body = "\n".join(entries)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>Demo Analysis</title>
  <subtitle>Analysis and commentary on US-Iran tensions and Iraq's militias (bundled demo corpus).</subtitle>
  <id>tag:monitor.example,2024:demo/analysis</id>
  <link rel="self" type="application/atom+xml" href="{BASE}/feeds/analysis.xml"/>
  <link rel="alternate" type="text/html" href="{BASE}/"/>
  <updated>{newest}</updated>
  <generator>monitor scripts/build_demo_corpus.py</generator>
{body}
</feed>
"""


# --- main -------------------------------------------------------------------------------------


def build(out: Path) -> list[dict[str, object]]:
    pages = out / "pages"
    feeds = out / "feeds"
    for d in (pages, feeds):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    manifest: list[dict[str, object]] = []
    by_feed: dict[str, list[tuple[Spec, str]]] = {"world": [], "analysis": []}
    for spec in SPECS:
        blocks = read_blocks(ARTICLES / spec.text)
        page = RENDERERS[spec.outlet](spec, blocks)
        (pages / f"{spec.slug}.html").write_text(page, encoding="utf-8")
        summary = first_paragraph(blocks)
        by_feed[spec.feed].append((spec, summary))
        manifest.append(
            {
                "slug": spec.slug,
                "path": f"pages/{spec.slug}.html",
                "title": spec.title,
                "outlet": OUTLETS[spec.outlet].name,
                "author": spec.author,
                "published": spec.published,
                "feed": f"feeds/{spec.feed}.xml",
                "guid": spec.guid,
                "text": (ARTICLES / spec.text).relative_to(REPO).as_posix(),
                "duplicate_of": spec.duplicate_of,
            }
        )
    for items in by_feed.values():
        items.sort(key=lambda item: datetime.fromisoformat(item[0].published), reverse=True)
    (feeds / "world.xml").write_text(rss_feed(by_feed["world"]), encoding="utf-8")
    (feeds / "analysis.xml").write_text(atom_feed(by_feed["analysis"]), encoding="utf-8")
    (out / "robots.txt").write_text("User-agent: *\nAllow: /\n", encoding="utf-8")
    (out / "manifest.json").write_text(
        json.dumps({"pages": manifest}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="corpus folder to write")
    args = parser.parse_args(argv)
    for entry in build(args.out):
        dup = f"  (copy of {entry['duplicate_of']})" if entry["duplicate_of"] else ""
        print(f"{entry['path']}: {entry['title']} [{entry['outlet']}]{dup}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
