"""Load and validate `monitor.yaml`, watchlist files and `entities.yaml` into frozen settings.

Every error names `file:line`; `${VAR}` reads the environment; relative paths resolve
against the config file's folder. Keys are declared once, here, with defaults and help;
a default that the runtime's own dataclass (or constructor) also declares is read from it,
so each value is written once (tests/test_defaults_once.py holds the two, and the README, in
step).

The models live here (tests/test_defaults_once.py reads this file's class bodies); the rest is
in `base` (the strict base model, durations, timezones), `yamldoc` (YAML with lines, `${VAR}`),
`loading` (`load_settings`, `config_path`, watchlist files) and `entities` (`load_entities`),
re-exported here.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Literal

from croniter import croniter
from pydantic import Field, field_validator

from monitor import models
from monitor.config.base import Strict, check_timezone
from monitor.config.base import parse_duration as parse_duration
from monitor.errors import ConfigError
from monitor.models import DedupParams, FetchPolicy

REPORT_FORMATS = ("email", "html", "text", "markdown", "json", "csv", "atom")


class FetchSettings(Strict):
    """`fetch:` — how politely and safely pages and feeds are downloaded."""

    user_agent: str = Field(
        FetchPolicy.user_agent, description="User-Agent sent with every request"
    )
    timeout_s: float = Field(
        FetchPolicy.timeout_s,
        gt=0,
        description="timeout per phase (connect, each read, write), seconds",
    )
    total_timeout_s: float | None = Field(
        None,
        gt=0,
        description="deadline for one request, first byte to last, seconds "
        f"(default: {FetchPolicy.total_timeout_s:g}, or timeout_s when that is longer)",
    )
    max_bytes: int = Field(FetchPolicy.max_bytes, gt=0, description="body cap after decompression")
    concurrency: int = Field(
        FetchPolicy.concurrency, ge=1, description="downloads in flight at once, all hosts"
    )
    per_host: int = Field(
        FetchPolicy.per_host, ge=1, description="downloads in flight at once per host"
    )
    per_host_delay_s: float = Field(
        FetchPolicy.per_host_delay_s, ge=0, description="pause between requests to one host"
    )
    max_redirects: int = Field(
        FetchPolicy.max_redirects, ge=0, description="redirect hops followed, each re-checked"
    )
    max_entries_per_poll: int = Field(
        FetchPolicy.max_entries_per_poll,
        ge=1,
        description="new entries of one feed stored per poll, newest first; the rest on the "
        "next polls (each entry is a page to fetch)",
    )
    allow_private_networks: bool = Field(
        FetchPolicy.allow_private_networks,
        description="allow loopback/private addresses (tests, the demo, intranets)",
    )
    obey_robots_txt: bool = Field(True, description="consult robots.txt before article pages")
    keep_html_days: int = Field(
        models.KEEP_HTML_DAYS,
        ge=0,
        description="days raw page HTML is kept for re-extraction (0: none)",
    )

    def policy(self) -> FetchPolicy:
        fields = self.model_dump(exclude={"obey_robots_txt", "keep_html_days"})
        if fields["total_timeout_s"] is None:
            fields["total_timeout_s"] = max(FetchPolicy.total_timeout_s, self.timeout_s)
        return FetchPolicy(**fields)


class SmtpSettings(Strict):
    """`smtp:` — the outgoing mail server for digests and alerts."""

    host: str = "localhost"
    port: int = Field(models.SMTP_PORT, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = models.SMTP_SECURITY
    username: str | None = None
    password: str | None = None
    sender: str = "Monitor <monitor@localhost>"
    timeout_s: float = Field(models.SMTP_TIMEOUT_S, gt=0)


class DedupSettings(Strict):
    """`dedup:` — when two articles are copies of one text, and when they are one story."""

    shingle_words: int = Field(
        DedupParams.shingle_words, ge=1, le=20, description="words per shingle"
    )
    bands: int = Field(DedupParams.bands, ge=1, description="MinHash LSH bands over the whole text")
    rows_per_band: int = Field(
        DedupParams.rows_per_band, ge=1, description="MinHash values per band"
    )
    lead_bands: int = Field(
        DedupParams.lead_bands, ge=0, description="LSH bands over each opening window"
    )
    lead_shingles: int = Field(
        DedupParams.lead_shingles, ge=5, description="shingles in an opening window"
    )
    lead_windows: int = Field(
        DedupParams.lead_windows, ge=0, description="opening windows (first long paragraphs)"
    )
    sketch_size: int = Field(
        DedupParams.sketch_size, ge=16, description="bottom-k shingle hashes kept per article"
    )
    min_shingles: int = Field(
        DedupParams.min_shingles, ge=1, description="shorter texts are matched exactly only"
    )
    duplicate_jaccard: float = Field(
        DedupParams.duplicate_jaccard, gt=0, le=1, description="copy: estimated Jaccard"
    )
    duplicate_containment: float = Field(
        DedupParams.duplicate_containment,
        gt=0,
        le=1,
        description="copy: share of the shorter text in the longer (excerpt)",
    )
    story_similarity: float = Field(
        DedupParams.story_similarity,
        gt=0,
        le=1,
        description="same story: Jaccard or containment at least this",
    )
    story_threshold: float = Field(
        DedupParams.story_threshold,
        gt=0,
        le=1,
        description="same story: mean similarity to the story's reports",
    )
    story_top_keys: int = Field(
        DedupParams.story_top_keys,
        ge=1,
        description="a new report's heaviest keys that find the stories near it",
    )
    story_decay: timedelta = Field(
        DedupParams.story_decay,
        description="similarity fades by e per this much time between reports",
    )
    story_max_key_share: float = Field(
        DedupParams.story_max_key_share,
        gt=0,
        le=1,
        description="a key in more of the window's articles weighs nothing",
    )
    story_lead_paragraphs: int = Field(
        DedupParams.story_lead_paragraphs,
        ge=1,
        description="opening paragraphs (after the title) the story keys come from",
    )
    story_lead_chars: int = Field(
        DedupParams.story_lead_chars, ge=100, description="at most this much of them"
    )
    story_link_window: timedelta = Field(
        DedupParams.story_link_window,
        description="stories near a new report: published at most this far from it",
    )
    story_window: timedelta = Field(
        DedupParams.story_window,
        description="how far apart (published time) a story's reports may be",
    )

    @field_validator("story_window", "story_link_window", "story_decay", mode="before")
    @classmethod
    def _window(cls, v: object) -> timedelta:
        return v if isinstance(v, timedelta) else parse_duration(str(v))

    def params(self) -> DedupParams:
        return DedupParams(**self.model_dump())


class SourceSettings(Strict):
    """One entry of `sources:` — a feed to poll."""

    name: str = Field(min_length=1)
    url: str
    interval: timedelta = timedelta(minutes=15)
    user_agent: str | None = None
    enabled: bool = True
    adaptive: bool | None = Field(
        None, description="learn the interval from how often the source publishes"
    )

    def is_adaptive(self) -> bool:
        """Adaptive unless said otherwise, or unless an `interval` was written (an override)."""
        if self.adaptive is not None:
            return self.adaptive
        return "interval" not in self.model_fields_set

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"source url must be http(s)://..., got {v!r}")
        return v

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, v: object) -> timedelta:
        d = parse_duration(str(v))
        if d < timedelta(minutes=1):
            raise ValueError(f"interval {v!r} is shorter than the 1m minimum")
        return d


class DigestSettings(Strict):
    """`digest:` of a watchlist — when and how its digest is delivered."""

    schedule: str = "0 7 * * *"
    timezone: str = "UTC"
    recipients: tuple[str, ...] = ()
    formats: tuple[str, ...] = ("email", "html")
    skip_empty: bool = models.DIGEST_SKIP_EMPTY
    max_articles: int = Field(models.DIGEST_MAX_ARTICLES, ge=1)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        if len(v.split()) != 5 or not croniter.is_valid(v):
            raise ValueError(f"bad cron expression {v!r}: write 5 fields, e.g. '0 7 * * *'")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return check_timezone(v)

    @field_validator("formats")
    @classmethod
    def _formats(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [f for f in v if f not in REPORT_FORMATS]
        if bad:
            raise ValueError(f"unknown format(s) {bad}; choose from {list(REPORT_FORMATS)}")
        return v


class AlertSettings(Strict):
    """`alert:` of a watchlist — an immediate mail for new matches of a narrower query."""

    query: str
    recipients: tuple[str, ...] = ()
    window: timedelta = timedelta(minutes=10)

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, v: object) -> timedelta:
        return v if isinstance(v, timedelta) else parse_duration(str(v))


class WatchlistSettings(Strict):
    """One watchlist: a boolean query over processed articles, and how to deliver its matches."""

    name: str = Field(min_length=1)
    query: str
    sources: Literal["all"] | tuple[str, ...] = "all"
    digest: DigestSettings = DigestSettings()
    alert: AlertSettings | None = None

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", v):
            raise ValueError(f"watchlist name {v!r}: use letters, digits, '-', '_' or '.'")
        return v


class Settings(Strict):
    """The whole `monitor.yaml`."""

    database: str = "sqlite:///data/monitor.db"
    timezone: str = "UTC"
    entities: Path = Path("entities.yaml")
    reports_dir: Path = Path("reports")
    watchlists_dir: Path = Path("watchlists")
    fetch: FetchSettings = FetchSettings()
    smtp: SmtpSettings = SmtpSettings()
    dedup: DedupSettings = DedupSettings()
    sources: tuple[SourceSettings, ...] = ()
    watchlists: tuple[WatchlistSettings, ...] = ()
    config_path: Path = Path("monitor.yaml")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return check_timezone(v)

    def source(self, name: str) -> SourceSettings:
        for s in self.sources:
            if s.name == name:
                return s
        raise ConfigError(f"no source named {name!r}; see `monitor sources list`")

    def watchlist(self, name: str) -> WatchlistSettings:
        for w in self.watchlists:
            if w.name == name:
                return w
        names = ", ".join(w.name for w in self.watchlists) or "none configured"
        raise ConfigError(f"no watchlist named {name!r} (known: {names})")


# --- re-exports: loading imports the models above, so it comes after them ---------------

from monitor.config.entities import ENTITY_TYPES as ENTITY_TYPES  # noqa: E402
from monitor.config.entities import load_entities as load_entities  # noqa: E402
from monitor.config.loading import DEFAULT_CONFIG as DEFAULT_CONFIG  # noqa: E402
from monitor.config.loading import config_path as config_path  # noqa: E402
from monitor.config.loading import load_settings as load_settings  # noqa: E402
