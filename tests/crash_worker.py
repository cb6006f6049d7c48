"""Run by tests in a child process: deliver digests, or import, and die at a given moment.

    python -m tests.crash_worker CONFIG send|due [CRASH_STATE]
    python -m tests.crash_worker CONFIG import FILE [CRASH_BATCH]

`send` sends the watchlist's digest now (like `monitor digest kh --send`); `due` runs the
daemon's delivery pass (what a restart does). With CRASH_STATE the process is killed
(os._exit, no clean-up, like SIGKILL) right after that state is committed.
`import` runs `monitor import FILE`; with CRASH_BATCH (1, 2, ...) the process is killed once
that batch of records is committed as "importing" and before it is processed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from monitor import app as appmod
from monitor import cli
from monitor.config import load_settings
from monitor.delivery import digest as ledger
from monitor.pipeline.runner import stored

KILLED = 9


def main(config: str, action: str, crash_state: str | None) -> int:
    app = appmod.build(load_settings(config), workers=1)

    def on_state(_digest_id: int, state: str) -> None:
        if state == crash_state:
            os._exit(KILLED)

    app.delivery.on_state = on_state
    if action == "send":
        appmod.send_digest(app, "kh")
    else:
        ledger.deliver_due(app.delivery, app.plans)
    app.close()
    return 0


def import_file(config: str, path: str, crash_batch: int | None) -> int:
    process = stored.record_batch
    batches = 0

    def record_batch(ctx: Any, outcomes: Sequence[Any], report: Any) -> dict[int, int]:
        nonlocal batches
        batches += 1
        if batches == crash_batch:  # the batch is stored ("importing"), not yet processed
            os._exit(KILLED)
        return process(ctx, outcomes, report)

    stored.record_batch = record_batch
    return cli.main(["--config", config, "import", path])


if __name__ == "__main__":
    if sys.argv[2] == "import":
        crash = int(sys.argv[4]) if len(sys.argv) > 4 else None
        sys.exit(import_file(sys.argv[1], sys.argv[3], crash))
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
