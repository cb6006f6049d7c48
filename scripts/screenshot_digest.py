"""Open a digest's HTML file in headless Chromium and save what it shows as a PNG.

    python scripts/screenshot_digest.py reports/iraq-militias/20261201T040000Z.html shot.png

Uses Debian's `chromium` (or $CHROMIUM) with a throw-away profile and every background
service off, so nothing leaves the machine but what the page itself loads (ours: nothing).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WINDOW = (1000, 1800)
TIMEOUT_S = 90.0


def find_chromium() -> str | None:
    """$CHROMIUM, else the first of chromium / chromium-browser / google-chrome on PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return shutil.which(explicit) or (explicit if Path(explicit).is_file() else None)
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_command(
    binary: str, html: Path, png: Path, profile: Path, window: tuple[int, int] = WINDOW
) -> list[str]:
    return [
        binary,
        "--headless",
        "--no-sandbox",  # containers and root: the sandbox cannot start there
        "--disable-gpu",
        "--disable-dev-shm-usage",  # small /dev/shm in containers crashes the renderer
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
        "--mute-audio",
        f"--user-data-dir={profile}",
        f"--screenshot={png}",
        f"--window-size={window[0]},{window[1]}",
        html.resolve().as_uri(),
    ]


def screenshot(
    html: Path, png: Path, *, window: tuple[int, int] = WINDOW, timeout_s: float = TIMEOUT_S
) -> Path:
    """Render `html` and write the screenshot to `png`; RuntimeError says what went wrong."""
    if not html.is_file():
        raise RuntimeError(f"{html}: no such file")
    binary = find_chromium()
    if binary is None:
        raise RuntimeError("chromium not found: apt-get install chromium, or set CHROMIUM")
    png = png.resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="monitor-chromium-") as profile:
        cmd = chromium_command(binary, html, png, Path(profile), window)
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"chromium took longer than {timeout_s:g}s") from exc
    if not png.is_file() or png.stat().st_size == 0:
        tail = "\n".join((done.stderr or "").strip().splitlines()[-5:])
        raise RuntimeError(f"chromium wrote no screenshot (exit {done.returncode}): {tail}")
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="the digest's HTML file")
    parser.add_argument("png", type=Path, help="where to write the screenshot")
    parser.add_argument("--width", type=int, default=WINDOW[0])
    parser.add_argument("--height", type=int, default=WINDOW[1])
    args = parser.parse_args(argv)
    try:
        path = screenshot(args.html, args.png, window=(args.width, args.height))
    except RuntimeError as exc:
        print(f"screenshot_digest: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
