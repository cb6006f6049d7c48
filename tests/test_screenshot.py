"""The HTML digest opened in headless Chromium (scripts/screenshot_digest.py) and saved as a
screenshot: proof that a real browser lays out the page, chart included.

Set MONITOR_SCREENSHOT_DIR to keep the screenshot (CI uploads it for a human to look at).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from monitor.delivery.render import inline_images, render_digest
from tests.golden.samples import morning

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "screenshot_digest.py"
CHROMIUM = shutil.which(os.environ.get("CHROMIUM") or "chromium") or shutil.which(
    "chromium-browser"
)

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium not installed (apt-get install chromium, or set CHROMIUM)",
)


@needs_chromium
def test_screenshot_of_the_html_digest(tmp_path: Path) -> None:
    rendered = render_digest(morning())
    assert rendered.images, "the sample digest should carry its chart"
    html = tmp_path / "digest.html"
    html.write_text(inline_images(rendered), encoding="utf-8")
    png = tmp_path / "digest.png"
    env = {**os.environ, "CHROMIUM": CHROMIUM or ""}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(html), str(png)],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(png.resolve())

    data = png.read_bytes()
    assert len(data) > 20_000
    image = Image.open(io.BytesIO(data)).convert("RGB")
    assert image.size == (1000, 1800)
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200, "the page rendered as (nearly) one colour"
    # The chart's lines are in the page: a pixel of the first line colour, #0072b2.
    assert any(rgb == (0x00, 0x72, 0xB2) for _, rgb in colours)
    keep = os.environ.get("MONITOR_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / "digest.png")


def test_script_explains_a_missing_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "nope.html"), str(tmp_path / "x.png")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "nope.html: no such file" in done.stderr
