"""YAML read into plain data plus the line of every path in it: errors cite `file:line`, and
`${VAR}` (or `${VAR:-default}`) in a string reads the environment.

Only plain values are read (text, numbers, true/false, null, dates, lists, mappings with
scalar keys, `&anchor`/`*alias` and `<<` merges); anything else is a `file:line` ConfigError:
unknown tags (`!!python/object`, `!foo`), a list or mapping used as a key, an alias inside
the value it names, nesting deeper than MAX_DEPTH, aliases adding more than MAX_ALIAS_VALUES
values. Built from the parser's events (libyaml's when present) in one loop, no recursion.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from monitor.errors import ConfigError

MAX_DEPTH = 50  # lists and mappings inside one another
MAX_ALIAS_VALUES = 10_000  # values (scalars, lists, mappings) that aliases add to one file

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Y = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ, _MERGE_TAG = _Y + "str", _Y + "map", _Y + "seq", _Y + "merge"
_SCALAR_TAGS = frozenset(_Y + t for t in ("str", "int", "float", "bool", "null", "timestamp"))
_CONSTRUCT: dict[str, Callable[[Any, yaml.ScalarNode], Any]] = {
    tag: yaml.SafeLoader.yaml_constructors[tag] for tag in _SCALAR_TAGS
}


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


class _Merge:
    """The `<<` key of a mapping: its value's keys are added where the mapping has none."""


_MERGE = _Merge()
_NO_KEY = object()


class _Open:
    """A list or mapping whose end event has not come yet."""

    __slots__ = ("anchor", "key", "merges", "path", "size", "value")

    def __init__(self, value: dict[Any, Any] | list[Any], path: tuple[object, ...]) -> None:
        self.value = value
        self.path = path
        self.anchor: str | None = None
        self.size = 1  # values in it, aliases counted as expanded
        self.key: object = _NO_KEY  # a mapping's key waiting for its value
        self.merges: list[dict[Any, Any]] = []


