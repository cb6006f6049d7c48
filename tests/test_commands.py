"""The commands an analyst types, run through `monitor.cli.main` on real files and databases."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from monitor import cli
from tests.conftest import REPO
from tests.loopback import LoopbackServer, Reply

ENTITIES = REPO / "config" / "entities.yaml"
KH_TEXT = (
    "Kata'ib Hizballah fired rockets at Camp Taji, Iraqi officials said on Tuesday, in the third "
    "attack this month. The militia, backed by Iran's Quds Force, denied it. "
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(tmp_path: Path) -> Path:
    cfg = {
        "database": f"sqlite:///{tmp_path / 'm.db'}",
        "entities": str(ENTITIES),
        "reports_dir": str(tmp_path / "reports"),
        "sources": [{"name": "Wire", "url": "https://example.org/feed.xml"}],
        "watchlists": [
            {
                "name": "kh",
                "query": "entity:kataib-hezbollah AND rocket*",
                "digest": {"formats": ["html"]},
            }
        ],
    }
    path = tmp_path / "monitor.yaml"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


def test_init_writes_a_valid_starter_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "init", str(tmp_path / "site"))
    assert code == 0 and "monitor.yaml" in out
    made = tmp_path / "site" / "config" / "monitor.yaml"
    assert (tmp_path / "site" / "config" / "entities.yaml").is_file()
    code, out, _ = run(capsys, "--config", str(made), "check")
    assert code == 0 and "ok" in out
    code, _, err = run(capsys, "init", str(tmp_path / "site"))
    assert code == 2 and "already exists" in err


def test_tag_files_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = tmp_path / "a.txt"
    a.write_text(KH_TEXT, encoding="utf-8")
    article = REPO / "tests" / "fixtures" / "dedup" / "harir-drone.original.txt"  # our own text
    code, out, _ = run(capsys, "tag", "--entities", str(ENTITIES), str(a), str(article))
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["source"] for line in lines] == [str(a), str(article)]
    kh = next(e for e in lines[0]["entities"] if e["id"] == "kataib-hezbollah")
    assert kh["count"] == 1 and kh["mentions"][0]["text"] == "Kata'ib Hizballah"
    m = kh["mentions"][0]
    assert KH_TEXT[m["start"] : m["end"]] == "Kata'ib Hizballah"
    assert {"id", "name", "type", "count", "mentions"} <= set(kh)


def test_tag_jsonl_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        json.dumps({"id": "x1", "text": KH_TEXT}),
        json.dumps({"id": 7, "text": "Nothing here."}),
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    code, out, _ = run(capsys, "tag", "--entities", str(ENTITIES), "--jsonl")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["x1", 7]
    assert "kataib-hezbollah" in {e["id"] for e in rows[0]["entities"]}
    assert rows[1]["entities"] == []


def test_tag_jsonl_bad_line_names_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"id": 1, "text": "a"}\nnot json\n'))
    code, _, err = run(capsys, "tag", "--entities", str(ENTITIES), "--jsonl")
    assert code == 2 and "<stdin>:2:" in err


def test_extract_file_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pages = sorted((REPO / "monitor" / "demo" / "corpus" / "pages").glob("*.html"))
    page = tmp_path / "page.html"
    page.write_text(
        pages[0].read_text(encoding="utf-8").replace("{{BASE_URL}}", "https://example.org")
    )
    code, out, _ = run(capsys, "extract", "--format", "json", str(page))
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"title", "text", "published_at", "author", "language", "method"}
    assert len(data["text"]) > 1000 and data["method"].startswith("trafilatura")
    assert "cookie" not in data["text"].lower()


def test_extract_url_uses_the_configured_fetch_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pages = sorted((REPO / "monitor" / "demo" / "corpus" / "pages").glob("*.html"))
    with LoopbackServer() as server:
        html = pages[0].read_text(encoding="utf-8").replace("{{BASE_URL}}", server.url(""))
        server.route("/story.html", Reply(body=html.encode()))
        url = server.url("/story.html")
        # Without a config the defaults apply, and they refuse a loopback address.
        code, _, err = run(capsys, "--config", str(tmp_path / "none.yaml"), "extract", url)
        assert code != 0 and "non-public address 127.0.0.1" in err
        cfg = tmp_path / "monitor.yaml"
        cfg.write_text(json.dumps({"fetch": {"allow_private_networks": True}}), "utf-8")
        code, out, _ = run(capsys, "--config", str(cfg), "extract", "--format", "json", url)
    assert code == 0
    data = json.loads(out)
    assert len(data["text"]) > 1000 and data["method"].startswith("trafilatura")
    assert [r.path for r in server.requests] == ["/story.html"]


def test_extract_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "extract", str(tmp_path / "nope.html"))
    assert code == 2 and "nope.html" in err


def test_import_search_export_status(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [
        {"url": "https://example.org/a", "title": "Rockets hit Taji", "text": KH_TEXT * 3,
         "published_at": "2026-11-30T10:00:00", "source": "Wire"},
        {"url": "https://example.org/b", "title": "Weather", "html": "<html><body><article><p>"
         + "Sunny and warm across the region this week, forecasters said. " * 8
         + "</p></article></body></html>", "source": "Wire"},
        {"title": "no url"},
    ]  # fmt: skip
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in records) + "\nnot json\n", encoding="utf-8")
    code, out, err = run(capsys, "--config", str(config), "import", str(f))
    assert code == 1  # two bad lines are reported, the good ones are kept
    assert "imported 2 article(s)" in out and "2 bad line(s)" in out
    assert f"{f}:3:" in err and f"{f}:4:" in err

    code, out, _ = run(capsys, "--config", str(config), "import", str(f))
    assert "imported 0 article(s)" in out and "2 already known" in out

    code, out, _ = run(
        capsys,
        "--config",
        str(config),
        "search",
        "rocket* AND entity:kataib-hezbollah",
        "--format",
        "json",
    )
    assert code == 0
    hits = [json.loads(line) for line in out.splitlines()]
    assert [h["url"] for h in hits] == ["https://example.org/a"]

    code, out, _ = run(capsys, "--config", str(config), "export", "--format", "jsonl")
    rows = {r["url"]: r for r in map(json.loads, out.splitlines())}
    assert rows["https://example.org/a"]["published_at"] == "2026-11-30T10:00:00+00:00"
    assert rows["https://example.org/a"]["watchlists"] == ["kh"]
    assert rows["https://example.org/b"]["watchlists"] == []
    assert rows["https://example.org/b"]["duplicate_of"] is None

    code, out, _ = run(
        capsys, "--config", str(config), "export", "--format", "csv", "--query", "Sunny"
    )
    assert code == 0 and out.count("\n") == 2 and "https://example.org/b" in out

    code, out, _ = run(capsys, "--config", str(config), "digest", "kh", "--format", "json")
    assert code == 0 and "Rockets hit Taji" in out

    code, out, _ = run(capsys, "--config", str(config), "digest", "kh", "--send")
    assert code == 0 and "sent" in out
    code, out, _ = run(capsys, "--config", str(config), "status")
    assert code == 0 and "kh" in out and "sent" in out


def test_bad_query_is_a_usage_error(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--config", str(config), "search", "(rocket AND")
    assert code == 2 and "column" in err


def test_sources_list_and_reset(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", str(config), "sources")
    assert code == 0 and "Wire" in out
    code, out, _ = run(capsys, "--config", str(config), "sources", "reset", "Wire")
    assert code == 0 and "reset" in out
    code, _, err = run(capsys, "--config", str(config), "sources", "reset", "Nope")
    assert code == 2 and "no source named 'Nope'" in err


def test_sources_show_errors_and_warnings_and_reset_clears_the_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    illformed = (REPO / "tests" / "fixtures" / "feeds" / "illformed.xml").read_bytes()
    with LoopbackServer(
        {
            "/bad.xml": Reply(body=illformed, content_type="application/rss+xml"),
            "/down.xml": Reply(status=500),
        }
    ) as server:
        cfg = {
            "database": f"sqlite:///{tmp_path / 'm.db'}",
            "entities": str(ENTITIES),
            "reports_dir": str(tmp_path / "reports"),
            "fetch": {"allow_private_networks": True, "timeout_s": 5},
            "sources": [
                {"name": "Sloppy", "url": server.url("/bad.xml")},
                {"name": "Down", "url": server.url("/down.xml")},
            ],
        }
        path = tmp_path / "monitor.yaml"
        path.write_text(json.dumps(cfg), encoding="utf-8")
        run(capsys, "--config", str(path), "poll")
    code, out, _ = run(capsys, "--config", str(path), "sources")
    assert code == 0
    table = columns(out)
    assert list(table["Down"]) == [
        *("name", "last_status", "interval", "error_count", "next_check_at"),
        *("items_seen", "last_error", "warning"),
    ]
    down, sloppy = table["Down"], table["Sloppy"]
    assert (down["last_status"], down["error_count"]) == ("500", "1")
    assert "HTTP 500" in down["last_error"] and down["next_check_at"]
    assert sloppy["error_count"] == "0" and not sloppy["last_error"]
    assert sloppy["warning"]  # the ill-formed feed's parser complaint
    assert not down["warning"]

    code, out, _ = run(capsys, "--config", str(path), "sources", "reset", "Down")
    assert code == 0 and "errors cleared" in out
    _, out, _ = run(capsys, "--config", str(path), "sources")
    down = columns(out)["Down"]
    assert (down["error_count"], down["last_error"]) == ("0", "")


def columns(out: str) -> dict[str, dict[str, str]]:
    """A printed table as {first cell: {column: cell}}, cut at the header's column starts."""
    head, *rows = out.splitlines()
    names = head.split()
    starts = [head.index(f" {n}") + 1 if i else 0 for i, n in enumerate(names)]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    out_rows = {}
    for row in rows:
        cells = {n: row[a:b].strip() for n, (a, b) in zip(names, bounds, strict=True)}
        out_rows[cells[names[0]]] = cells
    return out_rows


