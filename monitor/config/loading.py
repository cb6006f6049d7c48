"""`monitor.yaml` and the watchlist files: find the config, read it, validate it into
`Settings`, resolve relative paths against its folder, and check names and queries."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from monitor.config import Settings, WatchlistSettings
from monitor.config.yamldoc import Doc, read_yaml, validation_error
from monitor.errors import ConfigError, QueryError
from monitor.pipeline.match import compile_query

DEFAULT_CONFIG = Path("config/monitor.yaml")


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`--config`, else `$MONITOR_CONFIG`, else `./config/monitor.yaml`."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("MONITOR_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def _resolve_database(url: str, base: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


def _watchlist_docs(base: Path, folder: Path) -> Iterator[tuple[Doc, tuple[object, ...]]]:
    directory = folder if folder.is_absolute() else base / folder
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.y*ml")):
        doc = read_yaml(path)
        if isinstance(doc.data, list):
            yield from _entries(doc, ())
        elif isinstance(doc.data, dict) and "watchlists" in doc.data:
            yield from _entries(doc, ("watchlists",))
        else:
            yield doc, ()


def _entries(doc: Doc, path: tuple[object, ...]) -> Iterator[tuple[Doc, tuple[object, ...]]]:
    """The place of each watchlist in the list at `path` (none when the list is empty)."""
    entries = _get(doc.data, path)
    if entries is None:
        return
    if not isinstance(entries, list):
        raise ConfigError(
            "`watchlists:` must be a list, each watchlist starting with `- name:`",
            file=doc.file,
            line=doc.line_of(path),
        )
    for i in range(len(entries)):
        yield doc, (*path, i)


def _get(data: Any, path: tuple[object, ...]) -> Any:
    for p in path:
        data = data[p]
    return data


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read and validate the config; raise ConfigError(`file:line: message`) on any problem."""
    cfg = config_path(path)
    doc = read_yaml(cfg)
    if not isinstance(doc.data, dict):
        raise ConfigError("the config must be a mapping of keys", file=doc.file, line=1)
    base = cfg.resolve().parent
    data = dict(doc.data)
    data.pop("config_path", None)
    try:
        settings = Settings.model_validate({**data, "watchlists": ()})
    except ValidationError as exc:
        raise validation_error(doc, exc) from None
    watchlists = _load_watchlists(doc, base, settings.watchlists_dir)
    settings = settings.model_copy(
        update={
            "database": _resolve_database(settings.database, base),
            "entities": base / settings.entities,
            "reports_dir": base / settings.reports_dir,
            "watchlists": tuple(w for w, _, _ in watchlists),
            "config_path": cfg,
        }
    )
    _check_names(doc, settings, watchlists)
    return settings


def _load_watchlists(
    main: Doc, base: Path, folder: Path
) -> list[tuple[WatchlistSettings, Doc, tuple[object, ...]]]:
    places = list(_entries(main, ("watchlists",))) if "watchlists" in main.data else []
    places += _watchlist_docs(base, folder)
    out = []
    for doc, path in places:
        try:
            w = WatchlistSettings.model_validate(_get(doc.data, path))
        except ValidationError as exc:
            raise validation_error(doc, exc, path) from None
        _check_query(doc, (*path, "query"), w.query)
        if w.alert:
            _check_query(doc, (*path, "alert", "query"), w.alert.query)
        out.append((w, doc, path))
    return out


def _check_query(doc: Doc, path: tuple[object, ...], query: str) -> None:
    try:
        compile_query(query)
    except QueryError as exc:
        raise ConfigError(str(exc), file=doc.file, line=doc.line_of(path)) from None


def _check_names(
    doc: Doc,
    settings: Settings,
    watchlists: list[tuple[WatchlistSettings, Doc, tuple[object, ...]]],
) -> None:
    seen: dict[str, int] = {}
    for i, s in enumerate(settings.sources):
        if s.name in seen:
            raise ConfigError(
                f"duplicate source name {s.name!r} (first at entry {seen[s.name] + 1})",
                file=doc.file,
                line=doc.line_of(("sources", i, "name")),
            )
        seen[s.name] = i
    wseen: set[str] = set()
    for w, wdoc, path in watchlists:
        line = wdoc.line_of((*path, "name"))
        if w.name in wseen:
            raise ConfigError(f"duplicate watchlist name {w.name!r}", file=wdoc.file, line=line)
        wseen.add(w.name)
        if w.sources != "all":
            for name in w.sources:
                if name not in seen:
                    raise ConfigError(
                        f"watchlist {w.name!r} names unknown source {name!r}",
                        file=wdoc.file,
                        line=wdoc.line_of((*path, "sources")),
                    )
