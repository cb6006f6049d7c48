"""Each config default is declared once: `monitor.config` reads the defaults that the runtime
dataclasses (and the SMTP mailer's constructor) declare, and the README's key table agrees.

Three checks:

* every pydantic field whose runtime counterpart (same name) declares a default has that
  very default (the settings value is what users get; the counterpart is what a test or a
  caller that skips the settings gets);
* such a shared default is written in `config.py` as a reference to the counterpart, not as
  a second literal;
* the README's `## Configuration keys` table shows the pydantic defaults.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from monitor import config
from monitor.config import (
    AlertSettings,
    DedupSettings,
    DigestSettings,
    FetchSettings,
    Settings,
    SmtpSettings,
    SourceSettings,
    WatchlistSettings,
)
from monitor.delivery.alerts import AlertPlan
from monitor.delivery.digest import DigestPlan
from monitor.delivery.mailer import SmtpMailer
from monitor.models import FetchPolicy
from monitor.pipeline.dedup import DedupParams
from monitor.pipeline.runner.context import Context, SourceSpec
from tests.conftest import REPO

# (settings model, runtime counterpart): fields of the same name share their default.
PAIRS: list[tuple[type[BaseModel], Callable[..., object]]] = [
    (DedupSettings, DedupParams),
    (FetchSettings, FetchPolicy),
    (FetchSettings, Context),  # keep_html_days
    (SmtpSettings, SmtpMailer),  # a class, not a dataclass: its constructor's defaults
    (DigestSettings, DigestPlan),
    (AlertSettings, AlertPlan),  # no shared default today; here so a new one is checked
    (SourceSettings, SourceSpec),
]

# Same name, deliberately different default: the settings value means "derive it", and the
# derivation is checked below instead.
DERIVED = {
    (FetchSettings, "total_timeout_s"): "None: FetchPolicy's, or timeout_s when longer",
    (SourceSettings, "adaptive"): "None: adaptive unless an interval is written",
}

_MISSING = object()


def _runtime_defaults(counterpart: Callable[..., object]) -> dict[str, Any]:
    """Name -> declared default (or _MISSING) of a dataclass's fields or a class's
    constructor parameters."""
    if dataclasses.is_dataclass(counterpart):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(counterpart):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
            else:
                out[f.name] = _MISSING
        return out
    params = inspect.signature(counterpart).parameters.values()
    return {p.name: _MISSING if p.default is inspect.Parameter.empty else p.default for p in params}


def _shared() -> Iterator[tuple[type[BaseModel], Callable[..., object], str, Any]]:
    """(model, counterpart, field name, runtime default) of every shared, defaulted field."""
    for model, counterpart in PAIRS:
        runtime = _runtime_defaults(counterpart)
        for name in model.model_fields:
            if name in runtime and runtime[name] is not _MISSING:
                yield model, counterpart, name, runtime[name]


SHARED = list(_shared())


def _id(case: tuple[type[BaseModel], Callable[..., object], str, Any]) -> str:
    model, counterpart, name, _ = case
    return f"{model.__name__}.{name}~{counterpart.__name__}"


def test_the_pairs_share_fields() -> None:
    names = {(m, n) for m, _, n, _ in SHARED}
    assert {(DedupSettings, n) for n in DedupSettings.model_fields} <= names
    assert {
        (FetchSettings, n) for n in FetchSettings.model_fields if n != "obey_robots_txt"
    } <= names
    assert set(DERIVED) <= names


@pytest.mark.parametrize("case", SHARED, ids=[_id(c) for c in SHARED])
def test_settings_default_is_the_runtime_default(
    case: tuple[type[BaseModel], Callable[..., object], str, Any],
) -> None:
    model, counterpart, name, runtime = case
    if (model, name) in DERIVED:
        pytest.skip(DERIVED[model, name])
    field = model.model_fields[name]
    assert not field.is_required(), f"{model.__name__}.{name} is required, runtime has a default"
    ours = field.get_default(call_default_factory=True)
    assert (type(ours), ours) == (type(runtime), runtime), (
        f"{model.__name__}.{name} defaults to {ours!r}, "
        f"{counterpart.__name__}.{name} to {runtime!r}"
    )


def test_derived_defaults() -> None:
    assert FetchSettings().policy().total_timeout_s == FetchPolicy.total_timeout_s
    longer = FetchPolicy.total_timeout_s + 1
    assert FetchSettings(timeout_s=longer).policy().total_timeout_s == longer
    assert FetchSettings(total_timeout_s=3).policy().total_timeout_s == 3
    source = SourceSettings(name="a", url="https://example.org/feed")
    assert source.is_adaptive() is SourceSpec.adaptive
    assert not SourceSettings(name="a", url="https://example.org/feed", interval="1h").is_adaptive()


def _default_exprs(model: type[BaseModel]) -> dict[str, ast.expr]:
    """Field name -> the default expression written in config.py's class body."""
    tree = ast.parse(Path(config.__file__).read_text(encoding="utf-8"))
    body = next(
        n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == model.__name__
    ).body
    out: dict[str, ast.expr] = {}
    for stmt in body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value:
            value = stmt.value
            if isinstance(value, ast.Call) and ast.unparse(value.func) == "Field":
                if not value.args:
                    continue
                value = value.args[0]
            out[stmt.target.id] = value
    return out