def test_entities_list_show(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", str(config), "entities")
    assert code == 0 and "kataib-hezbollah" in out
    code, out, _ = run(capsys, "--config", str(config), "entities", "show", "kataib-hezbollah")
    data = json.loads(out)
    assert data["type"] == "armed_group" and "KH" in data["acronyms"]
    code, _, err = run(capsys, "--config", str(config), "entities", "show", "nobody")
    assert code == 2 and "no entity 'nobody'" in err


def test_db_upgrade(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", str(config), "db", "upgrade")
    assert code == 0 and "newest schema" in out
    code, out, _ = run(capsys, "--config", str(config), "db", "upgrade")
    assert code == 0


def test_unknown_digest_watchlist(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--config", str(config), "digest", "nope")
    assert code == 2 and "no watchlist named 'nope' (known: kh)" in err


def test_entities_candidates_from_stored_articles(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "A new militia calling itself Saraya Awliya al-Dam claimed the attack on the convoy. "
        "The group's spokesman, Abu Turab al-Husseini, said more would follow. "
        "Kataib Hezbollah denied any role in the rockets fired at Baghdad airport."
    )
    unmatched = (  # no watchlist matches it: its names are not proposed
        "A new militia called Liwa Ahrar al-Qalam appeared. Its leader, Abu Hadi al-Nasri, spoke."
    )
    f = tmp_path / "c.jsonl"
    records = [
        {"url": "https://example.org/c", "title": "Claim", "text": text * 2},
        {"url": "https://example.org/d", "title": "Other", "text": unmatched * 2},
    ]
    f.write_text("\n".join(json.dumps(r) for r in records))
    assert run(capsys, "--config", str(config), "import", str(f))[0] == 0
    code, out, _ = run(capsys, "--config", str(config), "entities", "candidates")
    assert code == 0
    assert "Saraya Awliya al-Dam" in out and "Abu Turab al-Husseini" in out
    assert "Kataib Hezbollah" not in out  # already in the list
    assert "Ahrar" not in out and "al-Nasri" not in out  # in an article no watchlist matched


def test_process_reextract_uses_stored_html(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html = (
        "<html><body><nav>Home | World</nav><article><h1>Rockets</h1><p>"
        + KH_TEXT * 4
        + "</p></article></body></html>"
    )
    f = tmp_path / "h.jsonl"
    f.write_text(json.dumps({"url": "https://example.org/h", "title": "Rockets", "html": html}))
    assert run(capsys, "--config", str(config), "import", str(f))[0] == 0
    code, out, _ = run(capsys, "--config", str(config), "process", "--reextract")
    assert code == 0 and out.startswith("processed 1:")
