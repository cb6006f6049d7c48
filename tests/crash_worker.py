"""Run by tests/test_crash.py in a child process: deliver digests and die at a given state.

    python -m tests.crash_worker CONFIG send|due [CRASH_STATE]

`send` sends the watchlist's digest now (like `monitor digest kh --send`); `due` runs the
daemon's delivery pass (what a restart does). With CRASH_STATE the process is killed
(os._exit, no clean-up, like SIGKILL) right after that state is committed.
"""

from __future__ import annotations

import os
import sys

from monitor import app as appmod
from monitor.config import load_settings
from monitor.delivery import digest as ledger

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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
