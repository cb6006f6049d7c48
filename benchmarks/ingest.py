"""Ingestion speed: a real `run --once` cycle against a loopback news web with latency, set
against trafilatura alone on all cores (the limit) and a naive one-at-a-time loop.

Run: .venv/bin/python benchmarks/ingest.py [--sources 30] [--articles 20] [--latency-ms 50]
     [--hosts 16] [--repoll 1000] [--naive-sources 3] [--workers N]
     [--text markov|paragraphs] [--copies 0.05] [--stage-sample 200]
Prints a table and writes benchmarks/results/ingest.json.

The benchmark's own threaded HTTP server listens on 16 loopback addresses (127.0.0.2...) so
per-host politeness applies as on the real web, and sleeps `--latency-ms` before every
response. Article pages are the demo corpus pages (their chrome: navigation, cookie banner,
related links, comments) with new paragraphs per article, generated from the demo articles'
words (see `Prose`), a unique title, canonical URL and date; 5 % are syndicated copies of
another outlet's article. `--text paragraphs` instead re-draws whole paragraphs from one
shared pool, which makes every article a partial copy of dozens of others. The cycle runs in
a child process (its peak memory is its own, its extraction pool is spawned and warmed
before the clock starts, as in a running daemon). The re-poll (`poll` then `process`, timed)
asks 1,000 sources whose feeds have not changed: every answer must be a 304 and nothing may
be re-fetched or re-extracted. (c) times each stage of the real code on one core for a
sample of the articles, set against trafilatura alone on the same pages: the CPU the pipeline
adds per article, hence the best run/limit ratio any number of cores could reach.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import itertools
import json
import os
import platform
import random
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import feedparser  # noqa: E402
import httpx  # noqa: E402
import trafilatura  # noqa: E402
import yaml  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "ingest.json"
PAGES = ROOT / "monitor" / "demo" / "corpus" / "pages"
_P_RE = re.compile(r"<p>(.*?)</p>", re.S)
_TITLE_RE = re.compile(r"(<title>)(.*?)(</title>)", re.S)


# --- the corpus ------------------------------------------------------------------------


@dataclass(frozen=True)
class Doc:
    body: bytes
    content_type: str
    etag: str | None = None


def templates() -> tuple[list[str], list[str]]:
    """The demo pages (chrome kept) and the pool of their article paragraphs."""
    pages = [p.read_text(encoding="utf-8") for p in sorted(PAGES.glob("*.html"))]
    pool = [m for page in pages for m in _P_RE.findall(page) if len(m) > 80]
    return pages, pool


class Prose:
    """Article paragraphs for the pages. `paragraphs`: drawn whole from the demo pool, so any
    two articles share whole paragraphs (every article is a partial copy of dozens of
    others: the near-duplicate stage's worst case). `markov`: new sentences from a
    word-bigram chain over the same pool, so the text reads like the demo articles (same
    words, names and paragraph lengths) while articles share no more than news articles do."""

    def __init__(self, pool: list[str], mode: str) -> None:
        self.pool, self.mode = pool, mode
        self.starts: list[str] = []
        self.chain: dict[str, list[str]] = {}
        self.lengths: list[int] = []
        for para in pool:
            words = html.unescape(re.sub(r"<[^>]+>", "", para)).split()
            if len(words) < 8:
                continue
            self.starts.append(words[0])
            self.lengths.append(len(words))
            for a, b in itertools.pairwise(words):
                self.chain.setdefault(a, []).append(b)

    def paragraphs(self, rng: random.Random, count: int) -> list[str]:
        if self.mode == "paragraphs":
            return rng.sample(self.pool, k=min(len(self.pool), count))
        return [self._markov(rng, rng.choice(self.lengths)) for _ in range(count)]

    def _markov(self, rng: random.Random, size: int) -> str:
        word = rng.choice(self.starts)
        out = [word]
        while len(out) < size or not out[-1].endswith("."):
            nxt = self.chain.get(word)
            word = rng.choice(nxt) if nxt else rng.choice(self.starts)
            out.append(word)
            if len(out) > 2 * size:
                out.append(".")
                break
        return html.escape(" ".join(out), quote=False)


def article_page(
    template: str,
    prose: Prose,
    url: str,
    title: str,
    when: datetime,
    text_seed: str | None = None,
) -> str:
    """A page in `template`'s chrome; its paragraphs follow from `text_seed` (default: the
    URL), so a syndicated copy (another outlet, same seed) carries the same text."""
    rng = random.Random(text_seed or url)
    paras = iter(prose.paragraphs(rng, rng.randint(12, 24)))
    marker = f"Report {html.escape(title)} filed {when:%d %B %Y}."

    def body(m: re.Match[str]) -> str:
        return f"<p>{next(paras, marker)}</p>"

    page = _P_RE.sub(body, template.replace("{{BASE_URL}}", url.rsplit("/", 2)[0]))
    page = _TITLE_RE.sub(lambda m: f"{m[1]}{html.escape(title)}{m[3]}", page, count=1)
    page = re.sub(r'(rel="canonical" href=")[^"]*', lambda m: m[1] + url, page)
    page = re.sub(r'(property="og:url" content=")[^"]*', lambda m: m[1] + url, page)
    page = re.sub(
        r'(property="og:title" content=")[^"]*', lambda m: m[1] + html.escape(title), page
    )
    stamp = when.isoformat()
    return re.sub(
        r'("(?:article:published_time|parsely-pub-date)" content=")[^"]*',
        lambda m: m[1] + stamp,
        page,
    )


def rss(title: str, items: list[tuple[str, str, datetime]]) -> bytes:
    out = "".join(
        f"<item><title>{html.escape(t)}</title><link>{u}</link><guid>{u}</guid>"
        f"<pubDate>{format_datetime(d)}</pubDate><description>{html.escape(t)}.</description>"
        "</item>"
        for u, t, d in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{html.escape(title)}</title><link>http://example.org/</link>{out}</channel></rss>"
    ).encode()


@dataclass
class Web:
    """Everything the server answers: (host, path) -> Doc; plus the per-source feed URLs."""

    docs: dict[tuple[str, str], Doc] = field(default_factory=dict)
    sources: list[tuple[str, str]] = field(default_factory=list)  # (name, feed url)
    pages: list[tuple[str, str]] = field(default_factory=list)  # (url, html)
    mirrors: list[tuple[str, str]] = field(default_factory=list)


def build_web(
    n_sources: int,
    n_articles: int,
    n_repoll: int,
    hosts: list[str],
    port: int,
    *,
    text: str = "markov",
    copies: float = 0.05,
) -> Web:
    """The sources' feeds and pages. A share `copies` of the articles are syndicated copies:
    the text of the previous source's article at the same rank, in this outlet's chrome and
    under its own URL (wire copy), as the dedup stage meets them every day."""
    tpls, pool = templates()
    prose = Prose(pool, text)
    web = Web()
    now = datetime.now(UTC).replace(microsecond=0)
    robots = Doc(b"User-agent: *\nDisallow: /private/\n", "text/plain")
    pick = random.Random(7)
    for h in hosts:
        web.docs[(h, "/robots.txt")] = robots
    for i in range(n_sources):
        host = hosts[i % len(hosts)]
        base = f"http://{host}:{port}"
        items = []
        for j in range(n_articles):
            url = f"{base}/s{i}/{now:%Y/%m/%d}/a{j}.html"
            title = f"Source {i} story {j}: Iraq, Iran and the militias"
            when = now - timedelta(hours=j + i / 10)
            seed = None
            if i > 0 and pick.random() < copies:  # a wire copy of source i-1's article j
                prev = hosts[(i - 1) % len(hosts)]
                seed = f"http://{prev}:{port}/s{i - 1}/{now:%Y/%m/%d}/a{j}.html"
            page = article_page(tpls[(i + j) % len(tpls)], prose, url, title, when, seed)
            web.docs[(host, url.split(str(port), 1)[1])] = Doc(
                page.encode(), "text/html; charset=utf-8"
            )
            web.pages.append((url, page))
            items.append((url, title, when))
        path = f"/s{i}/feed.xml"
        web.docs[(host, path)] = Doc(rss(f"Source {i}", items), "application/rss+xml", f'"s{i}"')
        web.sources.append((f"Source {i}", base + path))
    # Mirrors: more unchanged feeds for the re-poll, listing pages already stored.
    for k in range(max(0, n_repoll - n_sources)):
        host = hosts[k % len(hosts)]
        path = f"/m{k}/feed.xml"
        picks = random.Random(k).sample(web.pages, k=min(3, len(web.pages)))
        items = [(u, f"Mirror {k} item", now) for u, _ in picks]
        web.docs[(host, path)] = Doc(rss(f"Mirror {k}", items), "application/rss+xml", f'"m{k}"')
        web.mirrors.append((f"Mirror {k}", f"http://{host}:{port}{path}"))
    return web


# --- the server ------------------------------------------------------------------------


class Server:
    """Threaded HTTP/1.1 server on several loopback addresses, `latency_s` before each reply."""

    def __init__(self, hosts: list[str], latency_s: float) -> None:
        self.hosts = hosts
        self.latency_s = latency_s
        self.web = Web()
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []
        first = ThreadingHTTPServer((hosts[0], 0), self._handler())
        self.port = int(first.server_address[1])
        self._servers.append(first)
        for h in hosts[1:]:
            self._servers.append(ThreadingHTTPServer((h, self.port), self._handler()))
        for s in self._servers:
            s.daemon_threads = True
            s.block_on_close = False
            s.request_queue_size = 256
            threading.Thread(target=s.serve_forever, daemon=True).start()

    def count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def close(self) -> None:
        for s in self._servers:
            s.shutdown()
            s.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body wait on a delayed ACK

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/_stats":  # the child reads counters here, no latency
                    self._send(200, json.dumps(srv.stats).encode(), "application/json")
                    return
                time.sleep(srv.latency_s)
                host = self.server.server_address[0]
                doc = srv.web.docs.get((str(host), self.path))
                kind = (
                    "robots"
                    if self.path == "/robots.txt"
                    else ("feed" if self.path.endswith(".xml") else "page")
                )
                if doc is None:
                    srv.count("404")
                    self._send(404, b"not found", "text/plain")
                elif doc.etag and self.headers.get("If-None-Match") == doc.etag:
                    srv.count(f"{kind}-304")
                    self._send(304, b"", None, doc.etag)
                else:
                    srv.count(kind)
                    self._send(200, doc.body, doc.content_type, doc.etag)

            def _send(
                self, status: int, body: bytes, ctype: str | None, etag: str | None = None
            ) -> None:
                self.send_response_only(status)
                self.send_header("Date", self.date_time_string())
                if ctype:
                    self.send_header("Content-Type", ctype)
                if etag:
                    self.send_header("ETag", etag)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

        return Handler


# --- (a) the limit: trafilatura alone on all cores ----------------------------------------


def _trafilatura(page: str, url: str) -> int:
    doc = trafilatura.bare_extraction(
        page,
        url=url,
        with_metadata=True,
        deduplicate=False,
        include_comments=False,
        include_tables=True,
    )
    return len(doc.text or "") if doc is not None else 0


def _warm(_: int) -> int:
    return os.getpid()


def measure_limit(pages: list[tuple[str, str]], workers: int) -> dict[str, Any]:
    import multiprocessing

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_warm, range(workers * 2)))
        list(
            pool.map(_trafilatura, [p for _, p in pages[:workers]], [u for u, _ in pages[:workers]])
        )
        t0 = time.perf_counter()
        chars = list(
            pool.map(_trafilatura, [p for _, p in pages], [u for u, _ in pages], chunksize=4)
        )
        seconds = time.perf_counter() - t0
    return {
        "pages": len(pages),
        "seconds": seconds,
        "rate": len(pages) / seconds,
        "empty": sum(1 for c in chars if c == 0),
    }


# --- (b) the naive loop: one thing at a time ----------------------------------------------


def measure_naive(web: Web, n_sources: int) -> dict[str, Any]:
    articles = 0
    t0 = time.perf_counter()
    client = httpx.Client()  # one client, keep-alive: a fair, not a strawman, baseline
    for _, feed_url in web.sources[:n_sources]:
        parsed = feedparser.parse(client.get(feed_url).content)
        for entry in parsed.entries:
            page = client.get(entry.link).text
            _trafilatura(page, entry.link)
            articles += 1
    seconds = time.perf_counter() - t0
    client.close()
    return {"articles": articles, "seconds": seconds, "rate": articles / seconds}


# --- (c) where the CPU goes: each stage's cost per article, on one core ---------------------


def measure_stages(web: Web, tmp: Path, sample: int) -> dict[str, Any]:
    """CPU milliseconds per article of each stage of the real code, one after the other on
    one core (this thread's CPU time; the server's threads are not counted), for `sample`
    articles of the first sources: what the cycle spends on top of trafilatura, and so the
    best ratio to the limit that all cores could give."""
    import gzip
    import importlib

    from monitor import app as appmod
    from monitor.config import load_settings
    from monitor.pipeline import dedup, runner, story
    from monitor.pipeline.runner import analysis

    proc = importlib.import_module("monitor.pipeline.runner.process")
    n_sources = max(1, -(-sample // max(1, len(web.pages) // max(1, len(web.sources)))))
    db = f"sqlite:///{tmp / 'stages.db'}"
    app = appmod.build(
        load_settings(write_config(tmp, db, web.sources[:n_sources], "stages.yaml")), workers=1
    )
    try:
        ctx, cpu = app.ctx, time.thread_time
        costs: Counter[str] = Counter()
        t = cpu()
        runner.poll(ctx)
        costs["poll (feeds: HTTP, parse, store)"] += cpu() - t
        pending = proc.pending_articles(ctx)[:sample]
        t = cpu()
        fetched = asyncio.run(proc.fetch_pages(ctx, pending))
        costs["fetch (HTTP, robots.txt, decode)"] += cpu() - t
        stages = runner.stages_for(ctx)
        outcomes = []
        for k, o in enumerate(fetched):
            p = o.pending
            # Alternate which goes first: the second pass over a page finds warmer caches.
            for first in (k % 2 == 0, k % 2 == 1):
                t = cpu()
                if first:
                    _trafilatura(o.html, p.url)
                    costs["(trafilatura alone: the limit's work)"] += cpu() - t
                else:
                    ex = runner.extract_one(o.html, p.url, p.feed_html)
                    costs["extract (trafilatura + metadata)"] += cpu() - t
            assert not isinstance(ex, Exception), ex
            title = p.title or ex.title
            t = cpu()
            hits = tuple(stages.tagger.tag(runner.document_text(title, ex.text)))
            costs["tag"] += cpu() - t
            t = cpu()
            analysis.match_all(stages.watchlists, title, ex.text, p.source, hits)
            costs["match (watchlists and alerts)"] += cpu() - t
            t = cpu()
            dedup.text_fingerprint(ex.text)
            dedup.signature(ex.text, stages.dedup)
            story.article_story_keys(title, ex.text, hits, stages.dedup)
            costs["dedup keys (hash, MinHash, story keys)"] += cpu() - t
            t = cpu()
            gzip.compress(o.html.encode("utf-8"), analysis.HTML_GZIP_LEVEL)
            costs["compress kept HTML"] += cpu() - t
            outcomes.append(proc.with_extraction(o, runner.analyse(proc.job_for(o), stages)))
        report = runner.ProcessReport()
        t = cpu()
        for i in range(0, len(outcomes), runner.RECORD_BATCH):
            runner.record_batch(ctx, outcomes[i : i + runner.RECORD_BATCH], report)
        costs["store (dedup lookups, links, mentions, matches)"] += cpu() - t
    finally:
        app.close()
    n = len(outcomes)
    per = {k: 1000 * v / n for k, v in costs.items()}
    limit_ms = per.pop("(trafilatura alone: the limit's work)")
    total = sum(per.values())
    return {"articles": n, "ms": per, "total_ms": total, "limit_ms": limit_ms}


# --- the real cycle, in a child process ---------------------------------------------------


def write_config(tmp: Path, db: str, sources: list[tuple[str, str]], name: str) -> Path:
    shipped = yaml.safe_load((ROOT / "config" / "monitor.yaml").read_text(encoding="utf-8"))
    cfg = {
        "database": db,
        "entities": str(ROOT / "config" / "entities.yaml"),
        "reports_dir": str(tmp / "reports"),
        "fetch": {"allow_private_networks": True, "timeout_s": 20},
        "smtp": {"host": "127.0.0.1", "port": 2525},
        "sources": [{"name": n, "url": u, "interval": "15m"} for n, u in sources],
        "watchlists": shipped.get("watchlists", []),
    }
    path = tmp / name
    path.write_text(json.dumps(cfg, indent=1), encoding="utf-8")
    return path


def child(spec_path: str) -> None:
    """Run in a fresh process: one timed cycle, then the timed re-poll; JSON to stdout."""
    from monitor import app as appmod
    from monitor.config import load_settings

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    offset = timedelta()

    def clock() -> datetime:
        return datetime.now(UTC) + offset

    workers = int(spec["workers"])
    app = appmod.build(
        load_settings(Path(spec["config"])),
        clock=clock,
        mailer=appmod.file_mailer(Path(spec["tmp"]) / "mail"),
        workers=workers,
    )
    if app.ctx.executor is not None:  # spawn, import and extract once before timing
        from monitor.pipeline import runner

        sample = next(PAGES.glob("*.html")).read_text(encoding="utf-8")
        n = workers * 2
        list(app.ctx.executor.map(runner.extract_one, [sample] * n, ["http://x/"] * n, [""] * n))
    t0 = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    if os.environ.get("INGEST_PROFILE"):  # a cProfile dump of the cycle, for finding limits
        import cProfile

        with cProfile.Profile() as prof:
            report = appmod.run_cycle(app)
        prof.dump_stats(os.environ["INGEST_PROFILE"])
    else:
        report = appmod.run_cycle(app)
    cycle_s = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    # CPU the main process (fetching, storing, every thread) spent in the cycle: near
    # cycle_s means it is the serial step that holds the workers back.
    main_cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    main_peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    app.close()
    worker_peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out: dict[str, Any] = {
        "cycle_s": cycle_s,
        "main_cpu_s": main_cpu_s,
        "polled": report.poll.polled,
        "new": report.poll.new_articles,
        "processed": report.process.processed,
        "failed": len(report.process.failed) + len(report.poll.failed),
        "duplicates": report.process.duplicates,
        "matched": report.process.matched,
        "main_peak_mb": main_peak_kb / 1024,
        "worker_peak_mb": worker_peak_kb / 1024,
    }
    app = appmod.build(
        load_settings(Path(spec["repoll_config"])),
        clock=clock,
        mailer=appmod.file_mailer(Path(spec["tmp"]) / "mail"),
        workers=1,
    )
    warm = appmod.run_cycle(app)  # the mirrors' first poll: 200s, entries all known
    offset = timedelta(days=2)  # past every next check (the cap is 24 h)
    before = httpx.get(spec["stats_url"]).json()
    t0 = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    if os.environ.get("INGEST_PROFILE"):
        import cProfile

        with cProfile.Profile() as prof:
            polled, processed = appmod.poll_now(app), appmod.process_now(app)
        prof.dump_stats(os.environ["INGEST_PROFILE"] + ".repoll")
    else:
        polled, processed = appmod.poll_now(app), appmod.process_now(app)
    repoll_s = time.perf_counter() - t0
    after = httpx.get(spec["stats_url"]).json()
    app.close()
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    out.update(
        {
            "repoll_sources": polled.polled,
            "repoll_s": repoll_s,
            "repoll_not_modified": polled.not_modified,
            "repoll_new": polled.new_articles + warm.poll.new_articles,
            "repoll_processed": processed.processed,
            "repoll_requests": {k: v for k, v in delta.items() if v},
        }
    )
    print(json.dumps(out))


def run_child(spec: dict[str, Any], tmp: Path, mode: str = "--child") -> dict[str, Any]:
    path = tmp / "spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, mode, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the cycle process failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - t0
    return result


# --- report --------------------------------------------------------------------------------


def table(r: dict[str, Any]) -> str:
    e, lim, nv = r["cycle"], r["limit"], r["naive"]
    rate = e["processed"] / e["cycle_s"]
    rows = [
        (
            "run --once (end to end)",
            f"{e['processed']} articles in {e['cycle_s']:.1f} s",
            f"{rate:.1f} art/s",
            f"main process CPU {e['main_cpu_s']:.1f} s",
        ),
        (
            "(a) trafilatura alone, all cores",
            f"{lim['pages']} pages in {lim['seconds']:.1f} s",
            f"{lim['rate']:.1f} pages/s",
            f"run/limit = {rate / lim['rate']:.2f} (target >= 0.8)",
        ),
        (
            "(b) naive sequential loop",
            f"{nv['articles']} articles in {nv['seconds']:.1f} s",
            f"{nv['rate']:.1f} art/s",
            f"run/naive = {rate / nv['rate']:.1f}x (target >= 15x)",
        ),
        (
            "re-poll, unchanged sources",
            f"{e['repoll_sources']} sources in {e['repoll_s']:.2f} s",
            f"{e['repoll_not_modified']} x 304",
            f"processed {e['repoll_processed']} (target <= 10 s, 0)",
        ),
        (
            "peak memory (RSS)",
            f"main {e['main_peak_mb']:.0f} MB",
            f"worker {e['worker_peak_mb']:.0f} MB",
            "",
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    out = "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )
    st = r["stages"]
    lines = [f"\n(c) CPU per article, stage by stage, one core ({st['articles']} articles):"]
    lines += [f"  {name:<50} {ms:6.2f} ms" for name, ms in st["ms"].items()]
    lines.append(f"  {'all stages':<50} {st['total_ms']:6.2f} ms")
    lines.append(
        f"  {'trafilatura alone (the limit, per page)':<50} {st['limit_ms']:6.2f} ms"
        f"  -> best run/limit on any number of cores = {st['limit_ms'] / st['total_ms']:.2f}"
    )
    return out + "\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", type=int, default=30)
    ap.add_argument("--articles", type=int, default=20, help="articles per source")
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--hosts", type=int, default=16)
    ap.add_argument("--repoll", type=int, default=1000)
    ap.add_argument("--naive-sources", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument(
        "--text",
        choices=("markov", "paragraphs"),
        default="markov",
        help="article text: new sentences per article (markov) or whole shared paragraphs",
    )
    ap.add_argument("--copies", type=float, default=0.05, help="share of syndicated copies")
    ap.add_argument(
        "--stage-sample", type=int, default=200, help="articles timed stage by stage (c)"
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--stages-child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    if args.stages_child:
        spec = json.loads(Path(args.stages_child).read_text(encoding="utf-8"))
        sources = [tuple(x) for x in spec["sources"]]
        shape = Web(sources=sources, pages=[("", "")] * (spec["per_source"] * len(sources)))
        print(json.dumps(measure_stages(shape, Path(spec["tmp"]), spec["sample"])))
        return 0
    hosts = [f"127.0.0.{2 + i}" for i in range(args.hosts)]
    server = Server(hosts, args.latency_ms / 1000)
    try:
        web = build_web(
            args.sources,
            args.articles,
            args.repoll,
            hosts,
            server.port,
            text=args.text,
            copies=args.copies,
        )
        server.web = web
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            db = f"sqlite:///{tmp / 'monitor.db'}"
            spec = {
                "config": str(write_config(tmp, db, web.sources, "run.yaml")),
                "repoll_config": str(write_config(tmp, db, web.sources + web.mirrors, "re.yaml")),
                "tmp": str(tmp),
                "workers": args.workers,
                "stats_url": f"http://{hosts[0]}:{server.port}/_stats",
            }
            cycle = run_child(spec, tmp)
            # In a fresh process too: this one holds the whole web and the server's threads.
            stages_spec = {
                "sources": web.sources,
                "per_source": len(web.pages) // max(1, len(web.sources)),
                "tmp": str(tmp),
                "sample": args.stage_sample,
            }
            stages = run_child(stages_spec, tmp, "--stages-child")
        limit = measure_limit(web.pages, args.workers)
        naive = measure_naive(web, args.naive_sources)
    finally:
        server.close()
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "params": {k: v for k, v in vars(args).items() if k not in ("child", "stages_child")},
        "cycle": cycle,
        "limit": limit,
        "naive": naive,
        "stages": stages,
        "server_requests": dict(server.stats),
    }
    rate = cycle["processed"] / cycle["cycle_s"]
    result["ratios"] = {
        "run_over_limit": rate / limit["rate"],
        "run_over_naive": rate / naive["rate"],
    }
    print(table(result))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
