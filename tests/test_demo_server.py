"""The bundled demo corpus and the loopback server that serves it."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import httpx
import pytest

from monitor.demo.server import CorpusServer, corpus_root

REPO = Path(__file__).resolve().parent.parent

FEEDS = {
    "feeds/world.xml": "application/rss+xml",
    "feeds/analysis.xml": "application/atom+xml",
}


@pytest.fixture(scope="module")
def server() -> Iterator[CorpusServer]:
    with CorpusServer(corpus_root()) as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as c:
        yield c


def manifest() -> list[dict[str, object]]:
    pages: list[dict[str, object]] = json.loads(
        (corpus_root() / "manifest.json").read_text(encoding="utf-8")
    )["pages"]
    return pages


def feed_links(server: CorpusServer, client: httpx.Client) -> list[str]:
    links: list[str] = []
    for path in FEEDS:
        response = client.get(server.url(path))
        parsed = feedparser.parse(response.content, response_headers=dict(response.headers))
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        links += [entry.link for entry in parsed.entries]
    return links


# --- the server -------------------------------------------------------------------------------


def test_base_url_is_loopback_with_an_ephemeral_port(server: CorpusServer) -> None:
    parts = urlsplit(server.base_url)
    assert parts.scheme == "http" and parts.hostname == "127.0.0.1"
    assert parts.port == server.port and parts.port > 0
    assert server.url("/feeds/world.xml") == server.base_url + "/feeds/world.xml"


@pytest.mark.parametrize(("path", "kind"), sorted(FEEDS.items()))
def test_feed_is_served_with_its_type_and_the_base_url_substituted(
    server: CorpusServer, client: httpx.Client, path: str, kind: str
) -> None:
    response = client.get(server.url(path))
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == kind
    assert "{{BASE_URL}}" not in response.text
    assert f"{server.base_url}/pages/" in response.text
    assert response.headers["etag"].startswith('"')
    assert response.headers["last-modified"].endswith("GMT")
    assert int(response.headers["content-length"]) == len(response.content)


def test_page_is_html_with_canonical_link_pointing_back_at_the_server(
    server: CorpusServer, client: httpx.Client
) -> None:
    slug = "erbil-drone-attack-tests-final-phase-of-us-drawdown"
    url = server.url(f"pages/{slug}.html")
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "{{BASE_URL}}" not in page
    assert f'<link rel="canonical" href="{url}">' in page
    assert '<html lang="en">' in page
    assert '<meta property="og:title" content="Drone attack near Erbil tests' in page
    assert 'property="og:site_name"' in page and 'property="article:published_time"' in page
    assert "<h1>Drone attack near Erbil tests final phase of U.S. drawdown in Iraq</h1>" in page
    assert '<time datetime="2026-10-14T16:25:00-04:00"' in page


def test_conditional_get_answers_304(server: CorpusServer, client: httpx.Client) -> None:
    url = server.url("feeds/world.xml")
    first = client.get(url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]

    by_etag = client.get(url, headers={"If-None-Match": etag})
    assert by_etag.status_code == 304
    assert by_etag.content == b""
    assert by_etag.headers["etag"] == etag

    by_date = client.get(url, headers={"If-Modified-Since": modified})
    assert by_date.status_code == 304

    stale = client.get(url, headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.content == first.content

    older = format_datetime(datetime.now(UTC) - timedelta(days=365 * 30), usegmt=True)
    assert client.get(url, headers={"If-Modified-Since": older}).status_code == 200


def test_etag_is_stable_across_requests(server: CorpusServer, client: httpx.Client) -> None:
    url = server.url("feeds/analysis.xml")
    assert client.get(url).headers["etag"] == client.get(url).headers["etag"]


def test_head_sends_headers_only(server: CorpusServer, client: httpx.Client) -> None:
    response = client.head(server.url("feeds/analysis.xml"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    assert response.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/nope.html",
        "/pages/no-such-story.html",
        "/pages",
        "/pages/",
        "/",
        "/../server.py",
        "/pages/..%2f..%2fserver.py",
        "/%2e%2e/server.py",
    ],
)
def test_unknown_paths_are_404(server: CorpusServer, client: httpx.Client, path: str) -> None:
    response = client.get(server.base_url + path)
    assert response.status_code == 404


def test_raw_traversal_request_is_404(server: CorpusServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /../../server.py HTTP/1.0\r\nHost: x\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.0 404")


def test_serves_any_root_and_shuts_down_cleanly(tmp_path: Path) -> None:
    (tmp_path / "feed.xml").write_text('<rss version="2.0"><link>{{BASE_URL}}/a</link></rss>')
    (tmp_path / "note.txt").write_text("hello")
    with CorpusServer(tmp_path) as srv, httpx.Client(trust_env=False) as client:
        feed = client.get(srv.url("feed.xml"))
        assert feed.text == f'<rss version="2.0"><link>{srv.base_url}/a</link></rss>'
        assert feed.headers["content-type"].startswith("application/rss+xml")
        assert client.get(srv.url("note.txt")).headers["content-type"].startswith("text/plain")
        port = srv.port
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    srv.close()  # closing twice is harmless


def test_missing_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        CorpusServer(tmp_path / "absent")


def test_server_is_silent(capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("<p>x</p>")
    with CorpusServer(tmp_path) as srv, httpx.Client(trust_env=False) as client:
        client.get(srv.url("a.html"))
        client.get(srv.url("missing.html"))
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


# --- the corpus -------------------------------------------------------------------------------


def test_every_feed_link_resolves_to_a_page_in_the_corpus(
    server: CorpusServer, client: httpx.Client
) -> None:
    links = feed_links(server, client)
    assert len(links) == len(set(links)) == 6
    for link in links:
        assert link.startswith(server.base_url + "/pages/"), link
        path = link.removeprefix(server.base_url + "/")
        assert (corpus_root() / path).is_file(), path
        response = client.get(link)
        assert response.status_code == 200, link
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert f'<link rel="canonical" href="{link}">' in response.text
    pages = {p.relative_to(corpus_root()).as_posix() for p in corpus_root().glob("pages/*.html")}
    assert {link.removeprefix(server.base_url + "/") for link in links} == pages


def test_feed_entries_carry_summary_date_and_guid(
    server: CorpusServer, client: httpx.Client
) -> None:
    for path in FEEDS:
        parsed = feedparser.parse(client.get(server.url(path)).content)
        assert parsed.feed.get("title")
        for entry in parsed.entries:
            assert entry.get("summary", "").strip(), entry.link
            assert entry.get("published_parsed") is not None, entry.link
            assert entry.get("id") and "{{" not in entry.id and "127.0.0.1" not in entry.id


def test_manifest_matches_pages_and_names_one_syndicated_copy() -> None:
    pages = manifest()
    assert len(pages) == 6
    for page in pages:
        assert (corpus_root() / str(page["path"])).is_file()
    copies = [p for p in pages if p["duplicate_of"]]
    assert len(copies) == 1
    original = next(p for p in pages if p["slug"] == copies[0]["duplicate_of"])
    assert original["title"] == copies[0]["title"]
    assert original["outlet"] != copies[0]["outlet"]
    assert original["feed"] != copies[0]["feed"]
    assert len({p["text"] for p in pages}) == 5
    for page in pages:  # the article texts the pages are built from live in the repository
        assert (REPO / str(page["text"])).is_file(), page["text"]


def test_syndicated_copy_extracts_to_the_same_text_as_its_original(
    server: CorpusServer, client: httpx.Client
) -> None:
    from monitor.pipeline.dedup import text_fingerprint
    from monitor.pipeline.extract import extract

    pages = {str(p["slug"]): p for p in manifest()}
    copy = next(p for p in pages.values() if p["duplicate_of"])
    texts = []
    for page in (pages[str(copy["duplicate_of"])], copy):
        url = server.url(str(page["path"]))
        result = extract(client.get(url).text, url=url)
        assert result.method == "trafilatura"
        assert result.canonical_url == url
        texts.append(result.text)
    assert len(texts[0]) > 3000
    assert text_fingerprint(texts[0]) == text_fingerprint(texts[1])


def test_corpus_pages_have_the_boilerplate_an_extractor_must_strip() -> None:
    for path in sorted(corpus_root().glob("pages/*.html")):
        page = path.read_text(encoding="utf-8")
        lowered = page.lower()
        assert page.count("<h1") == 1, path.name
        assert "<article" in page and "</article>" in page, path.name
        # one outlet is div soup: its menu and footer are classes, not <nav>/<footer>
        assert "<nav" in page or 'class="menu"' in page, path.name
        assert "<footer" in page or 'class="site-footer"' in page, path.name
        assert "cookie" in lowered and "related stories" in lowered, path.name
        assert 'id="comments"' in page, path.name
        assert '<link rel="canonical" href="{{BASE_URL}}/pages/' in page, path.name


def test_corpus_stays_small() -> None:
    total = sum(p.stat().st_size for p in corpus_root().rglob("*") if p.is_file())
    assert total < 400_000


def test_corpus_is_what_the_build_script_writes(tmp_path: Path) -> None:
    """The committed corpus is current with scripts/demo_articles/ and the build is repeatable."""
    spec = importlib.util.spec_from_file_location(
        "build_demo_corpus", REPO / "scripts" / "build_demo_corpus.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        module.build(tmp_path)
    finally:
        del sys.modules[spec.name]
    built = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    shipped = sorted(p.relative_to(corpus_root()) for p in corpus_root().rglob("*") if p.is_file())
    assert built == shipped
    for rel in built:
        assert (tmp_path / rel).read_bytes() == (corpus_root() / rel).read_bytes(), rel
