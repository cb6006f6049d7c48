"""`entities.yaml`: the entity list, validated into `Entity` values; errors cite file:line."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field, ValidationError, field_validator

from monitor.config.base import Strict
from monitor.config.yamldoc import read_yaml, validation_error
from monitor.errors import ConfigError
from monitor.models import Affiliation, Entity

ENTITY_TYPES = (
    "armed_group",
    "state_org",
    "person",
    "country",
    "place",
    "international_org",
    "media",
)
_KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class _EntityRecord(Strict):
    id: str
    name: str
    type: str
    aliases: tuple[str, ...] = ()
    acronyms: tuple[str, ...] = ()
    ambiguous: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    affiliations: Mapping[str, tuple[str, ...]] = Field(default_factory=dict)
    notes: str = ""

    @field_validator("id")
    @classmethod
    def _kebab(cls, v: str) -> str:
        if not _KEBAB.match(v):
            raise ValueError(f"entity id {v!r} must be kebab-case, e.g. kataib-hezbollah")
        return v

    @field_validator("type")
    @classmethod
    def _type(cls, v: str) -> str:
        if v not in ENTITY_TYPES:
            raise ValueError(f"unknown entity type {v!r}; choose from {', '.join(ENTITY_TYPES)}")
        return v

    @field_validator("notes", mode="before")
    @classmethod
    def _notes(cls, v: object) -> str:
        return "" if v is None else str(v)


def load_entities(path: str | os.PathLike[str]) -> tuple[Entity, ...]:
    """Read `entities.yaml` (`entities: [...]`) into Entity values; errors cite file:line."""
    doc = read_yaml(Path(path))
    records = doc.data.get("entities") if isinstance(doc.data, dict) else doc.data
    if not isinstance(records, list):
        raise ConfigError("expected a list under `entities:`", file=doc.file, line=1)
    prefix: tuple[object, ...] = ("entities",) if isinstance(doc.data, dict) else ()
    entities: list[Entity] = []
    lines: dict[str, int | None] = {}
    for i, raw in enumerate(records):
        try:
            rec = _EntityRecord.model_validate(raw)
        except ValidationError as exc:
            raise validation_error(doc, exc, (*prefix, i)) from None
        line = doc.line_of((*prefix, i, "id"))
        if rec.id in lines:
            raise ConfigError(f"duplicate entity id {rec.id!r}", file=doc.file, line=line)
        lines[rec.id] = line
        entities.append(
            Entity(
                id=rec.id,
                name=rec.name,
                type=rec.type,
                aliases=rec.aliases,
                acronyms=rec.acronyms,
                ambiguous=rec.ambiguous,
                context=rec.context,
                affiliations=tuple(
                    Affiliation(rel, target)
                    for rel, ts in rec.affiliations.items()
                    for target in ts
                ),
                notes=rec.notes,
            )
        )
    for e in entities:
        for a in e.affiliations:
            if a.target not in lines:
                raise ConfigError(
                    f"entity {e.id!r}: {a.relation} names unknown entity {a.target!r}",
                    file=doc.file,
                    line=lines[e.id],
                )
    return tuple(entities)