class _Builder:
    """Turns parser events into plain data and `Doc.lines`, refusing what a config must not hold."""

    def __init__(self, doc: Doc, loader: yaml.SafeLoader) -> None:
        self.doc = doc
        self.loader: Any = loader  # PyYAML's parser and resolver methods are untyped
        self.stack: list[_Open] = []
        self.anchors: dict[str, tuple[Any, int]] = {}  # name -> value, size
        self.unfinished: set[str] = set()  # anchors of lists and mappings still open
        self.aliased = 0
        self.root: Any = None

    def error(self, message: str, event: yaml.Event) -> ConfigError:
        return ConfigError(message, file=self.doc.file, line=_line(event))

    def read(self) -> Any:
        get = self.loader.get_event
        get()  # stream start
        if isinstance(get(), yaml.StreamEndEvent):
            return {}
        event = get()
        while not isinstance(event, yaml.DocumentEndEvent):
            self.feed(event)
            event = get()
        event = get()
        if not isinstance(event, yaml.StreamEndEvent):
            raise self.error("a second YAML document ('---') in one file: keep one", event)
        return self.root

    def feed(self, event: yaml.Event) -> None:
        top = self.stack[-1] if self.stack else None
        if top is not None and top.key is _NO_KEY and type(top.value) is dict:
            if isinstance(event, yaml.MappingEndEvent):
                self.close(event)
            else:
                self.take_key(top, event)
        elif isinstance(event, yaml.ScalarEvent):
            value = self.scalar(event, key=False)
            if event.anchor is not None:
                self.anchors[event.anchor] = (value, 1)
            self.attach(value, 1, event)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self.open(event)
        elif isinstance(event, yaml.AliasEvent):
            value, size = self.alias(event)
            self.attach(value, size, event)
        else:
            self.close(event)

    def take_key(self, top: _Open, event: yaml.Event) -> None:
        if isinstance(event, yaml.ScalarEvent):
            key = self.scalar(event, key=True)
            if event.anchor is not None:
                self.anchors[event.anchor] = (event.value if key is _MERGE else key, 1)
        elif isinstance(event, yaml.AliasEvent):
            key = self.alias(event)[0]
        else:
            key = []
        if isinstance(key, dict | list):
            raise self.error("a key must be text, not a list or a mapping", event)
        if key in top.value or (key is _MERGE and top.merges):
            raise self.error(f"duplicate key {'<<' if key is _MERGE else key!r}", event)
        top.key = key
        if key is not _MERGE:
            self.doc.lines[(*top.path, key)] = _line(event)

    def scalar(self, event: yaml.ScalarEvent, *, key: bool) -> Any:
        tag, value = event.tag, event.value
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, value, event.implicit)
            if tag not in _SCALAR_TAGS:  # `<<` (merge) and `=` (value) as plain text
                return _MERGE if key and tag == _MERGE_TAG else value
        elif tag not in _SCALAR_TAGS:
            raise self.error(_unknown_tag(tag), event)
        if tag == _STR:
            if not key and "${" in value:
                value = _expand_env(value, self.doc.file, _line(event))
            return value
        node = yaml.ScalarNode(tag, value)
        try:
            return _CONSTRUCT[tag](self.loader, node)
        except (ValueError, ArithmeticError, LookupError, yaml.YAMLError) as exc:
            kind = tag.removeprefix(_Y)
            raise self.error(f"{value!r} is not a valid {kind} ({exc})", event) from None

    def alias(self, event: yaml.AliasEvent) -> tuple[Any, int]:
        name = event.anchor
        if name in self.unfinished:
            raise self.error(f"alias *{name} is inside the value &{name} names (recursive)", event)
        if name not in self.anchors:
            raise self.error(f"alias *{name}: no anchor &{name} before it", event)
        value, size = self.anchors[name]
        self.aliased += size
        if self.aliased > MAX_ALIAS_VALUES:
            raise self.error(
                f"aliases expand to more than {MAX_ALIAS_VALUES:,} values: write the values "
                "out, or use fewer aliases",
                event,
            )
        return value, size

    def open(self, event: yaml.MappingStartEvent | yaml.SequenceStartEvent) -> None:
        mapping = isinstance(event, yaml.MappingStartEvent)
        if event.tag not in (None, "!", _MAP if mapping else _SEQ):
            raise self.error(_unknown_tag(event.tag), event)
        if len(self.stack) >= MAX_DEPTH:
            raise self.error(f"lists and mappings nest more than {MAX_DEPTH} deep", event)
        frame = _Open({} if mapping else [], self.child_path())
        self.doc.lines.setdefault(frame.path, _line(event))
        if event.anchor is not None:
            frame.anchor = event.anchor
            self.unfinished.add(event.anchor)
        self.stack.append(frame)

    def close(self, event: yaml.Event) -> None:
        frame = self.stack.pop()
        value = frame.value
        if frame.merges:
            assert isinstance(value, dict)
            for source in frame.merges:
                for k, v in source.items():
                    value.setdefault(k, v)
        if frame.anchor is not None:
            self.unfinished.discard(frame.anchor)
            self.anchors[frame.anchor] = (value, frame.size)
        self.attach(value, frame.size, event)

    def child_path(self) -> tuple[object, ...]:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if type(top.value) is list:
            return (*top.path, len(top.value))
        return (*top.path, top.key)

    def attach(self, value: Any, size: int, event: yaml.Event) -> None:
        if not self.stack:
            self.root = value
            self.doc.lines.setdefault((), _line(event))
            return
        top = self.stack[-1]
        top.size += size
        if type(top.value) is list:
            self.doc.lines.setdefault((*top.path, len(top.value)), _line(event))
            top.value.append(value)
            return
        assert isinstance(top.value, dict)
        if top.key is _MERGE:
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(s, dict) for s in sources):
                raise self.error("'<<' merges mappings: write `<<: *name` for a mapping", event)
            top.merges.extend(sources)
        else:
            top.value[top.key] = value
        top.key = _NO_KEY


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark else 1


def _unknown_tag(tag: str) -> str:
    shown = "!!" + tag.removeprefix(_Y) if tag.startswith(_Y) else tag
    return (
        f"unknown tag {shown}: a config holds plain text, numbers, true/false, dates, "
        "lists and mappings"
    )


def _parse(doc: Doc, text: str, loader: type[yaml.SafeLoader]) -> Any:
    try:
        parser = loader(text)
        try:
            return _Builder(doc, parser).read()
        finally:
            parser.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context
        raise ConfigError(f"YAML syntax error: {problem}", file=doc.file, line=line) from None
    except yaml.reader.ReaderError as exc:
        char = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
        line = text.count("\n", 0, max(text.find(char), 0)) + 1
        message = f"YAML syntax error: character U+{ord(char[:1] or ' '):04X} is not allowed"
        raise ConfigError(message, file=doc.file, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML syntax error: {exc}", file=doc.file) from None


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
        doc.data = _parse(doc, text, _FAST_LOADER)
    except ConfigError as error:
        if _FAST_LOADER is not yaml.SafeLoader and error.message.startswith("YAML syntax"):
            _raise_pure_python_error(file, text)
        raise
    return doc


def _raise_pure_python_error(file: str, text: str) -> None:
    """Raise PyYAML's own reader's ConfigError for text libyaml refused: same line, but it
    names the character (found character '\\t' that cannot start any token)."""
    try:
        _parse(Doc(file, None, {}), text, yaml.SafeLoader)
    except ConfigError:
        raise
    except Exception:  # PyYAML's own slips (chr() of a bad escape): libyaml's message stands
        return


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
