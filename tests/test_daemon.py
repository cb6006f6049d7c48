"""The daemon process: starts, runs its start-up cycle, and stops cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.loopback import LoopbackServer, Reply

FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><title>Hello</title><link>http://127.0.0.1/nowhere</link></item></channel></rss>"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_daemon_stops_cleanly_on_signal(
    tmp_path: Path, http_server: LoopbackServer, sig: signal.Signals
) -> None:
    http_server.route("/feed.xml", Reply(body=FEED, content_type="application/rss+xml"))
    cfg = {
        "database": f"sqlite:///{tmp_path / 'd.db'}",
        "entities": str(REPO / "config" / "entities.yaml"),
        "fetch": {"allow_private_networks": True},
        "sources": [{"name": "Feed", "url": http_server.url("/feed.xml"), "interval": "1h"}],
    }
    config = tmp_path / "monitor.yaml"
    config.write_text(json.dumps(cfg), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "-v", "run"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        # Wait for a condition (the start-up cycle polled the feed), not for a schedule.
        while not any(r.path == "/feed.xml" for r in http_server.requests):
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the daemon never polled its source"
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "monitor daemon stopped" in err