def _is_literal(expr: ast.expr) -> bool:
    """A number, string or bool literal, or a literal-only `timedelta(...)`."""
    if isinstance(expr, ast.Constant):
        return expr.value is not None
    if isinstance(expr, ast.UnaryOp):
        return _is_literal(expr.operand)
    if isinstance(expr, ast.Call) and ast.unparse(expr.func) == "timedelta":
        return all(_is_literal(a) for a in [*expr.args, *(k.value for k in expr.keywords)])
    return False


@pytest.mark.parametrize("case", SHARED, ids=[_id(c) for c in SHARED])
def test_shared_default_is_written_once(
    case: tuple[type[BaseModel], Callable[..., object], str, Any],
) -> None:
    model, counterpart, name, _ = case
    expr = _default_exprs(model).get(name)
    assert expr is not None, f"no default written for {model.__name__}.{name}"
    assert not _is_literal(expr), (
        f"{model.__name__}.{name} repeats the literal {ast.unparse(expr)}: "
        f"read it from {counterpart.__name__} instead"
    )


# --- the README's table -------------------------------------------------------------------

SECTIONS: dict[str, type[BaseModel]] = {
    "": Settings,
    "fetch.": FetchSettings,
    "smtp.": SmtpSettings,
    "dedup.": DedupSettings,
    "sources[].": SourceSettings,
    "watchlists[].": WatchlistSettings,
    "watchlists[].digest.": DigestSettings,
    "watchlists[].alert.": AlertSettings,
}

# Rows whose default cell is prose around the default, not the bare value: the exact text
# expected, built from the defaults so a change of the number still fails.
PROSE = {
    "fetch.total_timeout_s": f"`{FetchPolicy.total_timeout_s:g}`, or `timeout_s` when longer",
    "sources[].adaptive": (f"`{str(SourceSpec.adaptive).lower()}` unless `interval` is written"),
    "sources[].user_agent": "`fetch.user_agent`",  # None: the fetch section's User-Agent
}
# Rows shortened with "…": the shown part must begin the default.
ABRIDGED = {"fetch.user_agent"}


def _format(value: object) -> str:
    """A default the way the README writes it (inside backticks)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds and seconds % size == 0:
                return f"{seconds // size}{unit}"
        return f"{seconds}s"
    if isinstance(value, tuple):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    return str(value)


def _readme_rows() -> dict[str, str]:
    """Key -> default cell of the `## Configuration keys` table."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration keys\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        m = re.match(r"^\|\s*`([^`]+)`\s*\|([^|]*)\|", line)
        if m:
            rows[m.group(1)] = m.group(2).strip()
    return rows


ROWS = _readme_rows()


def _field(key: str) -> tuple[type[BaseModel], str]:
    prefix = max((p for p in SECTIONS if key.startswith(p)), key=len)
    name = key[len(prefix) :]
    model = SECTIONS[prefix]
    assert name in model.model_fields, f"README row `{key}` names no setting"
    return model, name


def test_readme_table_found() -> None:
    assert len(ROWS) > 50
    assert {"dedup.story_threshold", "fetch.timeout_s", "smtp.port"} <= set(ROWS)


@pytest.mark.parametrize("key", sorted(ROWS))
def test_readme_shows_the_default(key: str) -> None:
    model, name = _field(key)
    field = model.model_fields[name]
    cell = ROWS[key]
    if field.is_required():
        assert cell == "required", f"`{key}` is required, the README says {cell!r}"
        return
    default = field.get_default(call_default_factory=True)
    if isinstance(default, BaseModel):
        assert cell == "", f"`{key}` is a section: its keys are the rows below it"
    elif key in PROSE:
        assert cell == PROSE[key]
    elif key in ABRIDGED:
        m = re.fullmatch(r"`([^`]*)…\)?`", cell)
        assert m, f"`{key}`: expected an abridged `value…`, got {cell!r}"
        assert str(default).startswith(m.group(1)), f"`{key}`: {cell} vs {default!r}"
    elif default is None:
        assert cell == "none", f"`{key}` defaults to None, the README says {cell!r}"
    else:
        assert cell == f"`{_format(default)}`", f"`{key}` defaults to {default!r}"
