#!/usr/bin/env python3
# ruff: noqa: E501 -- the page templates below are HTML, one element per line
"""Build the bundled demo corpus (`monitor/demo/corpus/`) from the five seed articles.

    python scripts/build_demo_corpus.py [--seeds DIR] [--out DIR]

Each seed (plain text: header lines, then paragraphs) is wrapped in a realistic news page
from one of three fictional outlets, each with its own markup: site header and menu, a
cookie-consent banner, breadcrumbs, the headline in <h1>, byline and <time>, the paragraphs
inside <article>, related stories, reader comments and a footer -- the boilerplate a real
extractor has to strip. One seed is published a second time by another outlet (same text,
different boilerplate) so the pipeline's duplicate detection has a copy to link.

Two feeds list the six pages: `feeds/world.xml` (RSS 2.0) and `feeds/analysis.xml` (Atom).
Every absolute link to the corpus itself is written `{{BASE_URL}}/...`; the demo server
(`monitor.demo.server.CorpusServer`) substitutes its real `http://127.0.0.1:PORT` at serve
time. `manifest.json` records each page's slug, title, outlet, feed and duplicate relation.

The output is deterministic: re-running on the same seeds rewrites identical files. Which
seed lines are the body, headings, captions or junk is spelled out per seed in SPECS below,
because the seeds are scraped text with different preambles and tails.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SEEDS = Path("/work/shared/seed-corpus")
DEFAULT_OUT = REPO / "monitor" / "demo" / "corpus"
BASE = "{{BASE_URL}}"


# --- what each seed is ------------------------------------------------------------------------


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
    """One page: which seed, where its body lies, and how to present it."""

    slug: str
    seed: str
    outlet: str
    feed: str  # "world" (RSS) or "analysis" (Atom)
    guid: str
    title: str
    author: str
    published: str  # ISO 8601 with offset
    section: str
    body: tuple[int, int]  # 1-based inclusive line range of the article in the seed
    kinds: dict[int, str] = field(default_factory=dict)  # line -> h2 | figure | skip | note
    dek: str = ""
    footnotes: tuple[int, int] | None = None  # lines holding "[n] URL" inline-link targets
    related: tuple[Link, ...] = ()
    comments: tuple[Comment, ...] = ()
    comments_closed: bool = False
    tags: tuple[str, ...] = ()
    duplicate_of: str | None = None
    syndication_note: str = ""
    date_source: str = "seed"  # "seed" when the seed states the date, else "inferred"


def page_url(slug: str) -> str:
    return f"{BASE}/pages/{slug}.html"


SLUG_WAPO = "expanding-us-role-in-iraq-strains-awkward-alliance-with-iran"
SLUG_FLASH = "flash-point-between-america-and-iran-could-be-iraqs-militias"
SLUG_ALIGNED = "us-and-iran-aligned-in-iraq-against-islamic-state"
SLUG_POINTS = "three-points-in-dynamic-of-us-iraq-iran-relations"
SLUG_COALITION = "coalition-of-one-iran-leads-own-fight-against-islamic-state"
SLUG_COALITION_COPY = "republished-coalition-of-one-iran-leads-own-fight"

SPECS: tuple[Spec, ...] = (
    Spec(
        slug=SLUG_WAPO,
        seed="000_e0c75502fd1a1903.txt",
        outlet="meridian",
        feed="world",
        guid="meridian-post:world:2015-08-08:us-iran-awkward-alliance",
        title="Expanding U.S. role in Iraq strains awkward alliance with Iran",
        author="Missy Ryan",
        published="2015-08-08T18:42:00-04:00",
        section="National Security",
        body=(12, 86),
        kinds={86: "note"},
        dek="Shiite militias backed by Tehran and U.S. forces share a battlefield against the "
        "Islamic State -- and a long history of bloodshed.",
        footnotes=(88, 100),
        related=(
            Link(
                "Iraqi militia leader says U.S. not serious about fighting Islamic State",
                "http://news.yahoo.com/iraqi-militia-leader-says-u-not-serious-fighting-203150214--spt.html",
                "Reuters, 28 July 2015",
            ),
            Link(
                "The U.S. and Iran are aligned in Iraq against the Islamic State",
                page_url(SLUG_ALIGNED),
            ),
            Link(
                "Coalition Of One: Iran Leads Own Fight Against Islamic State",
                page_url(SLUG_COALITION),
            ),
            Link(
                "U.S. weighs new base in Anbar as Ramadi offensive looms",
                f"{BASE}/meridian/world/anbar-base-ramadi-offensive.html",
            ),
        ),
        comments=(
            Comment(
                "R. Haddad",
                "2015-08-08T20:11:00-04:00",
                "Anyone who served in Baghdad in 2007 remembers what these groups did. "
                "'Awkward' is a generous word for it.",
            ),
            Comment(
                "sam_in_ohio",
                "2015-08-08T21:37:00-04:00",
                "Good reporting. The Taqaddum detail is the part nobody talks about.",
                replies=(
                    Comment(
                        "Meridian reader",
                        "2015-08-09T07:02:00-04:00",
                        "Agreed -- and it will come up again once Ramadi starts.",
                    ),
                ),
            ),
            Comment(
                "L. Okafor",
                "2015-08-09T09:48:00-04:00",
                "The question is what happens the day after the Islamic State is gone.",
            ),
        ),
        tags=("Iraq", "Iran", "Islamic State", "Kataib Hezbollah", "Pentagon"),
    ),
    Spec(
        slug=SLUG_FLASH,
        seed="001_c1443c2718b58639.txt",
        outlet="ledger",
        feed="analysis",
        guid="tag:levantledger.example,2019-05-09:/analysis/iraq-militias-flash-point",
        title="The Flash Point Between America and Iran Could Be Iraq's Militias",
        author="Levant Ledger staff",
        published="2019-05-09T14:05:00+00:00",
        section="Security",
        body=(3, 67),
        kinds={3: "figure", 5: "skip", 7: "skip", 17: "skip", 19: "skip", 21: "skip"},
        dek="U.S. troops and Iran-backed fighters had an alliance of sorts in the anti-ISIS "
        "campaign. With Washington and Tehran at odds, could they turn on each other?",
        related=(
            Link(
                "US Official: We May Cut Support for Iraq If New Government Seats Pro-Iran "
                "Politicians",
                f"{BASE}/ledger/politics/us-support-iraq-new-government.html",
            ),
            Link(
                "Trump's Latest Warning to Iran Didn't Come out of Nowhere",
                f"{BASE}/ledger/analysis/trump-latest-warning-to-iran.html",
            ),
            Link(
                "ISIS Never Went Away in Iraq", f"{BASE}/ledger/security/isis-never-went-away.html"
            ),
            Link(
                "Coalition Of One: Iran Leads Own Fight Against Islamic State",
                page_url(SLUG_COALITION),
            ),
        ),
        comments=(
            Comment(
                "Dana K.",
                "2019-05-09T16:20:00+00:00",
                "The flag on the radio tower anecdote says more than any think-tank paper.",
            ),
            Comment(
                "Former 101st",
                "2019-05-09T18:02:00+00:00",
                "Was at Qayyarah in 2016. Can confirm the blast walls, and the mood.",
            ),
        ),
        tags=("Iraq", "Iran", "Popular Mobilization Forces", "IRGC"),
        date_source="inferred",
    ),
    Spec(
        slug=SLUG_ALIGNED,
        seed="002_8af32c62d6c01960.txt",
        outlet="meridian",
        feed="world",
        guid="meridian-post:world:2014-12-27:us-iran-aligned-iraq",
        title="The U.S. and Iran are aligned in Iraq against the Islamic State",
        author="Meridian Post staff",
        published="2014-12-27T11:30:00-05:00",
        section="Middle East",
        body=(2, 11),
        dek="Tehran has sent advisers, elite units and more than $1 billion in military aid; "
        "Washington watches the militias warily.",
        related=(
            Link(
                "Expanding U.S. role in Iraq strains awkward alliance with Iran",
                page_url(SLUG_WAPO),
            ),
            Link(
                "Quds Force commander becomes face of Iran's Iraq campaign",
                f"{BASE}/meridian/world/quds-force-commander-iraq.html",
            ),
            Link(
                "Shiite volunteer force rivals size of Iraq's army",
                f"{BASE}/meridian/world/shiite-volunteer-force.html",
            ),
        ),
        comments=(
            Comment(
                "J. Petrossian",
                "2014-12-27T13:05:00-05:00",
                "'For now' is doing a lot of work in that headline.",
            ),
            Comment(
                "MarkT",
                "2014-12-27T15:44:00-05:00",
                "A dozen militias funded by Iraqi oil. That is the story of the next decade.",
            ),
        ),
        tags=("Iraq", "Iran", "Quds Force"),
        date_source="inferred",
    ),
    Spec(
        slug=SLUG_POINTS,
        seed="003_680dd0db58cbb6ab.txt",
        outlet="frontline",
        feed="analysis",
        guid="tag:frontlinepolicy.example,2020-03-27:/2020/03/three-points-us-iraq-iran",
        title="3 Different Points in Dynamic of US-Iraq-Iran Relations",
        author="Frontline Policy Review editors",
        published="2020-03-27T21:10:00+00:00",
        section="Analysis",
        body=(5, 204),
        kinds={
            5: "h2",
            96: "h2",
            166: "h2",
            9: "note",
            98: "note",
            168: "note",
            11: "skip",
            12: "figure",
            36: "skip",
            37: "figure",
            69: "skip",
            70: "figure",
            140: "skip",
            142: "skip",
            144: "figure",
        },
        related=(
            Link(
                "Coalition Of One: Iran Leads Own Fight Against Islamic State",
                page_url(SLUG_COALITION_COPY),
            ),
            Link(
                "Kataib Hezbollah after Soleimani: what changes",
                f"{BASE}/frontline/2020/01/kataib-hezbollah-after-soleimani.html",
            ),
            Link(
                "Iraq's parliament votes to expel foreign troops",
                f"{BASE}/frontline/2020/01/iraq-parliament-foreign-troops.html",
            ),
        ),
        comments=(
            Comment(
                "Hamid",
                "2020-03-28T06:40:00+00:00",
                "Useful to have the three pieces side by side. The Crisis Group proposal "
                "is the only one with an exit ramp.",
            ),
            Comment(
                "policywonk",
                "2020-03-28T11:15:00+00:00",
                "General White's memo deserves more attention than it got.",
            ),
            Comment(
                "E. Lindqvist",
                "2020-03-29T08:03:00+00:00",
                "Coronavirus makes all of these calculations even less predictable.",
            ),
        ),
        tags=("Iraq", "Iran", "Kataib Hezbollah", "Pentagon", "Crisis Group"),
    ),
    Spec(
        slug=SLUG_COALITION,
        seed="004_4047ee32e6c629f4.txt",
        outlet="ledger",
        feed="world",
        guid="tag:levantledger.example,2014-09-17:/world/coalition-of-one",
        title="Coalition Of One: Iran Leads Own Fight Against Islamic State",
        author="Charles Recknagel",
        published="2014-09-17T13:00:00+00:00",
        section="World",
        body=(5, 49),
        kinds={21: "h2", 35: "h2"},
        related=(
            Link(
                "The U.S. and Iran are aligned in Iraq against the Islamic State",
                page_url(SLUG_ALIGNED),
            ),
            Link(
                "Amerli siege lifted after two months",
                f"{BASE}/ledger/world/amerli-siege-lifted.html",
            ),
            Link(
                "Paris conference sets out anti-IS coalition",
                f"{BASE}/ledger/world/paris-conference-coalition.html",
            ),
        ),
        comments=(
            Comment(
                "Nadia R.",
                "2014-09-17T15:30:00+00:00",
                "So two coalitions fighting the same enemy and pretending not to see each "
                "other. What could go wrong.",
            ),
            Comment(
                "T. Moreau",
                "2014-09-17T19:12:00+00:00",
                "Amerli is the test case. Worth reading alongside the Syria angle.",
            ),
        ),
        tags=("Iran", "Iraq", "Syria", "Islamic State", "Hizballah"),
        date_source="inferred",
    ),
    Spec(
        slug=SLUG_COALITION_COPY,
        seed="004_4047ee32e6c629f4.txt",
        outlet="frontline",
        feed="analysis",
        guid="tag:frontlinepolicy.example,2014-09-18:/2014/09/coalition-of-one",
        title="Coalition Of One: Iran Leads Own Fight Against Islamic State",
        author="Charles Recknagel",
        published="2014-09-18T08:20:00+00:00",
        section="Guest Analysis",
        body=(5, 49),
        kinds={21: "h2", 35: "h2"},
        related=(
            Link(
                "Iran's President Says ISIS Wants To 'Kill Humanity' (video)",
                f"{BASE}/frontline/video/rouhani-isis-kill-humanity.html",
            ),
            Link("3 Different Points in Dynamic of US-Iraq-Iran Relations", page_url(SLUG_POINTS)),
        ),
        comments=(
            Comment(
                "Mark Brooks",
                "2014-09-18T10:02:00+00:00",
                "US domestic politics will not allow for cooperation with Iran regardless "
                "of the consequences. Damn shame really.",
            ),
            Comment(
                "reader_ca",
                "2014-09-18T14:26:00+00:00",
                "If Iran can handle it, more power to them. it saves other countries money "
                "and lives. It maybe time for the west to get over their, we can do it "
                "better attitude.",
                replies=(
                    Comment(
                        "Observer",
                        "2014-09-18T16:51:00+00:00",
                        "I don’t think the issue is that Iranian victory would "
                        "raise its profile in the Arab world, but that it would "
                        "cause the tyrants of the Arab world to freak out.",
                    ),
                ),
            ),
        ),
        comments_closed=True,
        tags=("Iran", "Islamic State", "RFE/RL"),
        duplicate_of=SLUG_COALITION,
        syndication_note="This article first appeared in the Levant Ledger and is republished "
        "with permission. Mirrored from the Levant Ledger.",
        date_source="inferred",
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


# --- reading the seeds ------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    kind: str  # p | h2 | figure | note
    text: str
    credit: str = ""


_FOOTNOTE = re.compile(r"^\[(\d+)\]\s+(\S+)\s*$")
_MARKER = re.compile(r"(\S+) \[(\d+)\]")


def read_blocks(spec: Spec, lines: Sequence[str]) -> tuple[list[Block], dict[str, str]]:
    """The article's blocks in order, and the footnote targets for inline links."""
    notes: dict[str, str] = {}
    if spec.footnotes:
        for line in lines[spec.footnotes[0] - 1 : spec.footnotes[1]]:
            m = _FOOTNOTE.match(line.strip())
            if m:
                notes[m.group(1)] = m.group(2)
    blocks: list[Block] = []
    first, last = spec.body
    for number in range(first, last + 1):
        text = lines[number - 1].strip()
        kind = spec.kinds.get(number, "p")
        if not text or kind == "skip":
            continue
        if kind == "figure":
            caption, credit = split_credit(text)
            blocks.append(Block("figure", caption, credit))
        else:
            blocks.append(Block(kind, text))
    return blocks, notes


