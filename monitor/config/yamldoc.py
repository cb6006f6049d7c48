"""YAML read into plain data plus the line of every path in it: errors cite `file:line`, and
`${VAR}` (or `${VAR:-default}`) in a string reads the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from monitor.errors import ConfigError

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Doc:
    """A YAML document as plain data plus the line of every path in it."""

    file: str
    data: Any
    lines: dict[tuple[object, ...], int]

    def line_of(self, loc: Sequence[object]) -> int | None:
        path = tuple(loc)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def _expand_env(value: str, file: str, line: int) -> str:
    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"environment variable {name} is not set", file=file, line=line)

    return _ENV.sub(sub, value)


def _to_python(node: yaml.Node, path: tuple[object, ...], doc: Doc) -> Any:
    line = node.start_mark.line + 1
    doc.lines.setdefault(path, line)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node)) if key_node.tag else key_node.value
            if key in out:
                raise ConfigError(
                    f"duplicate key {key!r}", file=doc.file, line=key_node.start_mark.line + 1
                )
            doc.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, (*path, key), doc)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(n, (*path, i), doc) for i, n in enumerate(node.value)]
    value = yaml.safe_load(yaml.serialize(node))
    if isinstance(value, str) and "${" in value:
        value = _expand_env(value, doc.file, line)
    return value


def read_yaml(path: Path) -> Doc:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "file not found (run `monitor init` for a starter config)", file=file
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=file) from None
    doc = Doc(file, None, {})
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(f"YAML syntax error: {exc.problem}", file=file, line=line) from None
    doc.data = {} if node is None else _to_python(node, (), doc)
    return doc


def validation_error(
    doc: Doc, exc: ValidationError, prefix: tuple[object, ...] = ()
) -> ConfigError:
    err = exc.errors()[0]
    loc = (*prefix, *err["loc"])
    where = ".".join(str(p) for p in loc if not str(p).startswith("function-"))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = f"unknown key {loc[-1]!r}"
    elif where:
        msg = f"{where}: {msg}"
    return ConfigError(msg, file=doc.file, line=doc.line_of(loc))
