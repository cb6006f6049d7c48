"""Config loading: the shipped config is valid, and each bad config gives the right file:line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor import cli
from monitor.config import load_entities, load_settings
from monitor.errors import ConfigError
from tests.conftest import REPO

GOOD = """\
database: sqlite:///data/monitor.db
entities: {entities}
sources:
  - name: Wire
    url: https://example.org/feed.xml
    interval: 15m
watchlists:
  - name: militias
    query: 'type:armed_group AND Iran'
    digest:
      schedule: "0 7 * * *"
      timezone: Asia/Baghdad
      recipients: [analyst@example.org]
"""

ENTITIES = str(REPO / "config" / "entities.yaml")


def write(tmp_path: Path, text: str, name: str = "monitor.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text.replace("{entities}", ENTITIES), encoding="utf-8")
    return path


def test_shipped_config_is_valid() -> None:
    settings = load_settings(REPO / "config" / "monitor.yaml")
    assert len(settings.sources) >= 10
    assert {w.name for w in settings.watchlists} >= {"iraq-militias", "us-iran"}
    assert all(s.url.startswith("https://") for s in settings.sources)


def test_good_config_resolves_paths_and_durations(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.database == f"sqlite:///{(tmp_path / 'data' / 'monitor.db').resolve()}"
    assert settings.sources[0].interval == timedelta(minutes=15)
    assert settings.reports_dir == tmp_path / "reports"
    assert settings.watchlists[0].digest.timezone == "Asia/Baghdad"


def test_environment_variables_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_TEST_SMTP_PW", "s3cret")
    text = GOOD + "smtp:\n  password: ${MONITOR_TEST_SMTP_PW}\n  username: ${UNSET_VAR_X:-bob}\n"
    settings = load_settings(write(tmp_path, text))
    assert settings.smtp.password == "s3cret" and settings.smtp.username == "bob"


def test_watchlist_files_are_loaded(tmp_path: Path) -> None:
    (tmp_path / "watchlists").mkdir()
    write(tmp_path, "name: extra\nquery: 'drone*'\n", "watchlists/extra.yaml")
    settings = load_settings(write(tmp_path, GOOD))
    assert [w.name for w in settings.watchlists] == ["militias", "extra"]


# (replace this text in GOOD, with this, expected line, expected message part)
BAD_CASES = [
    ("    interval: 15m", "    interval: 15x", 6, "bad duration '15x'"),
    ("    interval: 15m", "    interval: 30s", 6, "shorter than the 1m minimum"),
    ('      schedule: "0 7 * * *"', '      schedule: "0 7 * *"', 11, "bad cron expression"),
    ('      schedule: "0 7 * * *"', '      schedule: "0 25 * * *"', 11, "bad cron expression"),
    ("      timezone: Asia/Baghdad", "      timezone: Mars/Olympus", 12, "unknown timezone"),
    ("    url: https://example.org/feed.xml", "    url: ftp://example.org/feed", 5, "http(s)"),
    ("    interval: 15m", "    interval: 15m\n    colour: red", 7, "unknown key 'colour'"),
    ("database: sqlite", "databse: sqlite", 1, "unknown key 'databse'"),
    ("    query: 'type:armed_group AND Iran'", "    query: '(Iran AND'", 9, "query"),
    (
        "      recipients: [analyst@example.org]",
        "      recipients: [a@b.org]\n      formats: [fax]",
        14,
        "unknown format",
    ),
    ("entities: {entities}", "entities: {entities}\nfetch: {timeout_s: -1}", 3, "fetch.timeout_s"),
    (
        "entities: {entities}",
        'entities: {entities}\nsmtp: {password: "${NOPE_NOT_SET}"}',
        3,
        "NOPE_NOT_SET is not set",
    ),
    (
        "watchlists:",
        "  - name: Wire\n    url: https://example.org/b.xml\nwatchlists:",
        7,
        "duplicate source name 'Wire'",
    ),
    (
        "    query: 'type:armed_group AND Iran'",
        "    query: 'x'\n    sources: [Nope]",
        10,
        "unknown source 'Nope'",
    ),
    ("  - name: Wire", "  - name: [Wire", 5, "YAML syntax error"),
]


@pytest.mark.parametrize(
    ("old", "new", "line", "message"), BAD_CASES, ids=[c[3] for c in BAD_CASES]
)
def test_bad_config_names_file_and_line(
    tmp_path: Path, old: str, new: str, line: int, message: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert err.value.file == str(path)
    assert err.value.line == line, str(err.value)
    assert message in str(err.value)
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_duplicate_watchlist_across_files(tmp_path: Path) -> None:
    (tmp_path / "watchlists").mkdir()
    extra = write(tmp_path, "# another\nname: militias\nquery: x\n", "watchlists/dup.yaml")
    with pytest.raises(ConfigError, match="duplicate watchlist name 'militias'") as err:
        load_settings(write(tmp_path, GOOD))
    assert (err.value.file, err.value.line) == (str(extra), 2)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_check_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, GOOD)
    assert cli.main(["--config", str(good), "check"]) == 0
    assert ": ok" in capsys.readouterr().out
    bad = write(tmp_path, GOOD.replace("15m", "fortnightly"), "bad.yaml")
    assert cli.main(["--config", str(bad), "check"]) == 2
    assert capsys.readouterr().err.startswith(f"{bad}:6: ")


ENTITY_CASES = [
    ("- {id: Bad_Id, name: X, type: person}", 2, "kebab-case"),
    ("- {id: x, name: X, type: wizard}", 2, "unknown entity type 'wizard'"),
    (
        "- {id: x, name: X, type: person}\n- {id: x, name: Y, type: person}",
        3,
        "duplicate entity id 'x'",
    ),
    (
        "- {id: x, name: X, type: person, affiliations: {member_of: [ghost]}}",
        2,
        "unknown entity 'ghost'",
    ),
    ("- {id: x, name: X, type: person, alias: [y]}", 2, "unknown key 'alias'"),
]


@pytest.mark.parametrize(
    ("body", "line", "message"), ENTITY_CASES, ids=[c[2] for c in ENTITY_CASES]
)
def test_bad_entities_name_file_and_line(
    tmp_path: Path, body: str, line: int, message: str
) -> None:
    path = tmp_path / "entities.yaml"
    path.write_text("entities:\n" + body + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_entities(path)
    assert (err.value.file, err.value.line) == (str(path), line), str(err.value)
    assert message in str(err.value)


def test_shipped_entities_load() -> None:
    entities = load_entities(ENTITIES)
    assert len(entities) >= 50
    assert len({e.id for e in entities}) == len(entities)


def test_total_timeout_defaults_to_120_s_or_the_phase_timeout_when_longer() -> None:
    from monitor.config import FetchSettings

    assert FetchSettings().policy().total_timeout_s == 120.0
    assert FetchSettings(timeout_s=300).policy().total_timeout_s == 300.0  # never cut shorter
    assert FetchSettings(timeout_s=300, total_timeout_s=30).policy().total_timeout_s == 30.0
