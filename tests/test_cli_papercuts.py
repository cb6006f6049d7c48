"""The command line in a shell: `tag --jsonl FILE`, a closed pipe, and what `--help` imports."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import cli
from tests.conftest import REPO

ENTITIES = REPO / "config" / "entities.yaml"
KH_LINE = "Kata'ib Hizballah fired rockets at Camp Taji and near Baghdad, officials said."


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_tag_jsonl_reads_the_files_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(json.dumps({"id": "x1", "text": KH_LINE}) + "\n\n", encoding="utf-8")
    second.write_text(json.dumps({"id": 7, "text": "Nothing here."}) + "\n", encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.StringIO('{"id": "stdin", "text": "not to be read"}\n'))
    code, out, _ = run(
        capsys, "tag", "--entities", str(ENTITIES), "--jsonl", str(first), str(second)
    )
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["x1", 7]
    assert "kataib-hezbollah" in {e["id"] for e in rows[0]["entities"]}
    assert rows[1]["entities"] == []


def test_tag_jsonl_dash_reads_standard_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"id": "s", "text": KH_LINE}) + "\n"))
    code, out, _ = run(capsys, "tag", "--entities", str(ENTITIES), "--jsonl", "-")
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["s"]


def test_tag_jsonl_bad_line_names_the_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text('{"id": 1, "text": "a"}\nnot json\n', encoding="utf-8")
    code, _, err = run(capsys, "tag", "--entities", str(ENTITIES), "--jsonl", str(path))
    assert code == 2 and f"{path}:2:" in err


def test_tag_jsonl_missing_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.jsonl"
    code, _, err = run(capsys, "tag", "--entities", str(ENTITIES), "--jsonl", str(missing))
    assert code == 2 and str(missing) in err and "cannot read input" in err


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path: Path) -> None:
    # Far more output than a pipe holds, so the command is still writing when the reader goes.
    items = tmp_path / "items.jsonl"
    lines = (json.dumps({"id": n, "text": KH_LINE}) for n in range(5000))
    items.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = [sys.executable, "-m", "monitor", "tag", "--entities", str(ENTITIES), "--jsonl"]
    with items.open("rb") as stdin:
        proc = subprocess.Popen(
            argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()  # like `| head -1`
        proc.stdout.close()
        _, err = proc.communicate(timeout=120)
    assert json.loads(first)["id"] == 0
    assert b"Traceback" not in err and b"BrokenPipeError" not in err, err.decode()
    assert proc.returncode == cli.EXIT_PIPE == 141  # what a shell shows for `cat big | head`


HEAVY = ("sqlalchemy", "trafilatura", "lxml", "apscheduler", "jinja2", "numpy", "scipy")

WHAT_HELP_IMPORTS = """
import contextlib, io, json, sys
from monitor import cli
for argv in (["--help"], ["check", "--help"], ["tag", "--help"]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        cli.main(argv)
print(json.dumps(sorted(sys.modules)))
"""


def test_help_imports_neither_the_pipeline_nor_its_heavy_libraries() -> None:
    # Import cost as a fact (which modules load), not a timing: --help builds every
    # subcommand's parser, and none of them may need the pipeline to do it (`digest --help`
    # may: it lists the formats the app renders).
    done = subprocess.run(
        [sys.executable, "-c", WHAT_HELP_IMPORTS],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
        timeout=120,
    )
    modules = json.loads(done.stdout)
    assert [m for m in modules if m.split(".")[0] in HEAVY] == []
    # The CLI's own modules (its command groups) and the exception tree, nothing else.
    ours = [m for m in modules if m.startswith("monitor.") and not m.startswith("monitor.cli.")]
    assert ours == ["monitor.cli", "monitor.errors"]
