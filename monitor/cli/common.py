"""What the commands share: exit codes, the app built from --config, progress on stderr."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor import app as appmod

# Each command imports `monitor.app` / `monitor.config` when it runs: they bring in the whole
# pipeline, which `monitor --help` should not wait for.

EXIT_OK, EXIT_ERROR, EXIT_CONFIG = 0, 1, 2
EXIT_PIPE = 128 + 13  # what a shell reports for a tool stopped by SIGPIPE


def build_app(args: argparse.Namespace, **kw: Any) -> appmod.App:
    from monitor import app as appmod
    from monitor import config as configmod

    settings = configmod.load_settings(args.config)
    return appmod.build(settings, **kw)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
