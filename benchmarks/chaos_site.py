"""The loopback news site of `benchmarks/chaos.py`: good article pages in several feeds with
poisoned items mixed in, and the JSON Lines file its import scenario reads.

Every text here is generated from the small vocabulary below (our own words; names of actors
and places are facts). Pages and feeds are served by `tests.loopback.LoopbackServer`.
"""

from __future__ import annotations

import html
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from tests.loopback import LoopbackServer, Reply

# --- the vocabulary --------------------------------------------------------------------------

GROUPS = [
    "Kataib Hezbollah",
    "Asaib Ahl al-Haq",
    "Harakat al-Nujaba",
    "Kataib Sayyid al-Shuhada",
    "the Badr Organization",
    "Saraya al-Salam",
]
PLACES = [
    "Erbil",
    "Baghdad",
    "Basra",
    "Mosul",
    "Kirkuk",
    "Najaf",
    "Karbala",
    "Fallujah",
    "Tikrit",
    "Samarra",
    "Jurf al-Sakhar",
    "al-Qaim",
    "Sulaymaniyah",
    "Diyala",
]
WEAPONS = ["drone", "rocket", "mortar round", "roadside bomb", "107mm rocket", "quadcopter"]
TARGETS = [
    "a logistics convoy",
    "an airbase perimeter",
    "a fuel depot",
    "a border checkpoint",
    "a diplomatic compound",
    "a supply warehouse",
    "an oil company office",
    "a radar site",
    "a training camp",
]
OFFICIALS = [
    "a provincial police spokesman",
    "a security official who asked not to be named",
    "the Joint Operations Command",
    "a coalition spokesperson",
    "two local witnesses",
    "the interior ministry",
    "a member of the provincial council",
]
SURNAMES = [
    "al-Jubouri",
    "al-Obeidi",
    "al-Zaidi",
    "Hamdan",
    "al-Saadi",
    "Rashid",
    "al-Dulaimi",
    "Kareem",
    "al-Tamimi",
    "Mahmoud",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
DIRECTIONS = ["north", "south", "east", "west", "northeast", "southwest"]
CIVIC = [
    "the electricity ministry",
    "the oil ministry",
    "the provincial water board",
    "the grain board",
    "the health directorate",
    "the education ministry",
]
CIVIC_THINGS = [
    "power output",
    "crude exports",
    "wheat deliveries",
    "water pressure",
    "school enrolment",
    "clinic visits",
]

ARMED_SENTENCES = [
    "{group} fighters launched {n} {weapon}s at {target} near {place} on {day}, "
    "according to {official}.",
    "A {weapon} hit {target} about {km} kilometres {dir} of {place} shortly after {hour} "
    "o'clock, {official} said.",
    "{group} denied any part in the strike on {target} near {place}, calling the claim "
    "{adj} in a statement posted at {hour}:{minute:02d}.",
    "Investigators said the launch rail was found in an orchard {km} kilometres {dir} of "
    "{place}, with {n} unused {weapon}s still loaded.",
    "Commander {first} {surname} of {group} told supporters in {place} that the group "
    "would answer any raid on its positions.",
    "Witnesses in {place} counted {n} blasts before dawn on {day}, and {official} later "
    "confirmed that a {weapon} had landed near {target}.",
    "The attack was the {ordinal} on {target} in {place} since the start of the month, "
    "{official} said, adding that nobody was hurt.",
    "Analysts tied the {weapon} used near {place} to {group}, pointing to markings seen "
    "on fragments recovered on {day}.",
    "Security forces closed the road between {place} and {place2} for {n} hours while "
    "engineers cleared a second {weapon}.",
    "{group} said in a televised speech from {place} that foreign troops had {n} weeks "
    "to leave the province.",
    "Hospital staff in {place} treated {n} people for shock and minor cuts, {official} "
    "said on {day}.",
    "A statement signed by {group} praised what it called the {ordinal} operation of its "
    "campaign and promised more.",
    "Satellite images reviewed by researchers showed scorch marks {km} metres from {target} "
    "outside {place}.",
    "Lawmakers from {place2} demanded a briefing on how {n} {weapon}s could be moved past "
    "checkpoints around {place}.",
    "Police in {place} arrested {n} men in a pickup truck near {target}, {official} said, "
    "without naming the group they belonged to.",
    "Drivers on the highway {dir} of {place} reported seeing a {weapon} streak overhead "
    "shortly before {hour} p.m. on {day}.",
    "{group} has been accused of at least {n} similar attacks around {place} this year, "
    "most of them claimed through front names.",
    "The prime minister's office ordered an inquiry and sent a delegation to {place}, "
    "{official} said.",
    "A senior figure in {group}, {first} {surname}, said the group had no quarrel with "
    "the people of {place} and blamed outside agitators.",
    "Air defences near {target} fired for {n} minutes, according to residents of {place} "
    "who filmed the tracers from their roofs.",
    "Officials in {place2} said the {weapon} appeared to have been launched from a "
    "farm road used by smugglers.",
    "Diplomats in Baghdad said privately that the strike near {place} complicated talks on "
    "the future of coalition advisers.",
    "{group} later released a video it said showed the launch, though its date could not "
    "be checked.",
    "Engineers needed {n} days to repair the damage to {target} near {place}, "
    "{official} said on {day}.",
]
CIVIC_SENTENCES = [
    "Officials from {civic} said {thing} in {place} rose by {n} percent in the week to {day}.",
    "Residents of {place} queued for {n} hours on {day} as {civic} repaired a main line "
    "{km} kilometres {dir} of the city.",
    "{civic_cap} promised to publish new figures for {thing} in {place} before the end of "
    "the month.",
    "Traders in {place} said prices had settled after {civic} eased rules on {thing} on {day}.",
    "A spokesman for {civic}, {first} {surname}, said {thing} in {place2} would recover "
    "within {n} days.",
    "Farmers near {place} welcomed the decision by {civic} to extend the season by {n} weeks.",
    "The governor of {place} said {civic} would hire {n} new inspectors before summer.",
    "Figures released by {civic} on {day} put {thing} in {place2} {n} percent below last year.",
    "Shopkeepers in {place} closed early on {day} after a cut that lasted {n} hours.",
    "A report by {civic} blamed ageing pipes {km} kilometres {dir} of {place} for most of "
    "the losses.",
    "Students in {place} protested outside the offices of {civic} for the {ordinal} day.",
    "{civic_cap} signed a contract worth {n} million dollars to upgrade {thing} in {place}.",
]
ADJECTIVES = ["baseless", "fabricated", "a provocation", "premature", "absurd", "reckless"]
FIRST_NAMES = ["Ahmed", "Hussein", "Ali", "Karim", "Mustafa", "Abbas", "Haidar", "Salah"]
ORDINALS = ["second", "third", "fourth", "fifth", "sixth", "seventh"]


def _fill(rng: random.Random, template: str, group: str, place: str) -> str:
    place2 = rng.choice([p for p in PLACES if p != place])
    civic = rng.choice(CIVIC)
    text = template.format(
        group=group,
        n=rng.randint(2, 19),
        weapon=rng.choice(WEAPONS),
        target=rng.choice(TARGETS),
        place=place,
        place2=place2,
        day=rng.choice(DAYS),
        official=rng.choice(OFFICIALS),
        km=rng.randint(3, 60),
        dir=rng.choice(DIRECTIONS),
        hour=rng.randint(1, 11),
        minute=rng.randint(0, 59),
        adj=rng.choice(ADJECTIVES),
        first=rng.choice(FIRST_NAMES),
        surname=rng.choice(SURNAMES),
        ordinal=rng.choice(ORDINALS),
        civic=civic,
        civic_cap=civic[0].upper() + civic[1:],
        thing=rng.choice(CIVIC_THINGS),
    )
    return text[0].upper() + text[1:]


@dataclass(frozen=True)
class Story:
    """A generated article: title, paragraphs, and whether an armed group is named."""

    title: str
    paragraphs: tuple[str, ...]
    armed: bool
    group: str | None


def story(seed: str, armed: bool) -> Story:
    """An article of our own words, the same for the same seed. Armed: names one armed
    group (the chaos watchlist matches it); else civic news naming no armed group."""
    rng = random.Random(seed)
    place = rng.choice(PLACES)
    group = rng.choice(GROUPS) if armed else None
    pool = ARMED_SENTENCES + CIVIC_SENTENCES[:2] if armed else CIVIC_SENTENCES
    count = rng.randint(3, 4)
    chosen = rng.sample(pool, k=min(len(pool), count * 3))
    sentences = [_fill(rng, t, group or "", place) for t in chosen]
    paragraphs = [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)]
    if armed:
        assert group is not None
        g = group.removeprefix("the ")
        title = rng.choice(
            [
                f"{g} blamed for {rng.choice(WEAPONS)} attack near {place}",
                f"{place}: {rng.choice(TARGETS)} struck, {g} denies role",
                f"{g} warns of reprisals after raid near {place}",
                f"Second {rng.choice(WEAPONS)} in a week hits {place} as {g} digs in",
            ]
        )
    else:
        title = f"{rng.choice(CIVIC_THINGS).capitalize()} in {place}: {rng.choice(CIVIC)} reports"
    title += f" ({rng.choice(DAYS)}, no. {rng.randint(100, 999)})"
    return Story(title, tuple(paragraphs), armed, group)


