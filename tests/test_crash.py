"""Kill the delivering process right after each committed digest state; after a restart exactly
one mail for the period has arrived (the ledger neither resends nor skips)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import app as appmod
from monitor.config import load_settings
from monitor.pipeline.runner import ImportRecord
from monitor.storage.schema import DigestRow
from tests.conftest import REPO, SmtpSink

TEXT = "Kataib Hezbollah fired rockets at a base near Baghdad, officials said. " * 6


def worker(config: Path, *args: str) -> int:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.crash_worker", str(config), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode in (0, 9), proc.stderr
    return proc.returncode


@pytest.mark.parametrize("state", ["rendering", "sending", "sent", None])
def test_killed_at_each_state_delivers_exactly_once(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, state: str | None
) -> None:
    cfg = {
        "database": database_url,
        "entities": str(REPO / "config" / "entities.yaml"),
        "reports_dir": str(tmp_path / "reports"),
        "smtp": {"host": "127.0.0.1", "port": smtp_sink.port},
        "watchlists": [
            {
                "name": "kh",
                "query": "entity:kataib-hezbollah",
                # a yearly slot: only the digest sent by hand is due in this test
                "digest": {
                    "schedule": "0 0 1 1 *",
                    "recipients": ["a@example.org"],
                    "formats": ["email"],
                },
            }
        ],
    }
    config = tmp_path / "monitor.yaml"
    config.write_text(json.dumps(cfg), encoding="utf-8")
    app = appmod.build(load_settings(config), workers=1)
    try:
        appmod.import_articles(
            app, [ImportRecord(url="https://example.org/a", title="Rockets", text=TEXT)]
        )
    finally:
        app.close()

    if state is None:
        assert worker(config, "send") == 0
    else:
        assert worker(config, "send", state) == 9  # killed right after committing `state`
    assert worker(config, "due") == 0  # the restart
    assert worker(config, "due") == 0  # and another one: still nothing more

    assert len(smtp_sink.messages) == 1
    assert "Rockets" in smtp_sink.messages[0].get_body(preferencelist=("plain",)).get_content()
    app = appmod.build(load_settings(config), workers=1)
    try:
        with app.db.session() as s:
            rows = s.query(DigestRow).all()
            assert [(r.state, r.article_count) for r in rows] == [("sent", 1)]
    finally:
        app.close()
