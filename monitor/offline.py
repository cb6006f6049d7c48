"""Commands that need no database and start fast: the starter config, `check`'s notes,
the tagger for `monitor tag`, the shipped folders. Nothing heavy is imported here."""

from __future__ import annotations

import re
from pathlib import Path

from monitor import config as configmod
from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.models import Entity
from monitor.pipeline.tag import Tagger, compile_entities

DIGEST_FORMATS = ("text", "html", "markdown", "json", "csv", "email", "atom")


def package_dir(name: str) -> Path:
    """`templates` or `config` shipped with the package, or the source checkout's folder."""
    here = Path(__file__).resolve().parent
    for candidate in (here / f"_{name}", here.parent / name):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"the bundled {name}/ folder is missing from the installation ({here})")


def init_config(directory: Path) -> list[Path]:
    """Copy the shipped config/ (monitor.yaml, entities.yaml, watchlists/) into `directory`."""
    src = package_dir("config")
    dest = directory / "config"
    if (dest / "monitor.yaml").exists():
        raise ConfigError("already exists; not overwriting it", file=str(dest / "monitor.yaml"))
    written = []
    for path in sorted(src.rglob("*")):
        if path.is_file() and path.suffix in (".yaml", ".yml", ".md"):
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
            written.append(target)
    return written


def load_tagger(path: Path) -> tuple[tuple[Entity, ...], Tagger]:
    entities = configmod.load_entities(path)
    return entities, compile_entities(entities)


def validate(settings: Settings) -> list[str]:
    """What `monitor check` reports beyond parsing (queries compile at load): the entity list."""
    entities = configmod.load_entities(settings.entities)
    notes = [f"{len(settings.sources)} source(s), {len(settings.watchlists)} watchlist(s)"]
    notes.append(f"{len(entities)} entities from {settings.entities}")
    return notes


def tagger_for_cli(config: str | None, entities: str | None) -> Tagger:
    """The tagger for `monitor tag`: --entities, else the config's list, else the shipped one."""
    if entities:
        return load_tagger(Path(entities))[1]
    path = configmod.config_path(config)
    if path.exists() or config:
        return load_tagger(configmod.load_settings(path).entities)[1]
    return load_tagger(package_dir("config") / "entities.yaml")[1]


def redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
