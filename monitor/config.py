"""Load and validate `monitor.yaml`, watchlist files and `entities.yaml` into frozen settings.

Every error names `file:line`; `${VAR}` reads the environment; relative paths resolve
against the config file's folder. Keys are declared once, here, with defaults and help;
a default that the runtime's own dataclass (or constructor) also declares is read from it,
so each value is written once (tests/test_defaults_once.py holds the two, and the README, in
step).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor import models
from monitor.errors import ConfigError, QueryError
from monitor.models import Affiliation, DedupParams, Entity, FetchPolicy
from monitor.pipeline.match import compile_query

ENTITY_TYPES = (
    "armed_group",
    "state_org",
    "person",
    "country",
    "place",
    "international_org",
    "media",
)
REPORT_FORMATS = ("email", "html", "text", "markdown", "json", "csv", "atom")
DEFAULT_CONFIG = Path("config/monitor.yaml")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def parse_duration(text: str) -> timedelta:
    """`15m`, `2h`, `1d`, `90s` -> timedelta; raises ValueError on anything else."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"bad duration {text!r}: write a number and a unit s/m/h/d, e.g. 15m")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {name!r} (use an IANA name like Asia/Baghdad)"
        ) from None
    return name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FetchSettings(_Strict):
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


class SmtpSettings(_Strict):
    """`smtp:` — the outgoing mail server for digests and alerts."""

    host: str = "localhost"
    port: int = Field(models.SMTP_PORT, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = models.SMTP_SECURITY
    username: str | None = None
    password: str | None = None
    sender: str = "Monitor <monitor@localhost>"
    timeout_s: float = Field(models.SMTP_TIMEOUT_S, gt=0)


class DedupSettings(_Strict):
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


class SourceSettings(_Strict):
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


class DigestSettings(_Strict):
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
        return _check_timezone(v)

    @field_validator("formats")
    @classmethod
    def _formats(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [f for f in v if f not in REPORT_FORMATS]
        if bad:
            raise ValueError(f"unknown format(s) {bad}; choose from {list(REPORT_FORMATS)}")
        return v


class AlertSettings(_Strict):
    """`alert:` of a watchlist — an immediate mail for new matches of a narrower query."""

    query: str
    recipients: tuple[str, ...] = ()
    window: timedelta = timedelta(minutes=10)

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, v: object) -> timedelta:
        return v if isinstance(v, timedelta) else parse_duration(str(v))


class WatchlistSettings(_Strict):
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


class Settings(_Strict):
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
        return _check_timezone(v)

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


# --- YAML with line numbers -------------------------------------------------------------


@dataclass
class _Doc:
    """A YAML document as plain data plus the line of every path in it."""

    file: str
    data: Any
    lines: dict[tuple[object, ...], int]

    def line_of(self, loc: Sequence[object]) -> int | None:
        path = tuple(loc)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def _expand_env(value: str, file: str, line: int) -> str:
    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"environment variable {name} is not set", file=file, line=line)

    return _ENV.sub(sub, value)


def _to_python(node: yaml.Node, path: tuple[object, ...], doc: _Doc) -> Any:
    line = node.start_mark.line + 1
    doc.lines.setdefault(path, line)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node)) if key_node.tag else key_node.value
            if key in out:
                raise ConfigError(
                    f"duplicate key {key!r}", file=doc.file, line=key_node.start_mark.line + 1
                )
            doc.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, (*path, key), doc)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(n, (*path, i), doc) for i, n in enumerate(node.value)]
    value = yaml.safe_load(yaml.serialize(node))
    if isinstance(value, str) and "${" in value:
        value = _expand_env(value, doc.file, line)
    return value


def _read_yaml(path: Path) -> _Doc:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "file not found (run `monitor init` for a starter config)", file=file
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=file) from None
    doc = _Doc(file, None, {})
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(f"YAML syntax error: {exc.problem}", file=file, line=line) from None
    doc.data = {} if node is None else _to_python(node, (), doc)
    return doc


def _validation_error(
    doc: _Doc, exc: ValidationError, prefix: tuple[object, ...] = ()
) -> ConfigError:
    err = exc.errors()[0]
    loc = (*prefix, *err["loc"])
    where = ".".join(str(p) for p in loc if not str(p).startswith("function-"))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = f"unknown key {loc[-1]!r}"
    elif where:
        msg = f"{where}: {msg}"
    return ConfigError(msg, file=doc.file, line=doc.line_of(loc))


