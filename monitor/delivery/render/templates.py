"""Locating the digest templates (wheel or source checkout) and rendering one of them in a
Jinja2 environment with autoescaping, strict undefined names and the digest's filters.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from monitor.delivery.render.filters import (
    chip_class,
    highlight_html,
    highlight_markdown,
    markdown_escape,
    markdown_url,
    oneline,
    plural,
    safe_url,
)
from monitor.errors import DeliveryError


def default_templates_dir() -> Path:
    """`monitor/_templates` inside an installed wheel, else the repository's `templates/`."""
    packaged = Path(__file__).resolve().parents[2] / "_templates"  # monitor/
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "templates"


def _autoescape(name: str | None) -> bool:
    # select_autoescape looks at the last extension only, which is ".j2" for all of ours.
    return name is not None and name.removesuffix(".j2").endswith((".html", ".htm", ".xml"))


@lru_cache(maxsize=8)
def _environment(templates_dir: Path) -> jinja2.Environment:
    if not templates_dir.is_dir():
        raise DeliveryError(
            f"digest templates not found in {templates_dir}: "
            "reinstall monitor or pass templates_dir"
        )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        safe_url=safe_url,
        oneline=oneline,
        highlight=highlight_html,
        highlight_md=highlight_markdown,
        md=markdown_escape,
        md_url=markdown_url,
        chip_class=chip_class,
        plural=plural,
    )
    return env


def render_template(template: str, context: dict[str, Any], templates_dir: Path | None) -> str:
    env = _environment((templates_dir or default_templates_dir()).resolve())
    try:
        return env.get_template(template).render(context)
    except jinja2.TemplateError as exc:
        raise DeliveryError(f"template {template}: {exc}") from exc


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