def split_credit(text: str) -> tuple[str, str]:
    if "Credit…" in text:
        caption, credit = text.split("Credit…", 1)
        return caption.strip(), credit.strip()
    m = re.search(r"\s(AP Photo/.+)$", text)
    if m:
        return text[: m.start()].strip(), m.group(1).strip()
    return text, ""


# --- html helpers -----------------------------------------------------------------------------


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def attr(text: str) -> str:
    return html.escape(text, quote=True)


def linkify(text: str, notes: dict[str, str]) -> str:
    """Escape `text`; turn `word [n]` footnote markers into <a href=...>word</a>."""
    out: list[str] = []
    pos = 0
    for m in _MARKER.finditer(text):
        href = notes.get(m.group(2))
        if href is None:
            continue
        out.append(esc(text[pos : m.start()]))
        out.append(f'<a href="{attr(href)}">{esc(m.group(1))}</a>')
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def human_date(iso: str) -> str:
    d = datetime.fromisoformat(iso)
    return f"{d:%B} {d.day}, {d.year}"


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line.strip() else "" for line in text.splitlines())


def first_paragraph(blocks: Iterable[Block]) -> str:
    return next(b.text for b in blocks if b.kind == "p")


def body_html(
    blocks: Sequence[Block], notes: dict[str, str], *, fig_class: str, ad_every: int, ad_html: str
) -> str:
    """The article body; an in-article ad or promo after every `ad_every` paragraphs."""
    parts: list[str] = []
    paragraphs = 0
    for b in blocks:
        if b.kind == "p":
            parts.append(f"<p>{linkify(b.text, notes)}</p>")
            paragraphs += 1
            if ad_every and paragraphs % ad_every == 0 and paragraphs < len(blocks) - 2:
                parts.append(ad_html)
        elif b.kind == "note":
            parts.append(f"<p><em>{esc(b.text)}</em></p>")
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