# --- monitor.yaml ---------------------------------------------------------------------


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`--config`, else `$MONITOR_CONFIG`, else `./config/monitor.yaml`."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("MONITOR_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def _resolve_database(url: str, base: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


def _watchlist_docs(base: Path, folder: Path) -> Iterator[tuple[_Doc, tuple[object, ...]]]:
    directory = folder if folder.is_absolute() else base / folder
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.y*ml")):
        doc = _read_yaml(path)
        if isinstance(doc.data, list):
            for i, _ in enumerate(doc.data):
                yield doc, (i,)
        elif isinstance(doc.data, dict) and "watchlists" in doc.data:
            for i, _ in enumerate(doc.data["watchlists"]):
                yield doc, ("watchlists", i)
        else:
            yield doc, ()


def _get(data: Any, path: tuple[object, ...]) -> Any:
    for p in path:
        data = data[p]
    return data


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read and validate the config; raise ConfigError(`file:line: message`) on any problem."""
    cfg = config_path(path)
    doc = _read_yaml(cfg)
    if not isinstance(doc.data, dict):
        raise ConfigError("the config must be a mapping of keys", file=doc.file, line=1)
    base = cfg.resolve().parent
    data = dict(doc.data)
    data.pop("config_path", None)
    try:
        settings = Settings.model_validate({**data, "watchlists": ()})
    except ValidationError as exc:
        raise _validation_error(doc, exc) from None
    watchlists = _load_watchlists(doc, base, settings.watchlists_dir)
    settings = settings.model_copy(
        update={
            "database": _resolve_database(settings.database, base),
            "entities": base / settings.entities,
            "reports_dir": base / settings.reports_dir,
            "watchlists": tuple(w for w, _, _ in watchlists),
            "config_path": cfg,
        }
    )
    _check_names(doc, settings, watchlists)
    return settings


def _load_watchlists(
    main: _Doc, base: Path, folder: Path
) -> list[tuple[WatchlistSettings, _Doc, tuple[object, ...]]]:
    places: list[tuple[_Doc, tuple[object, ...]]] = [
        (main, ("watchlists", i)) for i, _ in enumerate(main.data.get("watchlists") or [])
    ]
    places += list(_watchlist_docs(base, folder))
    out = []
    for doc, path in places:
        try:
            w = WatchlistSettings.model_validate(_get(doc.data, path))
        except ValidationError as exc:
            raise _validation_error(doc, exc, path) from None
        _check_query(doc, (*path, "query"), w.query)
        if w.alert:
            _check_query(doc, (*path, "alert", "query"), w.alert.query)
        out.append((w, doc, path))
    return out


def _check_query(doc: _Doc, path: tuple[object, ...], query: str) -> None:
    try:
        compile_query(query)
    except QueryError as exc:
        raise ConfigError(str(exc), file=doc.file, line=doc.line_of(path)) from None


def _check_names(
    doc: _Doc,
    settings: Settings,
    watchlists: list[tuple[WatchlistSettings, _Doc, tuple[object, ...]]],
) -> None:
    seen: dict[str, int] = {}
    for i, s in enumerate(settings.sources):
        if s.name in seen:
            raise ConfigError(
                f"duplicate source name {s.name!r} (first at entry {seen[s.name] + 1})",
                file=doc.file,
                line=doc.line_of(("sources", i, "name")),
            )
        seen[s.name] = i
    wseen: set[str] = set()
    for w, wdoc, path in watchlists:
        line = wdoc.line_of((*path, "name"))
        if w.name in wseen:
            raise ConfigError(f"duplicate watchlist name {w.name!r}", file=wdoc.file, line=line)
        wseen.add(w.name)
        if w.sources != "all":
            for name in w.sources:
                if name not in seen:
                    raise ConfigError(
                        f"watchlist {w.name!r} names unknown source {name!r}",
                        file=wdoc.file,
                        line=wdoc.line_of((*path, "sources")),
                    )


# --- entities.yaml --------------------------------------------------------------------


class _EntityRecord(_Strict):
    id: str
    name: str
    type: str
    aliases: tuple[str, ...] = ()
    acronyms: tuple[str, ...] = ()
    ambiguous: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    affiliations: Mapping[str, tuple[str, ...]] = Field(default_factory=dict)
    notes: str = ""

    @field_validator("id")
    @classmethod
    def _kebab(cls, v: str) -> str:
        if not _KEBAB.match(v):
            raise ValueError(f"entity id {v!r} must be kebab-case, e.g. kataib-hezbollah")
        return v

    @field_validator("type")
    @classmethod
    def _type(cls, v: str) -> str:
        if v not in ENTITY_TYPES:
            raise ValueError(f"unknown entity type {v!r}; choose from {', '.join(ENTITY_TYPES)}")
        return v

    @field_validator("notes", mode="before")
    @classmethod
    def _notes(cls, v: object) -> str:
        return "" if v is None else str(v)


def load_entities(path: str | os.PathLike[str]) -> tuple[Entity, ...]:
    """Read `entities.yaml` (`entities: [...]`) into Entity values; errors cite file:line."""
    doc = _read_yaml(Path(path))
    records = doc.data.get("entities") if isinstance(doc.data, dict) else doc.data
    if not isinstance(records, list):
        raise ConfigError("expected a list under `entities:`", file=doc.file, line=1)
    prefix: tuple[object, ...] = ("entities",) if isinstance(doc.data, dict) else ()
    entities: list[Entity] = []
    lines: dict[str, int | None] = {}
    for i, raw in enumerate(records):
        try:
            rec = _EntityRecord.model_validate(raw)
        except ValidationError as exc:
            raise _validation_error(doc, exc, (*prefix, i)) from None
        line = doc.line_of((*prefix, i, "id"))
        if rec.id in lines:
            raise ConfigError(f"duplicate entity id {rec.id!r}", file=doc.file, line=line)
        lines[rec.id] = line
        entities.append(
            Entity(
                id=rec.id,
                name=rec.name,
                type=rec.type,
                aliases=rec.aliases,
                acronyms=rec.acronyms,
                ambiguous=rec.ambiguous,
                context=rec.context,
                affiliations=tuple(
                    Affiliation(rel, target)
                    for rel, ts in rec.affiliations.items()
                    for target in ts
                ),
                notes=rec.notes,
            )
        )
    for e in entities:
        for a in e.affiliations:
            if a.target not in lines:
                raise ConfigError(
                    f"entity {e.id!r}: {a.relation} names unknown entity {a.target!r}",
                    file=doc.file,
                    line=lines[e.id],
                )
    return tuple(entities)
