"""The offline demo: the bundled corpus served on 127.0.0.1, the real pipeline run over
it with the shipped watchlists, every digest written to a folder (`monitor demo`)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from monitor import config as configmod
from monitor.app import build, run_cycle, send_digest
from monitor.config import Settings
from monitor.delivery.mailer import FileMailer
from monitor.demo.server import CorpusServer, corpus_root
from monitor.errors import DeliveryError
from monitor.offline import package_dir

DEMO_FEEDS = (("Demo World Wire", "feeds/world.xml"), ("Demo Analysis", "feeds/analysis.xml"))


def demo_settings(directory: Path, base_url: str) -> Settings:
    """The shipped watchlists and entity list, pointed at the bundled corpus on loopback."""
    shipped = configmod.load_settings(package_dir("config") / "monitor.yaml")
    return Settings(
        database=f"sqlite:///{(directory / 'demo.db').resolve()}",
        timezone=shipped.timezone,
        entities=shipped.entities,
        reports_dir=directory.resolve(),
        fetch=configmod.FetchSettings(allow_private_networks=True, per_host=4),
        sources=tuple(
            configmod.SourceSettings(name=name, url=f"{base_url}/{path}")
            for name, path in DEMO_FEEDS
        ),
        watchlists=tuple(
            w.model_copy(
                update={
                    "digest": w.digest.model_copy(
                        update={"formats": ("email", "html", "text", "markdown")}
                    )
                }
            )
            for w in shipped.watchlists
        ),
        config_path=shipped.config_path,
    )


def run_demo(directory: Path, *, progress: Callable[[str], None] | None = None) -> list[Path]:
    """Serve the bundled corpus on 127.0.0.1, run the real pipeline, write every digest."""
    if (directory / "demo.db").exists():  # a previous demo's output: start afresh
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    outputs: list[Path] = []
    with CorpusServer(corpus_root()) as server:
        settings = demo_settings(directory, server.base_url)
        mailer = FileMailer(directory.resolve())
        with build(settings, mailer=mailer, progress=progress, workers=1) as app:
            report = run_cycle(app)
            if progress:
                progress(
                    f"demo: {report.poll.new_articles} articles from {report.poll.polled} feeds, "
                    f"{report.process.processed} processed, "
                    f"{report.process.duplicates} duplicate(s)"
                )
            for plan in app.plans:
                outcome = send_digest(app, plan.watchlist)
                outputs += [Path(p) for p in outcome.outputs if not p.startswith("email:")]
                if outcome.state != "sent":
                    raise DeliveryError(
                        f"demo digest {plan.watchlist} {outcome.state}: {outcome.error}"
                    )
    return outputs