def render_meridian(spec: Spec, blocks: Sequence[Block], notes: dict[str, str]) -> str:
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
    body = body_html(blocks, notes, fig_class="article-figure", ad_every=6, ad_html=ad)
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


def render_ledger(spec: Spec, blocks: Sequence[Block], notes: dict[str, str]) -> str:
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
    body = body_html(blocks, notes, fig_class="story__image", ad_every=8, ad_html=promo)
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
  <span class="cc-message">This website uses cookies to enhance user experience and to analyze performance and traffic on our website. <a class="cc-link" href="{BASE}/ledger/privacy/">Learn more</a></span>
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


def render_frontline(spec: Spec, blocks: Sequence[Block], notes: dict[str, str]) -> str:
    o = OUTLETS["frontline"]
    url = page_url(spec.slug)
    summary = first_paragraph(blocks)
    nav = "\n".join(
        f'        <li class="menu-item"><a href="{BASE}/frontline/{slugify(n)}/">{esc(n)}</a></li>'
        for n in o.nav
    )
    body = body_html(blocks, notes, fig_class="wp-block-image", ad_every=0, ad_html="")
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
          <p class="comment-notes">Your email address will not be published. Required fields are marked *</p>
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
            <div class="nav-previous"><a href="{BASE}/frontline/previous/" rel="prev">Previous post: Iraq's protest movement, six months on</a></div>
            <div class="nav-next"><a href="{BASE}/frontline/next/" rel="next">Next post: Sanctions and the Iraqi electricity grid</a></div>
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
          <li><a href="{BASE}/frontline/2020/03/iraq-protests/">Iraq's protest movement, six months on</a></li>
          <li><a href="{BASE}/frontline/2020/03/iraq-electricity/">Sanctions and the Iraqi electricity grid</a></li>
          <li><a href="{BASE}/frontline/2020/02/pmf-law/">What the PMF law does and does not say</a></li>
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


def build(seeds: Path, out: Path) -> list[dict[str, object]]:
    pages = out / "pages"
    feeds = out / "feeds"
    for d in (pages, feeds):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    manifest: list[dict[str, object]] = []
    by_feed: dict[str, list[tuple[Spec, str]]] = {"world": [], "analysis": []}
    for spec in SPECS:
        lines = (seeds / spec.seed).read_text(encoding="utf-8").splitlines()
        blocks, notes = read_blocks(spec, lines)
        page = RENDERERS[spec.outlet](spec, blocks, notes)
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
                "date_source": spec.date_source,
                "feed": f"feeds/{spec.feed}.xml",
                "guid": spec.guid,
                "seed": spec.seed,
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
    parser.add_argument("--seeds", type=Path, default=DEFAULT_SEEDS, help="seed-corpus folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="corpus folder to write")
    args = parser.parse_args(argv)
    for entry in build(args.seeds, args.out):
        dup = f"  (copy of {entry['duplicate_of']})" if entry["duplicate_of"] else ""
        print(f"{entry['path']}: {entry['title']} [{entry['outlet']}]{dup}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
