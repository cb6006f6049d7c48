"""Every command has --help with an example, and the README documents every command and key."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from monitor import cli, config
from tests.conftest import REPO

COMMANDS = sorted(cli.build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_contract_commands_exist() -> None:
    expected = {
        "init", "check", "run", "poll", "process", "digest", "search", "tag", "extract",
        "import", "export", "sources", "status", "entities", "db", "demo",
    }  # fmt: skip
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert f"monitor {command}" in out and "Example" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_documents_command(command: str) -> None:
    assert re.search(rf"`monitor {command}\b", README), f"README lacks `monitor {command}`"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        if name == "config_path":
            continue
        out.append(prefix + name)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += _keys(ann, prefix + name + ".")
    return out


CONFIG_KEYS = (
    _keys(config.Settings)
    + _keys(config.SourceSettings, "sources[].")
    + _keys(config.WatchlistSettings, "watchlists[].")
    + _keys(config.DigestSettings, "watchlists[].digest.")
    + _keys(config.AlertSettings, "watchlists[].alert.")
)


@pytest.mark.parametrize("key", CONFIG_KEYS)
def test_readme_documents_config_key(key: str) -> None:
    assert f"`{key}`" in README, f"README lacks config key `{key}`"