def page_html(
    title: str,
    paragraphs: tuple[str, ...],
    url: str,
    when: datetime,
    canonical: str | None = None,
) -> str:
    """An article page in a plain outlet chrome; `canonical` overrides rel=canonical."""
    canonical = canonical or url
    body = "\n".join(f"      <p>{html.escape(p)}</p>" for p in paragraphs)
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{html.escape(title)} | Chaos Herald</title>
  <link rel="canonical" href="{html.escape(canonical)}">
  <meta property="og:title" content="{html.escape(title)}">
  <meta property="article:published_time" content="{when.isoformat()}">
</head>
<body>
  <nav><a href="/">Home</a> <a href="/iraq">Iraq</a> <a href="/region">Region</a></nav>
  <main>
    <article>
      <h1>{html.escape(title)}</h1>
      <p class="byline">By the Chaos Herald desk</p>
{body}
    </article>
  </main>
  <footer><p>Chaos Herald, a loopback outlet for tests.</p></footer>
</body>
</html>
"""


# --- feeds -------------------------------------------------------------------------------


@dataclass
class Entry:
    """One feed entry as served: raw values, nothing checked (poison passes through)."""

    url: str
    title: str
    guid: str | None
    published: datetime
    description: str = ""
    content: str = ""  # content:encoded / content_html, when not empty


def rss(title: str, entries: list[Entry], base: str) -> bytes:
    items = []
    for e in entries:
        guid = "" if e.guid is None else f'<guid isPermaLink="false">{_xml(e.guid)}</guid>'
        content = f"<content:encoded><![CDATA[{e.content}]]></content:encoded>" if e.content else ""
        items.append(
            f"<item><title>{_xml(e.title)}</title><link>{_xml(e.url)}</link>{guid}"
            f"<pubDate>{format_datetime(e.published)}</pubDate>"
            f"<description>{_xml(e.description)}</description>{content}</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{_xml(title)}</title><link>{base}/</link><description>chaos</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def atom(title: str, entries: list[Entry], base: str) -> bytes:
    items = [
        f'<entry><title>{_xml(e.title)}</title><link rel="alternate" href="{_xml(e.url)}"/>'
        f"<id>{_xml(e.guid or e.url)}</id><updated>{e.published.isoformat()}</updated>"
        f'<summary type="html">{_xml(e.description)}</summary></entry>'
        for e in entries
    ]
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{_xml(title)}</title><id>{base}/atom</id>"
        f"<updated>{datetime.now(UTC).isoformat()}</updated>" + "".join(items) + "</feed>"
    ).encode()


def json_feed(title: str, entries: list[Entry], base: str) -> bytes:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": base + "/",
        "items": [
            {
                "id": e.guid or e.url,
                "url": e.url,
                "title": e.title,
                "summary": e.description,
                "content_html": e.content or e.description,
                "date_published": e.published.isoformat(),
            }
            for e in entries
        ],
    }
    return json.dumps(doc).encode()  # ensure_ascii: a NUL travels as \u0000


def _xml(value: str) -> str:
    # Escapes markup only: control characters and NULs stay raw, as careless feeds send them.
    return html.escape(value, quote=False)


# --- the site -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Good:
    """A good article: it must be stored once, processed and (if `matches`) delivered."""

    id: int
    feed: str
    url: str
    title: str
    matches: bool  # names an armed group: the chaos watchlist matches it


@dataclass(frozen=True)
class Poison:
    """A poisoned item. `level`: "source" (a whole feed) or "entry" (one entry of a good
    feed). `accept`: the outcomes that count as "recorded with its error" (see chaos.py)."""

    kind: str
    level: str
    source: str
    url: str
    accept: frozenset[str]
    detail: str = ""
    marker: str = ""  # a part of the item's URL no other URL has (entry poisons)
    error_hint: str = ""  # a regex the recorded error must match, when it must say why


# Entry poisons: (kind, detail). Each goes into one of the good feeds.
REDIRECT_SCHEMES = {
    "javascript": "javascript:alert(document.cookie)",
    "mailto": "mailto:desk@example.org?subject=hi",
    "data": "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "about": "about:blank",
    "tel": "tel:+9647700000000",
}
POISON_KINDS = (
    [f"feed-redirect-{s}" for s in REDIRECT_SCHEMES]
    + ["feed-500", "huge-feed"]
    + [f"page-redirect-{s}" for s in REDIRECT_SCHEMES]
    + [
        "guid-broken-ipv6",
        "guid-nul",
        "content-control-char",
        "content-control-char-raw",
        "page-no-body",
        "link-over-2000",
        "canonical-over-2000",
        "title-100k",
        "page-500",
    ]
)
# Outcomes (see chaos.classify_poison): "source-error" the source row holds an error;
# "capped" the huge feed's source has a warning and fewer rows than entries; "error" the
# item's row holds an error; "processed" stored and processed (value made harmless);
# "bounded" processed with its title under 100,000 characters; "refused" no row, with a
# warning on its source.
# What the recorded error of a page poison must mention (any error will do for the others).
ERROR_HINTS = {
    "page-redirect": r"redirect|location|scheme|javascript|mailto|data:|about:|tel:|unusable",
    "page-500": r"\b500\b|server error",
}
ACCEPT = {
    "feed-redirect": frozenset({"source-error"}),
    "feed-500": frozenset({"source-error"}),
    "huge-feed": frozenset({"capped"}),
    "page-redirect": frozenset({"error"}),
    "guid-broken-ipv6": frozenset({"processed", "error", "refused"}),
    "guid-nul": frozenset({"processed", "error", "refused"}),
    "content-control-char": frozenset({"processed", "error"}),
    "content-control-char-raw": frozenset({"processed", "error"}),
    "page-no-body": frozenset({"processed", "error"}),
    "link-over-2000": frozenset({"processed", "error", "refused"}),
    "canonical-over-2000": frozenset({"processed", "error"}),
    "title-100k": frozenset({"bounded", "error", "refused"}),
    "page-500": frozenset({"error"}),
}

FEEDS = [  # name, format
    ("Tigris Wire", "rss"),
    ("Euphrates Daily", "rss"),
    ("Zagros Monitor", "rss"),
    ("Green Zone Gazette", "rss"),
    ("Anbar Atom", "atom"),
    ("Shatt Signal", "json"),
    ("Nineveh Notes", "rss"),
    ("Rafidain Review", "rss"),
]
# Which good feed carries which entry poisons (F6 carries a raw control character, so its
# feed is ill-formed and warned about whatever else happens: only poisons whose outcome is
# not "refused" go there).
ENTRY_POISONS = {
    0: ["page-redirect-javascript", "page-500"],
    1: ["page-redirect-mailto", "guid-broken-ipv6"],
    2: ["page-redirect-data", "link-over-2000"],
    3: ["page-redirect-about", "title-100k"],
    4: ["page-redirect-tel", "canonical-over-2000"],
    5: ["guid-nul", "content-control-char"],
    6: ["page-no-body", "content-control-char-raw"],
    7: [],
}
CROSS_LISTED = 8  # articles of feed 0 also listed in the last feed (with utm_ parameters)
HUGE_NAME = "Firehose Bulletin"


@dataclass
class Site:
    """What the server serves, and what the benchmark expects of it."""

    base: str
    sources: list[tuple[str, str]] = field(default_factory=list)  # (name, feed url)
    good: list[Good] = field(default_factory=list)
    poisons: list[Poison] = field(default_factory=list)
    huge_entries: int = 0
    routes: dict[str, Reply | Callable[..., Reply]] = field(default_factory=dict)

    def install(self, server: LoopbackServer) -> None:
        for path, reply in self.routes.items():
            server.route(path, reply)


def build_site(
    base: str, *, pages: int, huge: int, poison: set[str], seed: int = 13, matching: float = 0.85
) -> Site:
    """The site at `base` (http://127.0.0.1:PORT): `pages` good article pages over the good
    feeds, the poisons named in `poison`, and a feed of `huge` entries when "huge-feed" is."""
    site = Site(base)
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    site.routes["/robots.txt"] = Reply(
        body=b"User-agent: *\nDisallow: /firehose/\n", content_type="text/plain"
    )
    per_feed: dict[int, list[Entry]] = {i: [] for i in range(len(FEEDS))}
    for n in range(pages):
        f = n % len(FEEDS)
        name = FEEDS[f][0]
        slug = f"f{f}"
        armed = rng.random() < matching
        s = story(f"chaos-{seed}-{n}", armed)
        url = f"{base}/{slug}/{now:%Y/%m}/g{n:04d}-report.html"
        when = now - timedelta(hours=n % 60, minutes=n % 7)
        site.routes[url.removeprefix(base)] = Reply(
            body=page_html(s.title, s.paragraphs, url, when).encode()
        )
        site.good.append(Good(n, name, url, s.title, armed))
        lead = s.paragraphs[0][:240]
        per_feed[f].append(Entry(url, s.title, f"chaos-{n}", when, lead))
    last = len(FEEDS) - 1
    for g in [g for g in site.good if g.feed == FEEDS[0][0]][:CROSS_LISTED]:
        e = next(e for e in per_feed[0] if e.url == g.url)
        tracked = g.url + "?utm_source=chaos&utm_medium=rss"
        per_feed[last].append(Entry(tracked, e.title, f"x-{g.id}", e.published, e.description))
    for f, kinds in ENTRY_POISONS.items():
        for kind in kinds:
            if kind in poison:
                per_feed[f].append(_entry_poison(site, kind, FEEDS[f][0], f, now))
    for f, (name, fmt) in enumerate(FEEDS):
        path = f"/feeds/f{f}.{ {'rss': 'xml', 'atom': 'atom', 'json': 'json'}[fmt] }"
        entries = sorted(per_feed[f], key=lambda e: e.published, reverse=True)
        body = {"rss": rss, "atom": atom, "json": json_feed}[fmt](name, entries, base)
        ctype = {
            "rss": "application/rss+xml",
            "atom": "application/atom+xml",
            "json": "application/feed+json",
        }[fmt]
        site.routes[path] = Reply(body=body, content_type=ctype, etag=f'"f{f}-v1"')
        site.sources.append((name, base + path))
    _source_poisons(site, poison, huge, now)
    return site


def _entry_poison(site: Site, kind: str, feed: str, f: int, now: datetime) -> Entry:
    base = site.base
    s = story(f"poison-{kind}", True)
    when = now - timedelta(hours=2)
    path = f"/f{f}/poison/{kind}.html"
    url = base + path
    guid: str | None = f"poison-{kind}"
    description = s.paragraphs[0][:200]
    content = ""
    title = s.title
    page = page_html(s.title, s.paragraphs, url, when)
    detail = ""
    if kind.startswith("page-redirect-"):
        target = REDIRECT_SCHEMES[kind.removeprefix("page-redirect-")]
        site.routes[path] = Reply.redirect(target)
        detail = f"302 Location: {target}"
        page = ""
    elif kind == "page-500":
        site.routes[path] = Reply(status=500, body=b"internal error", content_type="text/plain")
        detail = "the page answers 500 every time"
        page = ""
    elif kind == "guid-broken-ipv6":
        guid = "http://[broken"
        detail = "GUID http://[broken (an unclosed IPv6 literal)"
    elif kind == "guid-nul":
        guid = "chaos\x00nul-guid"
        detail = "a NUL byte inside the GUID (JSON Feed id)"
    elif kind in ("content-control-char", "content-control-char-raw"):
        # The page has no article text, so the feed's content stands in: it carries a
        # vertical tab (and a form feed) inside the HTML.
        content = "<p>" + "\x0b".join(s.paragraphs[0].split(" ", 3)) + "\x0c</p>"
        description = content
        page = "<html><head><title>x</title></head><body><p>Subscribe.</p></body></html>"
        detail = "feed content with \\x0b and \\x0c; the page has no text" + (
            " (raw in RSS CDATA)" if kind.endswith("raw") else " (JSON Feed)"
        )
    elif kind == "page-no-body":
        page = "<html><head><title>t</title>"
        description = "<html><head><title>t</title>"
        detail = "page and feed text are an HTML document with no body"
    elif kind == "link-over-2000":
        path = f"/f{f}/poison/{kind}-" + "x" * 2100 + ".html"
        url = base + path
        page = page_html(s.title, s.paragraphs, url, when)
        detail = f"a link of {len(url):,} characters"
    elif kind == "canonical-over-2000":
        canonical = base + "/canonical/" + "c" * 2100 + ".html"
        page = page_html(s.title, s.paragraphs, url, when, canonical=canonical)
        detail = f"rel=canonical of {len(canonical):,} characters"
    elif kind == "title-100k":
        title = (s.title + " ") * (100_000 // (len(s.title) + 1) + 1)
        title = title[:100_000]
        detail = "a title of 100,000 characters"
    if page:
        site.routes[path] = Reply(body=page.encode())
    family = kind if kind in ACCEPT else kind.rsplit("-", 1)[0]
    marker = f"/poison/{kind}-x" if kind == "link-over-2000" else f"/poison/{kind}."
    hint = ERROR_HINTS.get(family, "")
    site.poisons.append(Poison(kind, "entry", feed, url, ACCEPT[family], detail, marker, hint))
    return Entry(url, title, guid, when, description, content)


def _source_poisons(site: Site, poison: set[str], huge: int, now: datetime) -> None:
    base = site.base
    for scheme, target in REDIRECT_SCHEMES.items():
        kind = f"feed-redirect-{scheme}"
        if kind not in poison:
            continue
        path, name = f"/feeds/redirect-{scheme}.xml", f"Redirect {scheme.capitalize()}"
        site.routes[path] = Reply.redirect(target)
        site.sources.append((name, base + path))
        site.poisons.append(
            Poison(kind, "source", name, base + path, ACCEPT["feed-redirect"], f"302 {target}")
        )
    if "feed-500" in poison:
        path, name = "/feeds/broken.xml", "Broken Bulletin"
        site.routes[path] = Reply(status=500, body=b"oops", content_type="text/plain")
        site.sources.append((name, base + path))
        site.poisons.append(Poison("feed-500", "source", name, base + path, ACCEPT["feed-500"]))
    if "huge-feed" in poison and huge > 0:
        # robots.txt disallows /firehose/: its pages are never requested, the feed's
        # (empty) text stands in, so the load is the entries themselves.
        entries = [
            Entry(
                f"{base}/firehose/{i:05d}.html",
                f"Firehose item {i}",
                f"fh-{i}",
                now - timedelta(minutes=i % 1440),
            )
            for i in range(huge)
        ]
        path = "/feeds/firehose.xml"
        site.routes[path] = Reply(
            body=rss(HUGE_NAME, entries, base),
            content_type="application/rss+xml",
            etag='"firehose-v1"',
        )
        site.sources.append((HUGE_NAME, base + path))
        site.huge_entries = huge
        site.poisons.append(
            Poison(
                "huge-feed",
                "source",
                HUGE_NAME,
                base + path,
                ACCEPT["huge-feed"],
                f"a feed of {huge:,} entries",
            )
        )


# --- the import file -------------------------------------------------------------------------

IMPORT_POISONS = {
    # kind: (accept, how the line is broken)
    "bad-utf8": (frozenset({"reported"}), "invalid UTF-8 bytes inside the text"),
    "lone-surrogate": (
        frozenset({"reported", "imported"}),
        'a lone surrogate escape "\\ud800" in the text',
    ),
    "date-overflow": (
        frozenset({"reported", "imported"}),
        "published_at 9999-12-31T23:59:59-12:00 (overflows UTC)",
    ),
    "bad-url": (frozenset({"reported"}), "url http://[::1 (an unclosed IPv6 literal)"),
    "not-json": (frozenset({"reported"}), "a truncated JSON object"),
}


@dataclass(frozen=True)
class ImportLine:
    line: int  # 1-based
    url: str
    kind: str  # "good" or an IMPORT_POISONS key
    matches: bool = False


def write_import_file(
    path: Path, records: int, *, seed: int = 13, bad_each: int = 5
) -> list[ImportLine]:
    """`records` JSON Lines (bad ones among them, `bad_each` of each poison kind) at `path`."""
    rng = random.Random(seed)
    kinds = ["good"] * records
    slots = rng.sample(range(records), k=min(records, bad_each * len(IMPORT_POISONS)))
    for i, slot in enumerate(slots):
        kinds[slot] = list(IMPORT_POISONS)[i % len(IMPORT_POISONS)]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    lines: list[bytes] = []
    out: list[ImportLine] = []
    for n, kind in enumerate(kinds):
        armed = rng.random() < 0.85
        s = story(f"import-{seed}-{n}", armed)
        url = f"https://archive.example.org/{2026}/{n:05d}-{'armed' if armed else 'civic'}"
        rec: dict[str, object] = {
            "url": url,
            "title": s.title,
            "text": "\n\n".join(s.paragraphs),
            "published_at": (start + timedelta(minutes=17 * n)).isoformat(),
            "source": f"Archive {n % 5}",
        }
        if n % 10 == 3:  # some records bring HTML instead of text
            del rec["text"]
            rec["html"] = page_html(s.title, s.paragraphs, url, start + timedelta(minutes=17 * n))
        raw: bytes
        if kind == "bad-url":
            rec["url"] = url = "http://[::1"
        elif kind == "date-overflow":
            rec["published_at"] = "9999-12-31T23:59:59-12:00"
        elif kind == "lone-surrogate":
            rec["text"] = "Before \ud800 after. " + "\n\n".join(s.paragraphs)
            rec.pop("html", None)
        raw = json.dumps(rec).encode("ascii")  # \ud800 stays an escape: a lone surrogate
        if kind == "bad-utf8":
            raw = raw.replace(b'"text": "', b'"text": "\xff\xfe\xc3(', 1)
            if b"\xff" not in raw:  # an HTML record: break its html instead
                raw = raw.replace(b'"html": "', b'"html": "\xff\xfe\xc3(', 1)
        elif kind == "not-json":
            raw = raw[: len(raw) // 2]
        lines.append(raw)
        out.append(ImportLine(n + 1, url, kind, armed))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return out
